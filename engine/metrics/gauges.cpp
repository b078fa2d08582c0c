#include "metrics/gauges.h"

#include <algorithm>
#include <unordered_map>

namespace sluice::metrics {

GaugeSample gaugeSampleOf(const DispatcherStats& stats, const std::vector<ScopeState>& scopes)
{
    GaugeSample g;
    g.queued = static_cast<std::int64_t>(stats.queued);
    for (const LaneStatus& lane : stats.lanes) {
        // A model's requests pinned to one key wait in a lane of their own;
        // the depth is the model's, one series per provider and model.
        const auto same = std::find_if(g.lanes.begin(), g.lanes.end(), [&](const QueueDepth& d) {
            return d.provider == lane.provider && d.model == lane.model;
        });
        if (same != g.lanes.end()) {
            same->queued += static_cast<std::int64_t>(lane.queued);
        } else {
            g.lanes.push_back(QueueDepth{lane.provider, lane.model, static_cast<std::int64_t>(lane.queued)});
        }
    }
    std::unordered_map<ScopeId, const ScopeState*> byId;
    for (const ScopeState& s : scopes) {
        byId.emplace(s.id, &s);
    }
    for (const ScopeState& s : scopes) {
        if (s.removed) {
            continue;
        }
        // Names from the root down, the root excluded.
        std::vector<std::string> names;
        bool complete = true;
        for (const ScopeState* at = &s; at->parent != kNoScope;) {
            names.insert(names.begin(), at->name);
            const auto it = byId.find(at->parent);
            if (it == byId.end()) {
                complete = false;
                break;
            }
            at = it->second;
        }
        ScopeKey key;
        switch (complete ? names.size() : 99) {
        case 0: key = ScopeKey::global(); break;
        case 1: key = ScopeKey::ofProvider(names[0]); break;
        case 2: key = ScopeKey::ofKey(names[0], names[1]); break;
        case 3: key = ScopeKey::ofKeyModel(names[0], names[1], names[2]); break;
        default: continue;  // not a shape the dispatcher builds
        }
        for (const DimensionState& d : s.dimensions) {
            g.limits.push_back(LimitGauge{key, d.spec, d.used, d.available});
        }
    }
    return g;
}

}  // namespace sluice::metrics
