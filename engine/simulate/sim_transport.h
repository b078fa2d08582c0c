// SimTransport: a provider in simulated time, in process. The dispatcher
// sends to it as to libcurl; it decides each request the way the mock
// provider does (the mock's dialects read the request and shape the answer,
// its LimitTable enforces rate limits with its RateBucket / SlidingWindow,
// its behaviour model draws latency), and answers when the simulated clock
// reaches the answer's time. On top of the limits per key and model it can
// enforce provider-wide limits (all keys and models of a provider
// together) and draw a recorded failure mix: server errors, 429s and
// timeouts at their recorded rates. No socket, no real waiting: poll() moves the
// ManualClock straight to the next thing that happens (an answer due, an
// action scheduled, or the dispatcher's own next wake), so an hour of
// traffic takes as long as its bookkeeping.
//
// The clock must be advanced by nobody else while the dispatcher runs: the
// dispatcher thread, inside poll(), is the only one that moves time, so
// everything that happens at one simulated instant happens before time
// moves on.
//
// Thread-safety: start/abort/poll on the dispatcher thread (callbacks run
// there, inside poll or abort); schedule() and wakeup() from any thread.
#pragma once

#include "dispatch/transport.h"
#include "mock/limit_table.h"
#include "mock/mock_config.h"
#include "simulate/failure_mix.h"
#include "simulate/provider_model.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <vector>

namespace sluice::simulate {

struct SimProviderCounts {
    std::uint64_t requests = 0;
    std::uint64_t admitted = 0;
    std::uint64_t rateLimited = 0;  // 429s for a rate limit (provider-wide and drawn ones included)
    std::uint64_t providerLimited = 0;  // of which the provider-wide limit's
    std::uint64_t rejected = 0;     // other errors (unknown key or model, too large)
    std::uint64_t serverErrors = 0;  // drawn from the failure mix
    std::uint64_t timeouts = 0;      // drawn: never answered, the client's timeout ends it
    std::uint64_t drawnRateLimited = 0;
};

class SimTransport final : public Transport {
public:
    // The output a request produces, read from its body; nullopt: drawn
    // from the provider's output model, as the mock does.
    using OutputOf = std::function<std::optional<std::int64_t>(const nlohmann::json& body)>;

    // `provider` holds the simulated provider's keys (by API key value),
    // models, limits and latency model.
    // `providerWide` limits bind after the key's and model's; `faults` are
    // drawn for every request the limits admit.
    SimTransport(ManualClock& clock, mock::MockConfig provider, OutputOf outputOf = {},
                 std::vector<ProviderWideLimit> providerWide = {}, FailureMix faults = {});

    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override;
    void abort(TransferId id) override;
    void poll(Duration timeout) override;
    void wakeup() override;

    // Runs `action` on the dispatcher thread, inside poll, when simulated
    // time reaches `at` (at once when it already has).
    void schedule(TimePoint at, std::function<void()> action);

    SimProviderCounts counts() const;

private:
    struct Event {
        TimePoint at;
        std::uint64_t seq;
        std::function<void()> action;
    };
    struct Later {
        bool operator()(const Event& a, const Event& b) const
        {
            return a.at != b.at ? a.at > b.at : a.seq > b.seq;
        }
    };
    struct Answer {
        long status = 200;
        http::HeaderMap headers;
        std::string body;
        Duration after{};
        // Output-limit correction when the answer ends (ReserveThenCorrect).
        std::string key;
        std::string model;
        std::string wide;  // the provider-wide limit it was charged to, if any
        std::int64_t outputDelta = 0;
        std::int64_t unusedOutput = 0;  // max_tokens × n less what was produced
        std::int64_t producedOutput = 0;
        bool timedOut = false;  // no answer: a transport timeout at `after`
    };

    Answer decide(const http::HttpRequest& request, TimePoint now);
    // decide()'s steps, on one admitted request's state (defined in the .cpp).
    struct Deciding;
    void admitLimits(Deciding& d);
    bool drawnFault(Deciding& d, Answer& a);
    void answerAdmitted(Deciding& d, Answer& a);
    void pushLocked(TimePoint at, std::function<void()> action);
    void finish(TransferId id, Answer answer);

    ManualClock& m_clock;
    const mock::MockConfig m_provider;
    OutputOf m_outputOf;
    mock::LimitTable m_limits;  // dispatcher thread only
    const std::vector<ProviderWideLimit> m_wideLimits;
    const FailureMix m_faults;
    mock::LimitTable m_wide;  // one entry per provider-wide limit, under m_mutex

    // Guards the events, the open transfers and the counts; decide() runs
    // under it (it only counts and computes).
    mutable std::mutex m_mutex;
    bool m_woken = false;
    std::uint64_t m_seq = 0;
    TransferId m_nextId = 1;
    std::priority_queue<Event, std::vector<Event>, Later> m_events;
    std::map<TransferId, http::TransferHandlers> m_open;
    SimProviderCounts m_counts;
};

}  // namespace sluice::simulate
