// Per-minute rollups: what one key+model (provider, key label, model) did in
// one UTC minute. The recorder produces them; a RollupSink (the workspace
// database's RollupStore) keeps them for reports. Coarser scopes and longer
// periods are sums of rows, histograms included.
//
// Thread-safety: RollupRow is a plain value; a sink says its own.
#pragma once

#include "core/clock.h"
#include "metrics/tally.h"

#include <span>
#include <string>

namespace sluice::metrics {

struct RollupRow {
    WallTime minute{};  // start of the UTC minute
    std::string provider;
    std::string key;  // the key's config label, never its value
    std::string model;
    Tally tally;
};

class RollupSink {
public:
    virtual ~RollupSink() = default;
    // Adds the rows to what is kept: a row for a minute and key+model already
    // kept is summed into it. All or nothing; throws on failure (the caller
    // keeps the rows and tries again).
    virtual void addRollups(std::span<const RollupRow> rows) = 0;
};

}  // namespace sluice::metrics
