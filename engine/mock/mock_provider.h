// MockProvider: a local LLM API that speaks OpenAI's and Anthropic's
// dialects, enforces rate limits per key and model the way they do, and
// fails the way they fail, with no network and no real keys. Every HTTP
// test, the desktop demo, load tests and `sluice-cli mock` run one.
//
// Endpoints: POST /v1/chat/completions, POST /v1/messages, GET /v1/models;
// GET /mock/stats; GET and POST /mock/config (a JSON merge patch).
//
// Thread-safety: every public member from any thread. Limits, statistics
// and the configuration sit behind one mutex held only for bookkeeping,
// never while a response is built or sent. Time for limits comes from the
// Clock passed in; delays are real time on the server's timers, or on that
// Clock with Delays::OnClock (a test on ManualClock then releases a
// delayed reply by advancing it).
#pragma once

#include "core/clock.h"
#include "mock/mock_config.h"
#include "mock/mock_stats.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::mock {

// What the mock's delays (latency, a stream's per-token pace) are timed on.
enum class Delays : std::uint8_t {
    RealTime,  // the server's timers: demos, load tests, benchmarks
    // The injected Clock (ClockPacedReplies): a reply is held until the
    // clock reaches each part's time. With the SystemClock, the same as
    // RealTime.
    OnClock,
};

class MockProvider {
public:
    // `clock` must outlive the provider.
    MockProvider(Clock& clock, MockConfig config, Delays delays = Delays::RealTime);
    ~MockProvider();
    MockProvider(const MockProvider&) = delete;
    MockProvider& operator=(const MockProvider&) = delete;

    // Listens on config().host:config().port and returns the bound port.
    // Throws std::runtime_error naming the address when it cannot.
    std::uint16_t start();
    // Closes the listener and every connection. Idempotent.
    void stop();

    std::uint16_t port() const noexcept;
    std::string baseUrl() const;  // "http://127.0.0.1:PORT"

    MockConfig config() const;
    // Takes effect for requests that arrive afterwards; usage already
    // counted against limits carries over. Throws ConfigError when a
    // running mock is asked to change where it listens, its io threads or
    // its body limit.
    void setConfig(MockConfig config);
    // A JSON merge patch onto the current configuration, as POST
    // /mock/config takes it. Throws ConfigError naming the field.
    void applyPatch(std::string_view patchJson);

    MockStats stats() const;
    // Replies waiting for the clock to reach their next part (Delays::OnClock).
    std::size_t heldReplies() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace sluice::mock
