// MemoryRollups: the per-minute rollups of an instance that has no state
// file (sluice-cli serve without --state, worker), kept in memory so the
// console attached to it can export a usage report of this run
// (GET /v1/rollups). A RollupSink for the instance's MetricsRecorder: rows
// for a minute and provider/key/model already kept are summed into it, as
// the database does. Bounded: beyond maxRows the oldest minutes are dropped
// (and dropped() says how many rows).
//
// Thread-safety: every member from any thread (one mutex).
#pragma once

#include "metrics/rollup.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::control {

class MemoryRollups final : public metrics::RollupSink {
public:
    // 48 hours of a few dozen key×model pairs.
    explicit MemoryRollups(std::size_t maxRows = 100'000) : m_maxRows(maxRows) {}

    void addRollups(std::span<const metrics::RollupRow> rows) override;
    // Rows whose minute starts in [from, to), by minute, provider, key, model.
    std::vector<metrics::RollupRow> rows(WallTime from, WallTime to) const;
    std::uint64_t dropped() const;

private:
    using RowKey = std::tuple<WallTime, std::string, std::string, std::string>;
    std::size_t m_maxRows;
    mutable std::mutex m_mutex;
    std::map<RowKey, metrics::Tally> m_rows;
    std::uint64_t m_dropped = 0;
};

}  // namespace sluice::control
