// Ramps a model's request rate up after idle, instead of jumping to the
// full rate: providers with "acceleration limits" (Anthropic documents
// them) answer a sharp rise in usage from idle with 429s even below the
// per-minute limit. Once a scope has sent nothing for `idle`, the requests
// it may send grow as if its rate limit rose linearly from `start` × the
// limit to the whole limit over `length`. A 429 during a ramp (or soon
// after one) is the provider saying the ramp was too steep: that scope's
// next ramps start lower and last longer.
//
// Thread-safety: none; the dispatcher thread owns it.
#pragma once

#include "admission/limits.h"
#include "config/config.h"
#include "core/clock.h"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace sluice {

class IdleRamp {
public:
    // When the next request to `scope` may go, for a scope whose request
    // limit is `perMinute` with a bucket of `burst`; `now` when it may go
    // at once (no ramp in force, or room in it).
    TimePoint notBefore(ScopeId scope, const IdleRampSettings& settings, double perMinute, double burst,
                        TimePoint now) const;
    // Whether a ramp is (or would start) in force for `scope` at `now`:
    // callers skip looking up the limit otherwise.
    bool ramping(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const;
    void onSent(ScopeId scope, const IdleRampSettings& settings, TimePoint now);
    // A 429 for a request sent at `sentAt`: within a ramp or one ramp's
    // length after it, the next ramps of `scope` halve their start (down
    // to 5%) and double their length (up to 5 minutes). True when it did.
    bool onRateLimited(ScopeId scope, const IdleRampSettings& settings, TimePoint sentAt);
    // What a ramp of `scope` says for people: "" when none is in force.
    std::string describe(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const;
    // The ramp's state for `scope` at `now`, for status snapshots.
    struct Snapshot {
        bool inRamp = false;    // a ramp is in force now
        bool idle = true;       // nothing sent for `idle`: the next request starts a ramp
        double fraction = 1.0;  // in a ramp: the share of the request limit allowed now
        double start = 0;       // where this scope's ramps start (after flattening)
        Duration length{};      // and how long they last
        int flattened = 0;      // 429s that flattened this scope's ramps
    };
    Snapshot snapshot(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const;

private:
    struct State {
        std::optional<TimePoint> lastSent;
        TimePoint rampStart{};
        std::int64_t sentInRamp = 0;
        int steeperStrikes = 0;  // 429s that flattened this scope's ramps
    };
    IdleRampSettings effective(const State& s, const IdleRampSettings& settings) const;
    bool idleAt(const State& s, const IdleRampSettings& settings, TimePoint now) const;

    std::unordered_map<ScopeId, State> m_scopes;
};

}  // namespace sluice
