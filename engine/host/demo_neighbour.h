// DemoNeighbour: another program sharing one of the demo's API keys, as keys
// are shared in practice. It sends straight to the demo's (mock) provider,
// unseen by Sluice's admission, in bursts: during one, Sluice meets 429s on
// that key, cools it down until the provider's hint, reads what is left from
// the rate-limit headers and moves its traffic to the other keys; between
// bursts the key is all Sluice's again. Without it a demo whose limits
// Sluice knows (or learns from the first response) would show no 429 at all.
// `sluice-cli demo` runs one without pause (burst == period).
//
// Thread-safety: start() and stop() from one thread; sent() from any.
#pragma once

#include "core/clock.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace sluice::host {

struct DemoNeighbourOptions {
    std::string apiKey = "sk-demo-team-b";
    std::string model = "gpt-4o-mini";
    double rate = 20;  // requests per second during a burst
    int maxTokens = 400;
    Duration firstAfter = std::chrono::seconds(15);
    Duration burst = std::chrono::seconds(6);
    Duration period = std::chrono::seconds(30);
};

class DemoNeighbour {
public:
    // `baseUrl`: the OpenAI-flavoured provider to send to (the demo's mock).
    DemoNeighbour(Clock& clock, std::string baseUrl, DemoNeighbourOptions options);
    ~DemoNeighbour();
    DemoNeighbour(const DemoNeighbour&) = delete;
    DemoNeighbour& operator=(const DemoNeighbour&) = delete;

    void start();
    void stop();
    std::uint64_t sent() const noexcept { return m_sent.load(std::memory_order_relaxed); }

private:
    void run(std::stop_token stop);

    Clock& m_clock;
    const std::string m_baseUrl;
    const DemoNeighbourOptions m_options;
    std::atomic<std::uint64_t> m_sent{0};
    std::jthread m_thread;
};

}  // namespace sluice::host
