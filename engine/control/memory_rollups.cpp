#include "control/memory_rollups.h"

namespace sluice::control {

void MemoryRollups::addRollups(std::span<const metrics::RollupRow> rows)
{
    const std::lock_guard lock(m_mutex);
    for (const metrics::RollupRow& r : rows) {
        m_rows[RowKey{r.minute, r.provider, r.key, r.model}].merge(r.tally);
    }
    while (m_rows.size() > m_maxRows) {
        m_rows.erase(m_rows.begin());
        ++m_dropped;
    }
}

std::vector<metrics::RollupRow> MemoryRollups::rows(WallTime from, WallTime to) const
{
    const std::lock_guard lock(m_mutex);
    std::vector<metrics::RollupRow> out;
    for (auto it = m_rows.lower_bound(RowKey{from, {}, {}, {}}); it != m_rows.end() && std::get<0>(it->first) < to;
         ++it) {
        out.push_back(metrics::RollupRow{std::get<0>(it->first), std::get<1>(it->first), std::get<2>(it->first),
                                         std::get<3>(it->first), it->second});
    }
    return out;
}

std::uint64_t MemoryRollups::dropped() const
{
    const std::lock_guard lock(m_mutex);
    return m_dropped;
}

}  // namespace sluice::control
