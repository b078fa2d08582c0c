// "What if?" replay speed: an hour of recorded traffic at 10 requests/s
// (36,000 requests, written as a recorded-requests JSONL file in a fresh
// temporary directory) replayed under the configuration it ran with,
// against the simulated provider, on the simulated clock. Prints the
// simulated time, the wall time and their ratio (the baseline is real time
// itself: ratio 1 would be a replay that waits as the traffic did).
// With --proposed-rpm N the proposal lowers the model's RPM to N, so a
// backlog builds (the case an operator asks about).
// Run: build/release/bench/bench_whatif [--rate R] [--minutes M] [--proposed-rpm N]
// (docs/benchmarks.md, "What if? replay (issue 17)").
#include "core/json_source.h"
#include "simulate/provider_model.h"
#include "simulate/recorded_traffic.h"
#include "simulate/replay.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

const char* kConfig = R"({
  "providers": [{
    "name": "openai", "flavor": "openai", "base_url": "https://api.openai.com",
    "keys": [{"name": "prod-1", "env": "OPENAI_API_KEY"}],
    "models": {"gpt-4o-mini": {"limits": {"rpm": 1000, "tpm": 2000000}}}
  }]
})";

double seconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv)
{
    int rate = 10;
    int minutes = 60;
    int proposedRpm = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--rate") {
            rate = std::atoi(argv[i + 1]);
        } else if (a == "--minutes") {
            minutes = std::atoi(argv[i + 1]);
        } else if (a == "--proposed-rpm") {
            proposedRpm = std::atoi(argv[i + 1]);
        }
    }
    if (rate <= 0 || minutes <= 0 || proposedRpm < 0) {
        std::fprintf(stderr, "usage: bench_whatif [--rate R] [--minutes M] [--proposed-rpm N]\n");
        return 2;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-whatif-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::filesystem::path dir = pattern;
    const std::filesystem::path input = dir / "recorded.jsonl";
    const std::int64_t count = static_cast<std::int64_t>(rate) * 60 * minutes;
    {
        std::ofstream out(input);
        const std::int64_t start = 1767225600000;  // 2026-01-01T00:00:00Z
        for (std::int64_t i = 0; i < count; ++i) {
            // Prompts and answers of varied size, as real traffic has.
            const std::int64_t in = 200 + (i * 37) % 600;
            const std::int64_t outTokens = 50 + (i * 53) % 250;
            out << R"({"at_ms":)" << start + i * 1000 / rate << R"(,"model":"gpt-4o-mini","input_tokens":)" << in
                << R"(,"output_tokens":)" << outTokens << R"(,"max_tokens":400,"wait_ms":0,"status":200,"latency_ms":)"
                << 300 + outTokens * 10 << "}\n";
        }
    }
    const Config config = simulate::loadSimConfig(JsonSource("bench-config.json", kConfig));
    const auto readBegan = std::chrono::steady_clock::now();
    const simulate::RecordedTraffic traffic = simulate::readRecordedJsonl(input, 24h);
    const Duration readTook = std::chrono::steady_clock::now() - readBegan;
    Config proposed = config;
    if (proposedRpm > 0) {
        std::string text = kConfig;
        const std::string from = "\"rpm\": 1000";
        text.replace(text.find(from), from.size(), "\"rpm\": " + std::to_string(proposedRpm));
        proposed = simulate::loadSimConfig(JsonSource("bench-proposed.json", text));
    }
    const simulate::Comparison c = simulate::replay(traffic, config, proposed);
    std::filesystem::remove_all(dir);

    const simulate::RunFigures& s = c.simulated;
    std::printf("requests            %lld (%d/s for %d min)\n", static_cast<long long>(count), rate, minutes);
    std::printf("read JSONL          %.2f s\n", seconds(readTook));
    std::printf("simulated time      %.1f s\n", seconds(c.simulatedTime));
    std::printf("wall time           %.2f s\n", seconds(c.wallTime));
    std::printf("simulated / wall    %.0fx\n", seconds(c.simulatedTime) / seconds(c.wallTime));
    std::printf("completed           %lld, 429s %lld, wait p95 %.3f s\n", static_cast<long long>(s.completed),
                static_cast<long long>(s.rateLimited), s.waitP95 ? seconds(*s.waitP95) : 0.0);
    return s.completed == count ? 0 : 1;
}
