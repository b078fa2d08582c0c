// JobStore's compaction: dropping what only an unwritten output still needs
// (the result, attempts and timeline of done jobs) and giving the space back.
// Kept apart from job_store.cpp because it is its own responsibility: it
// runs once at the end of a batch, never on the queue's hot path.
#include "store/job_store.h"
#include "store/job_store_rows.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice::store {

namespace {

// The file and its write-ahead log: what the state takes on disk.
std::uintmax_t bytesOnDisk(const std::filesystem::path& file)
{
    std::uintmax_t total = 0;
    for (const std::filesystem::path& p : {file, std::filesystem::path(file.string() + "-wal")}) {
        std::error_code ec;
        const std::uintmax_t n = std::filesystem::file_size(p, ec);
        total += ec ? 0 : n;
    }
    return total;
}

}  // namespace

std::int64_t JobStore::compactChunkLocked(JobId first, JobId last, const std::string& note)
{
    // One transaction: a kill leaves the chunk whole or untouched. Attempts
    // and events first (they need the jobs' state to pick done ones); a
    // result exists only for a done job (complete() sets both at once), so
    // the results deleted are the jobs compacted.
    Transaction t(m_db);
    for (const char* sql : {"DELETE FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE id BETWEEN ?1 AND ?2 "
                            "AND state = 2)",
                            "DELETE FROM events WHERE job_id IN (SELECT id FROM jobs WHERE id BETWEEN ?1 AND ?2 "
                            "AND state = 2)"}) {
        auto del = m_db.cached(sql);
        del->bind(1, first).bind(2, last).run();
    }
    std::int64_t jobs = 0;
    {
        auto del = m_db.cached("DELETE FROM results WHERE job_id BETWEEN ?1 AND ?2");
        del->bind(1, first).bind(2, last).run();
        jobs = m_db.changes();
    }
    if (jobs > 0) {
        auto ins = m_db.cached("INSERT INTO compactions (first_id, last_id, jobs, at_ms, note) VALUES (?1, ?2, ?3, ?4, ?5)");
        ins->bind(1, first).bind(2, last).bind(3, jobs).bind(4, nowMs()).bind(5, note).run();
    }
    t.commit();
    return jobs;
}

CompactReport JobStore::compact(const CompactRequest& request)
{
    CompactReport report;
    report.bytesBefore = bytesOnDisk(m_file);
    const JobId chunk = static_cast<JobId>(std::max<std::size_t>(1, request.chunk));
    JobId next = std::max<JobId>(1, request.first);
    JobId end = 0;
    {
        std::lock_guard guard(m_mutex);
        requireWritable();
        end = std::min(request.last, m_db.queryInt64("SELECT coalesce(max(id), 0) FROM jobs"));
    }
    while (next <= end) {
        const JobId through = next > end - (chunk - 1) ? end : next + chunk - 1;
        {
            // The lock is let go between chunks, so the store's other users
            // (a console reading it) are kept waiting one chunk at most.
            std::lock_guard guard(m_mutex);
            try {
                report.jobs += compactChunkLocked(next, through, request.note);
            } catch (const StoreError& e) {
                throw e.withContext("compacting jobs " + std::to_string(next) + " to " + std::to_string(through));
            }
        }
        if (request.onChunk) {
            request.onChunk(through, report.jobs);
        }
        next = through + 1;
    }
    if (request.reclaim) {
        std::lock_guard guard(m_mutex);
        try {
            // The log first, so VACUUM rebuilds from the file alone; then the
            // rebuilt file (written through the log) is copied back and the
            // log emptied, so both shrink on disk.
            m_db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
            m_db.exec("VACUUM");
            m_db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch (const StoreError& e) {
            throw e.withContext("reclaiming the space of compacted jobs");
        }
    }
    report.bytesAfter = bytesOnDisk(m_file);
    return report;
}

std::int64_t JobStore::compactedBetween(JobId first, JobId last) const
{
    std::lock_guard guard(m_mutex);
    try {
        Transaction t(m_db, TransactionKind::Deferred);
        std::int64_t n = 0;
        // Only the ranges compaction touched are scanned: a file never
        // compacted answers from the (empty) compactions table alone.
        std::vector<std::pair<JobId, JobId>> ranges;  // merged: passes over the same ids count once
        {
            auto passes = m_db.cached("SELECT max(first_id, ?1), min(last_id, ?2) FROM compactions "
                                      "WHERE last_id >= ?1 AND first_id <= ?2 ORDER BY 1");
            passes->bind(1, first).bind(2, last);
            while (passes->step()) {
                const JobId from = passes->int64(0);
                const JobId to = passes->int64(1);
                if (!ranges.empty() && from <= ranges.back().second + 1) {
                    ranges.back().second = std::max(ranges.back().second, to);
                } else {
                    ranges.emplace_back(from, to);
                }
            }
        }
        for (const auto& [from, to] : ranges) {
            auto count = m_db.cached("SELECT count(*) FROM jobs j WHERE j.id BETWEEN ?1 AND ?2 AND j.state = 2 "
                                     "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.id)");
            count->bind(1, from).bind(2, to);
            count->step();
            n += count->int64(0);
        }
        t.commit();
        return n;
    } catch (const StoreError& e) {
        throw e.withContext("counting compacted jobs");
    }
}

std::vector<Compaction> JobStore::compactions(JobId first, JobId last) const
{
    std::lock_guard guard(m_mutex);
    try {
        std::vector<Compaction> out;
        auto sel = m_db.cached("SELECT first_id, last_id, jobs, at_ms, note FROM compactions "
                               "WHERE last_id >= ?1 AND first_id <= ?2 ORDER BY id");
        sel->bind(1, first).bind(2, last);
        while (sel->step()) {
            out.push_back({sel->int64(0), sel->int64(1), sel->int64(2), rows::fromMs(sel->int64(3)), sel->text(4)});
        }
        return out;
    } catch (const StoreError& e) {
        throw e.withContext("listing compactions");
    }
}

std::optional<TimelineEntry> JobStore::compactedEntryLocked(JobId id) const
{
    auto sel = m_db.cached("SELECT at_ms, note FROM compactions WHERE last_id >= ?1 AND first_id <= ?1 "
                           "ORDER BY id LIMIT 1");
    sel->bind(1, id);
    if (!sel->step()) {
        return std::nullopt;
    }
    std::string detail = "result, attempts and timeline dropped from the state file";
    if (const std::string note = sel->text(1); !note.empty()) {
        detail += " (" + note + ")";
    }
    return TimelineEntry{rows::fromMs(sel->int64(0)), "compacted", detail};
}

}  // namespace sluice::store
