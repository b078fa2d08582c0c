// LimitLearner: what a key+model's rate-limit headers teach. Limits the
// configuration leaves out are learned from the announced values; a
// configured limit the provider announces lower binds (kept at the
// configured granularity) and follows later announcements back up to the
// configured value, never above it; remaining/reset values correct usage.
//
// Thread-safety: none; the dispatcher thread owns every LearnedLimits.
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "providers/rate_limit_headers.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

namespace sluice {

// What has been learned for one key+model scope.
struct LearnedLimits {
    std::set<Measure> learned;  // dimensions that came from headers
    // Configured dimensions the provider announced a lower limit for: what
    // the configuration said, kept so that a later, higher announcement
    // restores it and never exceeds it.
    std::map<Measure, LimitSpec> lowered;
    // The limits the headers announced last time: learning runs only when
    // they change.
    std::array<std::int64_t, 4> announced{-1, -1, -1, -1};
    // When a 429 that looked like a window's (see learnFrom429) last came.
    std::optional<TimePoint> windowEvidenceAt;
    // Near misses while not paced: how many since the first of them, within
    // a period of it (see learnFrom429).
    int nearMisses = 0;
    TimePoint firstNearMissAt{};

    // Limits set by hand: headers only lower them from here on.
    void reset() { *this = LearnedLimits(); }
};

// `spec` with its limit set to `limit`, its burst scaled alike so the
// enforcement granularity (a second's worth, ten seconds' worth) is kept.
LimitSpec rescaled(LimitSpec spec, std::int64_t limit);

// Learns from `h` (when the provider learns limits) and then corrects the
// scope's usage to what the provider says remains, as of `sentAt`: the
// headers describe the buckets as the request arrived, and applied as of the
// answer's arrival they would count the whole response time as still owed.
void correctFromHeaders(Admission& admission, const ProviderConfig& provider, ScopeId scope, LearnedLimits& state,
                        const RateLimitHeaders& h, TimePoint sentAt);

// How many near misses within kNearMissSpan say the provider counts a
// window (learnFrom429).
inline constexpr int kNearMissesForAWindow = 2;
inline constexpr Duration kNearMissSpan = std::chrono::minutes(1);
// A 429 on a paced scope that says to wait longer than this: the provider
// counts the whole period, not seconds (learnFrom429).
inline constexpr Duration kPeriodWindowHint = std::chrono::seconds(2);

// A rate-limit 429 at a pace the ledger allowed, with the provider's hint
// ("try again in"). A short hint is a near miss: the request arrived a
// moment early, and the scope's absolute arrival margin learns the
// lateness it reports. A longer one, when the ledger had room for the
// request, says the provider counts a window (sliding or fixed) that
// still holds a burst the bucket model thought refilled, e.g. a whole
// bucket sent at a second boundary: from then on the scope paces evenly (a
// burst of one, spaced by 1/rate). The first such 429 decides: waiting for a
// second costs another (the quiet period that restores a narrowed burst
// brings the next one), and pacing a bucket by mistake costs at most the 2%
// spacing. Near misses that go on (kNearMissesForAWindow within a period)
// after the margin widened and the burst narrowed are not late arrivals
// either: a provider that counts fixed windows answers "a moment" to every
// request that overfills one just before its end, and narrowing the bucket
// further only slows the scope down (to 75% of a fixed second of tokens,
// docs/benchmarks.md): the scope paces evenly then too. Returns whether the
// scope now paces evenly because of this call.
bool learnFrom429(Admission& admission, ScopeId scope, LearnedLimits& state, std::optional<Duration> hint,
                  bool nearMiss, TimePoint now);

// The learning step alone.
void learnLimits(Admission& admission, const ProviderConfig& provider, ScopeId scope, LearnedLimits& state,
                 const RateLimitHeaders& h);

}  // namespace sluice
