// The sampled side of metrics: what is queued per lane, and every limit's
// capacity, usage and headroom, read from the Dispatcher's stats and the
// Admission's scopes. The recorder samples a GaugeSource about once a second
// (and the /metrics endpoint on every scrape).
//
// Thread-safety: plain values and a pure function.
#pragma once

#include "admission/ledger.h"
#include "dispatch/dispatch_types.h"
#include "metrics/tally.h"

#include <functional>
#include <string>
#include <vector>

namespace sluice::metrics {

struct QueueDepth {
    std::string provider;
    std::string model;
    std::int64_t queued = 0;
};

// One dimension of one admission scope. The scope is Global, Provider, Key
// or KeyModel (model limits apply per key).
struct LimitGauge {
    ScopeKey scope;
    LimitSpec spec;
    std::int64_t used = 0;
    std::int64_t available = 0;  // headroom: capacity − used, never negative
};

struct GaugeSample {
    std::int64_t queued = 0;         // jobs waiting for admission or a retry
    std::vector<QueueDepth> lanes;   // by provider and model
    std::vector<LimitGauge> limits;  // every dimension of every scope
};

using GaugeSource = std::function<GaugeSample()>;

// Scopes are named by walking each admission scope up to the root:
// root → global, depth 1 → provider, 2 → key, 3 → key+model.
GaugeSample gaugeSampleOf(const DispatcherStats& stats, const std::vector<ScopeState>& scopes);

}  // namespace sluice::metrics
