// AdaptiveConcurrencyController: the DispatchListener behind
// "concurrency": "auto". It keeps one AdaptiveConcurrency per provider or
// key configured so, feeds it every finished attempt to that scope, and
// applies the limit it finds through Dispatcher::setLimits, keeping the
// scope's other limits, at most once per `minInterval` per scope.
//
// Thread-safety: the listener callbacks run on the dispatcher thread (they
// never block: setLimits only posts a command). status() may be called from
// any thread. attach() once, before the dispatcher starts.
#pragma once

#include "config/config.h"
#include "dispatch/adaptive_concurrency.h"
#include "dispatch/dispatcher.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

class AdaptiveConcurrencyController : public DispatchListener {
public:
    AdaptiveConcurrencyController(Clock& clock, const Config& config,
                                  Duration minInterval = std::chrono::milliseconds(250));

    // True when the configuration asks for no adaptive limit at all.
    bool empty() const noexcept { return m_scopes.empty(); }
    void attach(Dispatcher& dispatcher) { m_dispatcher = &dispatcher; }

    void onFinished(JobOutcome&&) override {}
    bool readsOutcomes() const noexcept override { return false; }
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;

    struct Status {
        std::string provider;
        std::string key;  // empty: the provider scope
        std::int64_t limit = 0;
        Duration baseline{};
        std::uint64_t changes = 0;  // setLimits calls made
    };
    std::vector<Status> status() const;

private:
    struct Scope {
        explicit Scope(AdaptiveConcurrencyOptions o) : limiter(o), applied(limiter.limit()) {}
        AdaptiveConcurrency limiter;
        std::int64_t inFlight = 0;
        std::int64_t applied = 0;
        TimePoint lastApplied{};
        bool everApplied = false;
        std::uint64_t changes = 0;
    };
    void feed(const std::pair<std::string, std::string>& id, Scope& scope, const AttemptReport& report);
    void apply(const std::pair<std::string, std::string>& id, Scope& scope);

    Clock& m_clock;
    Duration m_minInterval;
    Dispatcher* m_dispatcher = nullptr;
    mutable std::mutex m_mutex;
    std::map<std::pair<std::string, std::string>, Scope> m_scopes;  // (provider, key or "")
};

// The options "concurrency": "auto" (or {"auto": {...}}) stands for.
AdaptiveConcurrencyOptions adaptiveOptions(const AutoConcurrency& config);

}  // namespace sluice
