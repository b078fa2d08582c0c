// Fuzzes the replay file reader behind a workload's "replay" (both formats,
// both timings): the fuzzer's bytes become the replay file, read through
// loadWorkload as a user's would be. Every bad line is a problem naming its
// line; nothing else may escape.
#include "loadtest/workload.h"

#include "fuzz_input.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

// One directory per fuzzing process, removed by nobody: it holds one small
// file that each iteration overwrites.
const std::string& replayDir()
{
    static const std::string dir = [] {
        std::string tmpl = "/tmp/sluice-fuzz-replay-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            std::abort();
        }
        return tmpl;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    sluice::fuzz::FuzzInput in(data, size);
    const std::uint8_t mode = in.byte();
    const std::string_view lines = in.rest();
    {
        std::ofstream out(replayDir() + "/replay.jsonl", std::ios::binary | std::ios::trunc);
        out.write(lines.data(), static_cast<std::streamsize>(lines.size()));
    }
    const bool usage = (mode & 1) != 0;
    const bool recorded = (mode & 2) != 0;
    const std::string workload = std::string(R"({"name":"fuzz","duration_s":10,"replay":{"file":"replay.jsonl",)") +
                                 R"("format":")" + (usage ? "usage" : "batch") + R"(","timing":")" +
                                 (recorded ? "recorded" : "arrival") + R"(")" + ((mode & 4) != 0 ? R"(,"speed":3)" : "") +
                                 "}}";
    try {
        const sluice::JsonSource source("workload.json", workload);
        const sluice::loadtest::Workload w = sluice::loadtest::loadWorkload(source, replayDir());
        if (!w.replay || w.replay->entries.empty()) {
            std::abort();  // an empty replay is a reported problem, never a silent success
        }
        (void)w.withOverrides(std::nullopt, 2.0);
    } catch (const sluice::InputError&) {
    }
    return 0;
}
