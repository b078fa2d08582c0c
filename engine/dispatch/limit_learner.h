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

// The learning step alone.
void learnLimits(Admission& admission, const ProviderConfig& provider, ScopeId scope, LearnedLimits& state,
                 const RateLimitHeaders& h);

}  // namespace sluice
