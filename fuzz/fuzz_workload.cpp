// Fuzzes the load-test workload loader (loadtest/workload.h): any document
// loads or throws InputError, and a loaded workload's arrivals and draws
// stay finite.
#include "loadtest/workload.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const sluice::JsonSource source("workload.json", text);
        // No base directory: a replay file named here resolves against the
        // working directory and is (almost always) missing, which is a
        // reported problem like any other. fuzz_replay covers the files.
        const sluice::loadtest::Workload w = sluice::loadtest::loadWorkload(source, "");
        if (w.callsPerArrival() < 1) {
            std::abort();
        }
        std::mt19937_64 rng(w.seed);
        for (int i = 0; i < 8; ++i) {
            const std::int64_t prompt = w.mix.promptTokens.draw(rng);
            const std::int64_t out = w.mix.maxTokens.draw(rng);
            if (prompt > w.mix.promptTokens.upperBound() || out > w.mix.maxTokens.upperBound()) {
                std::abort();
            }
        }
        (void)w.withOverrides(std::nullopt, 2.0);
        (void)w.arrival.scaled(0.5);
    } catch (const sluice::InputError&) {
    }
    return 0;
}
