// FailurePolicy: ARCHITECTURE.md's failure table in one place. A pure
// function from what failed (the triage class and the provider's hints),
// what the job, its key and its provider have been through, and the retry
// configuration, to what happens next: cool the key+model until T,
// quarantine the key, back the provider off until T, and then requeue the
// job, retry it at T, or dead-letter it with a reason.
//
// Thread-safety: pure functions; the jitter callback is the caller's.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "providers/rate_limit_headers.h"
#include "providers/triage.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace sluice {

// What a 429 costs on top of the provider's own hint: the jitter between two
// requests' trips to it, so the retry does not arrive early again.
inline constexpr Duration kNearMissMargin = std::chrono::milliseconds(10);
// A 429 whose hint is this short came from arriving early, not from pace.
inline constexpr Duration kNearMissHint = std::chrono::milliseconds(250);

// What the job, its key+model and its provider have been through before
// this failure; the action carries it as it is after.
struct FailureHistory {
    int attempts = 0;              // the job's attempts counted against max_attempts
    int rateLimitRetries = 0;      // the job's 429s (they burn no attempt, but are capped)
    int keyRateLimitStreak = 0;    // consecutive 429s on the key+model
    int providerOverloadStreak = 0;  // consecutive overloads of the provider
    int providerUnreachableStreak = 0;  // consecutive attempts that found no provider
    bool headShown = false;        // part of the answer already went to a client

    bool operator==(const FailureHistory&) const = default;
};

struct FailureInput {
    Triage triage;
    // No connection could be made at all (refused, unreachable): the
    // provider is down, which says nothing about the request.
    bool unreachable = false;
    // When a 429 names no retry time: when the bucket the provider says is
    // empty is full again (bucketResetHint).
    std::optional<Duration> bucketReset;
    FailureHistory history;
    TimePoint now{};
    TimePoint keyCoolingUntil{};       // the key+model's cool-down so far
    TimePoint providerBackoffUntil{};  // the provider's back-off so far
};

struct FailureAction {
    enum class Next : std::uint8_t { Requeue, RetryAt, DeadLetter };
    Next next = Next::DeadLetter;
    TimePoint retryAt{};                          // RetryAt
    std::optional<TimePoint> coolKeyUntil;        // the key+model rests until then
    bool nearMiss = false;  // a 429 that said "a moment": widen the key+model's arrival margin
    std::optional<Duration> rateLimitHint;  // a 429's "try again in": the evidence the margin learns from
    bool quarantineKey = false;
    // A 403: the key may not use this model (a project without access to
    // it, a resource the key has no permission for); other keys, and this
    // key's other models, are not at fault. The key+model rests until then.
    std::optional<TimePoint> denyKeyModelUntil;
    bool providerUnreachable = false;             // say so, and show it in the status
    std::optional<TimePoint> backOffProviderUntil;  // the whole provider rests until then
    FailureClass cls = FailureClass::None;        // DeadLetter: the class it is filed under
    std::string reason;                           // DeadLetter: why
    std::string what;                             // "class: message", for notes
    FailureHistory history;                       // after this failure
};

// Draws a delay uniformly in [0, ceiling] (full jitter).
using Jitter = std::function<Duration(Duration ceiling)>;

// min(max_delay, base_delay × 2^(retry−1)).
Duration retryCeiling(const RetryConfig& retry, int n);

// A 429's reset time from the rate-limit headers: the requests bucket when
// it is empty, else the tokens bucket.
std::optional<Duration> bucketResetHint(const RateLimitHeaders& headers);

FailureAction decideFailure(const FailureInput& in, const RetryConfig& retry, const Jitter& jitter);

}  // namespace sluice
