// RollupStore: a workspace's per-minute metrics rollups, kept in the same
// SQLite file as its JobStore (table metrics_minutes, schema version 3)
// through a connection of its own. The recorder's thread writes a flush's
// rows in one transaction; reports read them back.
//
// Thread-safety: every public member from any thread; one mutex serialises
// them. A call may wait on the disk and, up to the busy timeout, on another
// connection's write lock, so call it off the dispatcher and GUI threads.
#pragma once

#include "metrics/rollup.h"
#include "store/job_store.h"
#include "store/sqlite.h"

#include <filesystem>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace sluice::metrics {

class RollupStore : public RollupSink {
public:
    // Opens (creating or migrating, unless read-only) the workspace database.
    // Throws store::StoreError as JobStore does.
    explicit RollupStore(std::filesystem::path file, store::StoreOptions options = {});
    RollupStore(const RollupStore&) = delete;
    RollupStore& operator=(const RollupStore&) = delete;
    ~RollupStore() override;

    // One transaction: a row for a minute and key+model already stored is
    // summed into it. Throws store::StoreError (nothing written).
    void addRollups(std::span<const RollupRow> rows) override;

    // Rows whose minute starts in [from, to), by minute, then provider, key
    // and model.
    std::vector<RollupRow> rows(WallTime from, WallTime to) const;
    // The first and the last minute stored, when any.
    std::optional<std::pair<WallTime, WallTime>> extent() const;

    const std::filesystem::path& file() const noexcept { return m_file; }

private:
    std::filesystem::path m_file;
    mutable std::mutex m_mutex;
    mutable store::Database m_db;
};

}  // namespace sluice::metrics
