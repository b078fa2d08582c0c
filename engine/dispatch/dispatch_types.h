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
    // False for a listener whose onFinished ignores the outcome: a
    // FanOutListener then hands it none, and copies no outcome (its body,
    // timeline and attempts) for it.
    virtual bool readsOutcomes() const noexcept { return true; }
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
    // What Sluice found out about how a provider counts, once per change:
    // whether it gives back unused output (RefundProbe::describe). News for
    // an operator, not a problem.
    virtual void onProviderLearned(const std::string& provider, const std::string& what)
    {
        (void)provider;
        (void)what;
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
    std::string key;  // the one key its requests are pinned to; empty: any
};

// Which scope a limit change is for: the global scope (all empty), a
// provider, a key, a model on one key, or a model on every key of a provider
// (key empty), which keys added later inherit too.
struct LimitTarget {
    std::string provider;
    std::string key;
    std::string model;
};

// Where a limit in force on a key+model came from.
enum class LimitOrigin : std::uint8_t {
    Configured,  // the configuration (or an operator's edit) set it
    Learned,     // the provider's rate-limit headers announced it; none was configured
    Lowered,     // configured, but the headers announced less: the provider's value binds
    Adaptive     // "concurrency": "auto" finds it at run time
};
// "configured", "learned from headers", "lowered by headers", "adaptive".
std::string_view limitOriginName(LimitOrigin o) noexcept;

// One limit on a key+model's path (its own, or its key's or provider's
// when the scope names them), as enforced now.
struct LimitInForce {
    std::string scope;  // "model", "key" or "provider": whose limit it is
    LimitSpec spec{};   // as configured or learned: limit and the burst it sets
    LimitOrigin origin = LimitOrigin::Configured;
    // Rolling: the burst the ledger admits now; below spec.capacity() when
    // 429s narrowed it (a near miss halves it) or the scope paces evenly.
    std::int64_t burstInForce = 0;
    bool narrowed = false;  // burstInForce < spec.capacity(): narrowed after 429s
    std::int32_t marginPer10k = 0;  // the arrival margin, in 1/10,000 of the rate
    Duration leastMargin{};         // the learned absolute margin of a whole-bucket request
};

// The idle ramp of a key+model (providers with acceleration limits).
struct RampStatus {
    bool inRamp = false;
    bool idle = true;       // the next request starts a ramp
    double fraction = 1.0;  // in a ramp: the share of the request limit allowed now
    double start = 0;       // where its ramps start, after any flattening
    Duration length{};
    int flattened = 0;      // 429s during a ramp that made the next ones gentler
};

// Everything the dispatcher enforces on one key+model, for people: where
// each limit came from, the burst in force, the margins, window pacing and
// the idle ramp.
struct ModelLimitStatus {
    std::string provider;
    std::string key;
    std::string model;
    std::vector<LimitInForce> limits;  // the model's own first, then its key's, then its provider's
    // A 429 at a pace the bucket allowed showed the provider counts a
    // window: every request is paced at the rate (a burst of one).
    bool pacedEvenly = false;
    std::optional<RampStatus> ramp;  // only where the provider ramps after idle
    // Whether the provider gives back unused output, when Sluice is
    // learning it (RefundProbe::describe) and has got anywhere, with what
    // requests that state no max_tokens reserve once that has moved
    // (UnstatedOutputProbe::describe); else empty.
    std::string refunds;
};

// What the prompt estimator learned for a model with no public tokenizer:
// the ratio of the provider's reported prompt tokens to the rule of thumb.
struct ModelCalibration {
    std::string model;
    std::string language;  // "latin", "cjk", "other", "code"
    double ratio = 1.0;
    std::uint64_t samples = 0;
    // Reserved by o200k_base's count × ratio + offset, not by characters ÷ 4
    // × ratio (PromptEstimator, tokenize/proxy_calibrator.h).
    bool byProxy = false;
    double offset = 0;
};

// One line for people: "rpm 600 configured, burst 10 (5 in force: narrowed
// after 429s); tpm 30,000 learned from headers; paced evenly; margin 2.00%,
// at least 9 ms; ramp 62% of the request limit".
std::string describeModelLimits(const ModelLimitStatus& s);
// "prompt estimate ×1.12 (latin, 40 samples)"; empty with no samples.
std::string describeCalibration(const std::vector<ModelCalibration>& calibration, std::string_view model);

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
    std::vector<ModelLimitStatus> modelLimits;  // every key+model sent on or configured
    std::vector<ModelCalibration> calibration;  // models whose estimates are calibrated

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
