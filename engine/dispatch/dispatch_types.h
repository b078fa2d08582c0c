// What the dispatcher reports and takes, without the dispatcher: the
// listener it calls, the reports it hands over, its status snapshot, and the
// target of a limit change. Metrics, queue and console include this rather
// than dispatcher.h.
//
// Thread-safety: plain values, and an interface whose callbacks run on the
// dispatcher thread and must not block.
#pragma once

#include "admission/limits.h"
#include "core/clock.h"
#include "dispatch/job.h"
#include "providers/protocol.h"
#include "providers/triage.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// An attempt going out, for metrics (requests sent, in flight). The names
// are valid during the callback only.
struct SendReport {
    std::string_view provider;
    std::string_view key;  // the key's config label
    std::string_view model;
    std::string_view tenant;
    TimePoint sentAt{};
    bool retry = false;  // the job failed an attempt before: this send is a retry
};

// What a finished attempt looked like, for metrics. Every SendReport is
// followed by exactly one AttemptReport, also for an attempt abandoned in
// flight (cancelled, past its deadline, or the dispatcher stopping).
struct AttemptReport {
    std::string provider;
    std::string key;
    std::string model;
    std::string tenant;
    TimePoint sentAt{};
    TimePoint finishedAt{};
    std::optional<Duration> timeToFirstToken;
    long status = 0;
    FailureClass cls = FailureClass::None;
    bool willRetry = false;
    std::int64_t estimatedInputTokens = 0;
    std::int64_t estimatedOutputTokens = 0;
    std::optional<ResponseUsage> usage;
    std::optional<std::int64_t> spendMicroUsd;
};

class DispatchListener {
public:
    virtual ~DispatchListener() = default;
    virtual void onFinished(JobOutcome&& outcome) = 0;
    virtual void onSent(const SendReport&) {}
    virtual void onAttempt(const AttemptReport&) {}
    // A provider could not be reached (refused, unreachable): its jobs stay
    // queued while it is backed off as a whole. Once per outage.
    virtual void onProviderProblem(const std::string& provider, const std::string& reason)
    {
        (void)provider;
        (void)reason;
    }
    // A key was quarantined (quota, auth) or disabled: say so loudly.
    virtual void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
    {
        (void)provider;
        (void)key;
        (void)reason;
    }
};

struct KeyStatus {
    enum class State : std::uint8_t { Ok, CoolingDown, Quarantined, Disabled };
    std::string provider;
    std::string key;
    std::string fingerprint;  // identifies the key without revealing it
    State state = State::Ok;
    std::string reason;
    TimePoint until{};  // CoolingDown: the latest model cool-down end
};

struct ProviderStatus {
    enum class State : std::uint8_t { Ok, BackingOff, Unreachable };
    std::string provider;
    State state = State::Ok;
    std::string reason;
    TimePoint until{};  // BackingOff, Unreachable: when it is tried again
};

struct LaneStatus {
    std::string provider;
    std::string model;
    std::size_t queued = 0;
    bool blocked = false;
    TimePoint until{};
    bool waitsForRelease = false;
    std::string waitingFor;  // "tpm of key:prod-1/gpt-4o until …"
};

// Which scope a limit change is for: the global scope (all empty), a
// provider, a key, a model on one key, or a model on every key of a provider
// (key empty), which keys added later inherit too.
struct LimitTarget {
    std::string provider;
    std::string key;
    std::string model;
};

struct DispatcherStats {
    std::uint64_t submitted = 0;
    std::uint64_t queued = 0;     // waiting for admission or a retry
    std::uint64_t inFlight = 0;
    std::uint64_t completed = 0;
    std::uint64_t deadLettered = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t attempts = 0;   // HTTP requests sent
    std::uint64_t retries = 0;
    std::array<std::uint64_t, kFailureClassCount> failures{};  // failed attempts by class
    std::int64_t inputTokens = 0;   // actual
    std::int64_t outputTokens = 0;
    std::int64_t estimatedInputTokens = 0;   // what completed requests reserved
    std::int64_t estimatedOutputTokens = 0;
    std::int64_t spendMicroUsd = 0;
    std::uint64_t unpricedResponses = 0;
    bool paused = false;
    std::vector<ProviderStatus> providers;
    std::vector<KeyStatus> keys;
    std::vector<LaneStatus> lanes;

    std::uint64_t finished() const noexcept { return completed + deadLettered + cancelled; }
};

// What a job would reserve if it ran now: its estimate, and whether its
// model has a price (an unpriced model's spend is unknown, not zero).
struct JobEstimate {
    std::string provider;
    std::string model;
    Cost cost;
    bool priced = false;
};

}  // namespace sluice
