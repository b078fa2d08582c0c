#include "dispatch/failure_policy.h"

#include <algorithm>

namespace sluice {

Duration retryCeiling(const RetryConfig& retry, int n)
{
    Duration d = retry.baseDelay;
    for (int i = 1; i < n && d < retry.maxDelay; ++i) {
        d *= 2;
    }
    return std::min(d, retry.maxDelay);
}

std::optional<Duration> bucketResetHint(const RateLimitHeaders& headers)
{
    if (headers.requests.remaining == 0 && headers.requests.timeToFull) {
        return headers.requests.timeToFull;
    }
    if (headers.tokens.remaining && headers.tokens.timeToFull) {
        return headers.tokens.timeToFull;
    }
    return std::nullopt;
}

namespace {

// A positive provider hint wins, capped; otherwise capped exponential
// backoff with full jitter.
Duration delayFor(int n, std::optional<Duration> hint, const RetryConfig& retry, const Jitter& jitter)
{
    if (hint && *hint > Duration::zero()) {
        return std::min(*hint, retry.maxRetryAfter);
    }
    return jitter(retryCeiling(retry, n));
}

// Taken by reference so that a reason built from `a` is read before `a`
// is moved from.
FailureAction deadLetter(FailureAction&& a, FailureClass cls, std::string reason)
{
    a.next = FailureAction::Next::DeadLetter;
    a.cls = cls;
    a.reason = std::move(reason);
    return std::move(a);
}

FailureAction requeue(FailureAction&& a)
{
    a.next = FailureAction::Next::Requeue;
    return std::move(a);
}

FailureAction retryAt(FailureAction&& a, TimePoint when)
{
    a.next = FailureAction::Next::RetryAt;
    a.retryAt = when;
    return std::move(a);
}

// What a whole-second retry-after says for anything from 1 ms to a second.
constexpr Duration kRoundedHint = std::chrono::seconds(1);
// How long a key+model a provider refused with 403 rests before it is
// tried again.
constexpr Duration kPermissionRest = std::chrono::seconds(60);
// How long the key+model rests after a 429 taken as a near miss although
// its hint was kRoundedHint: at 50 RPM a second is most of a request
// (1.2 s), lost on every near miss.
constexpr Duration kRoundedHintProbe = std::chrono::milliseconds(50);

// 429: the key+model cools until the hint (or a backoff on its streak of
// 429s); the job goes back to its lane without burning an attempt.
FailureAction rateLimited(const FailureInput& in, FailureAction&& a, const RetryConfig& retry, const Jitter& jitter)
{
    const int streak = ++a.history.keyRateLimitStreak;
    const std::optional<Duration> hint = in.triage.retryAfter ? in.triage.retryAfter : in.bucketReset;
    // A hint of "0ms" is a near miss (we arrived a moment before the bucket
    // refilled): it costs the hint and a margin, not a backoff of seconds,
    // and says that requests reach the provider closer together than they
    // left, so the caller widens the arrival margin.
    Duration cool = hint ? std::min(*hint + kNearMissMargin, retry.maxRetryAfter)
                         : jitter(retryCeiling(retry, streak)) + std::chrono::milliseconds(100);
    a.nearMiss = hint && *hint <= kNearMissHint;
    a.rateLimitHint = hint;
    // "retry-after: 1" alone is rounded up to the second (Anthropic sends
    // only whole seconds, at least one, and no hint in its message), so it
    // cannot tell a near miss from a real wait. The first 429 after a
    // success came at a pace the ledger allowed: take it as a near miss (a
    // probe's rest, the margin widened with no figure of its own) rather
    // than lose most of a request at low rates and pace as if the provider
    // counted a window. A second one in a row takes the hint at its word.
    // A message that names its own wait ("try again in 1s") is believed.
    if (hint && *hint == kRoundedHint && streak == 1 && !retryHintFromMessage(in.triage.message)) {
        cool = std::min(cool, kRoundedHintProbe);
        a.nearMiss = true;
        a.rateLimitHint = Duration::zero();
    }
    a.coolKeyUntil = std::max(in.keyCoolingUntil, in.now + cool);
    if (++a.history.rateLimitRetries > retry.maxRateLimitRetries) {
        return deadLetter(std::move(a), FailureClass::RateLimited,
                          "rate limited " + std::to_string(a.history.rateLimitRetries) + " times: " + in.triage.message);
    }
    return requeue(std::move(a));
}

}  // namespace

FailureAction decideFailure(const FailureInput& in, const RetryConfig& retry, const Jitter& jitter)
{
    const Triage& t = in.triage;
    FailureAction a;
    a.history = in.history;
    a.what = std::string(failureClassName(t.cls)) + (t.message.empty() ? "" : ": " + t.message);
    if (in.unreachable) {
        // A provider that is down is not a property of the request: the
        // whole provider is tried again after a capped exponential wait (no
        // jitter: one probe per period is all it takes), and the job keeps
        // its place and its attempts.
        const int streak = ++a.history.providerUnreachableStreak;
        a.providerUnreachable = true;
        a.backOffProviderUntil = std::max(in.providerBackoffUntil, in.now + retryCeiling(retry, streak));
        return requeue(std::move(a));
    }

    switch (t.cls) {
    case FailureClass::RateLimited: return rateLimited(in, std::move(a), retry, jitter);
    case FailureClass::RequestTooLarge:
    case FailureClass::BadRequest:
    case FailureClass::NotFound:
        // The request itself is wrong: sending it again cannot help, unless
        // the provider says otherwise.
        if (t.shouldRetry != std::optional<bool>(true)) {
            return deadLetter(std::move(a), t.cls, a.what);
        }
        break;
    case FailureClass::QuotaExhausted:
    case FailureClass::AuthFailed:
        // The key is at fault, not the job: another key takes it.
        a.quarantineKey = true;
        return requeue(std::move(a));
    case FailureClass::PermissionDenied:
        // The key may not use this model: another key may. Access can be
        // granted at any time, and a refusal costs no budget, so the pair
        // is tried again after a while rather than set aside for good.
        a.denyKeyModelUntil = in.now + kPermissionRest;
        return requeue(std::move(a));
    case FailureClass::Overloaded: {
        const int streak = ++a.history.providerOverloadStreak;
        a.backOffProviderUntil = std::max(in.providerBackoffUntil, in.now + delayFor(streak, t.retryAfter, retry, jitter));
        break;
    }
    default: break;
    }
    // Server errors, timeouts, resets, cut or failed streams, overload.
    const int attempts = ++a.history.attempts;
    if (in.history.headShown) {
        // Part of this answer already reached a client: sending the request
        // again would give it a second, different answer.
        return deadLetter(std::move(a), t.cls, a.what + " (after the response had begun to reach its client)");
    }
    if (t.shouldRetry == std::optional<bool>(false)) {
        return deadLetter(std::move(a), t.cls, a.what + " (the provider said not to retry)");
    }
    if (t.cls == FailureClass::DeadlineExceeded) {
        return deadLetter(std::move(a), t.cls, a.what);
    }
    if (attempts >= retry.maxAttempts) {
        return deadLetter(std::move(a), t.cls,
                          "gave up after " + std::to_string(attempts) + " attempts; last: " + a.what);
    }
    if (t.cls == FailureClass::Overloaded) {
        return retryAt(std::move(a), std::max(*a.backOffProviderUntil, in.now));
    }
    return retryAt(std::move(a), in.now + delayFor(attempts, t.retryAfter, retry, jitter));
}

}  // namespace sluice
