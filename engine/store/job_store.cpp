#include "store/job_store.h"
#include "store/job_store_rows.h"

#include "store/schema.h"
#include "store/timeline_order.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace sluice::store {

using namespace rows;

namespace {

void validate(const NewJob& job)
{
    if (job.customId.empty()) {
        throw std::invalid_argument("enqueue: empty custom_id");
    }
    if (job.url.empty() || job.method.empty()) {
        throw std::invalid_argument("enqueue: job " + job.customId + " has no method or url");
    }
}

Database openDatabase(const std::filesystem::path& file, const StoreOptions& options)
{
    if (!options.readOnly && file.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        if (ec) {
            throw StoreError(SQLITE_CANTOPEN, StoreErrorKind::CannotOpen, file,
                             "creating directory " + file.parent_path().string() + ": " + ec.message());
        }
    }
    return Database(file, options.readOnly ? OpenMode::ReadOnly : OpenMode::ReadWriteCreate, options.busyTimeout);
}

}  // namespace

std::string_view jobStateName(JobState state) noexcept
{
    switch (state) {
    case JobState::Pending:
        return "pending";
    case JobState::Leased:
        return "leased";
    case JobState::Done:
        return "done";
    case JobState::Dead:
        return "dead";
    }
    return "unknown";
}

Database openWorkspaceDatabase(const std::filesystem::path& file, const StoreOptions& options,
                               std::string_view operation)
{
    Database db = openDatabase(file, options);
    try {
        // Only reads until the file is known to be ours (or new): refusing a
        // foreign database must leave it as it was, not switched to WAL.
        const std::int64_t appId = db.queryInt64("PRAGMA application_id");
        std::int64_t version = db.queryInt64("PRAGMA user_version");
        const auto tooNew = [&](std::int64_t v) {
            return StoreError(0, StoreErrorKind::TooNew, file,
                              "the job store has schema version " + std::to_string(v) +
                                  ", written by a newer Sluice; this build reads versions up to " +
                                  std::to_string(schema::kCurrentVersion) +
                                  ". Upgrade Sluice, or use another state file.");
        };
        if (version > schema::kCurrentVersion) {
            throw tooNew(version);
        }
        if (appId != 0 && appId != schema::kApplicationId) {
            std::ostringstream hex;
            hex << std::hex << appId;
            throw StoreError(SQLITE_NOTADB, StoreErrorKind::NotADatabase, file,
                             "an SQLite database of another application (application_id 0x" + hex.str() +
                                 "), not a Sluice job store");
        }
        if (version == 0 && db.queryInt64("SELECT count(*) FROM sqlite_schema") > 0) {
            throw StoreError(SQLITE_NOTADB, StoreErrorKind::NotADatabase, file,
                             "an SQLite database, but not a Sluice job store");
        }
        if (!options.readOnly) {
            db.exec("PRAGMA journal_mode = WAL");
            db.exec(options.durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
            if (options.maxPageCount) {
                db.exec("PRAGMA max_page_count = " + std::to_string(*options.maxPageCount));
            }
        }
        if (version < schema::kCurrentVersion) {
            if (options.readOnly) {
                throw StoreError(SQLITE_READONLY, StoreErrorKind::ReadOnly, file,
                                 "schema version " + std::to_string(version) +
                                     " needs migrating, which a read-only open cannot do; open it for writing once");
            }
            Transaction t(db);
            // Another process may have migrated between our read and our lock.
            version = db.queryInt64("PRAGMA user_version");
            if (version > schema::kCurrentVersion) {
                throw tooNew(version);
            }
            if (version < schema::kCurrentVersion) {
                schema::migrate(db, static_cast<int>(version), schema::kCurrentVersion);
            }
            t.commit();
        }
    } catch (const StoreError& e) {
        throw e.withContext(operation);
    }
    return db;
}

JobStore::JobStore(std::filesystem::path file, const Clock& clock, StoreOptions options)
    : m_file(std::move(file)),
      m_clock(clock),
      m_options(options),
      m_db(openWorkspaceDatabase(m_file, m_options, "opening the job store"))
{
}

JobStore::~JobStore() = default;

std::int64_t JobStore::nowMs() const
{
    return toMs(m_clock.wallNow());
}

void JobStore::requireWritable() const
{
    if (m_options.readOnly) {
        throw StoreError(SQLITE_READONLY, StoreErrorKind::ReadOnly, m_file, "this JobStore was opened read-only");
    }
}

// ---- enqueue ------------------------------------------------------------

EnqueueResult JobStore::enqueueLocked(const NewJob& job, std::int64_t now)
{
    {
        auto ins = m_db.cached(
            "INSERT INTO jobs (custom_id, method, url, body, model, provider, tenant, priority, deadline_ms, "
            "created_ms, not_before_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
            "ON CONFLICT (custom_id) DO NOTHING");
        ins->bind(1, job.customId)
            .bind(2, job.method)
            .bind(3, job.url)
            .bind(4, job.body)
            .bind(5, job.model)
            .bind(6, job.providerHint)
            .bind(7, job.tenant)
            .bind(8, job.priority)
            .bind(9, optionalToMs(job.deadline))
            .bind(10, now)
            .bind(11, job.notBefore ? toMs(*job.notBefore) : now);
        ins->run();
    }
    if (m_db.changes() == 1) {
        return {m_db.lastInsertRowId(), EnqueueStatus::Added};
    }
    auto sel = m_db.cached("SELECT id, method, url, coalesce(original_body, body) FROM jobs WHERE custom_id = ?1");
    sel->bind(1, job.customId);
    if (!sel->step()) {
        throw m_db.error(SQLITE_INTERNAL, "enqueue: custom_id " + job.customId + " neither inserted nor found");
    }
    const bool same = sel->text(1) == job.method && sel->text(2) == job.url && sel->text(3) == job.body;
    return {sel->int64(0), same ? EnqueueStatus::Duplicate : EnqueueStatus::Conflict};
}

EnqueueResult JobStore::enqueue(const NewJob& job)
{
    return enqueueMany(std::span<const NewJob>(&job, 1)).front();
}

std::vector<EnqueueResult> JobStore::enqueueMany(std::span<const NewJob> jobs)
{
    for (const NewJob& j : jobs) {
        validate(j);
    }
    return guarded(m_mutex, "enqueueing jobs", [&] {
        requireWritable();
        std::vector<EnqueueResult> out;
        out.reserve(jobs.size());
        const std::int64_t now = nowMs();
        Transaction t(m_db);
        for (const NewJob& j : jobs) {
            out.push_back(enqueueLocked(j, now));
        }
        t.commit();
        return out;
    });
}

// ---- leases -------------------------------------------------------------

std::vector<Job> JobStore::lease(const LeaseRequest& request)
{
    if (request.owner.empty()) {
        throw std::invalid_argument("lease: empty owner");
    }
    return guarded(m_mutex, "leasing jobs", [&] {
        requireWritable();
        std::vector<Job> jobs;
        if (request.max == 0) {
            return jobs;
        }
        const std::int64_t now = nowMs();
        Transaction t(m_db);
        reclaimLocked(now);
        static const std::string kAny =
            "UPDATE jobs SET state = 1, lease_owner = ?1, lease_expiry_ms = ?2, lease_count = lease_count + 1 "
            "WHERE id IN (SELECT id FROM jobs WHERE state = 0 AND not_before_ms <= ?3 "
            "ORDER BY priority DESC, id LIMIT ?4) RETURNING " +
            kJobColumns;
        static const std::string kTenant =
            "UPDATE jobs SET state = 1, lease_owner = ?1, lease_expiry_ms = ?2, lease_count = lease_count + 1 "
            "WHERE id IN (SELECT id FROM jobs WHERE state = 0 AND tenant = ?5 AND not_before_ms <= ?3 "
            "ORDER BY priority DESC, id LIMIT ?4) RETURNING " +
            kJobColumns;
        std::string skipping;
        if (!request.skipModels.empty()) {
            // One placeholder per model from ?6 on; a statement per count, cached.
            skipping = " AND model NOT IN (";
            for (std::size_t i = 0; i < request.skipModels.size(); ++i) {
                skipping += (i == 0 ? "?" : ", ?") + std::to_string(6 + i);
            }
            skipping += ")";
        }
        const std::string& base = request.tenant ? kTenant : kAny;
        const std::string sql =
            skipping.empty() ? base : base.substr(0, base.find(" ORDER BY")) + skipping + base.substr(base.find(" ORDER BY"));
        {
            auto upd = m_db.cached(sql);
            upd->bind(1, request.owner)
                .bind(2, now + request.duration.count())
                .bind(3, now)
                .bind(4, static_cast<std::int64_t>(std::min<std::size_t>(request.max, INT64_MAX)));
            if (request.tenant) {
                upd->bind(5, *request.tenant);
            }
            for (std::size_t i = 0; i < request.skipModels.size(); ++i) {
                upd->bind(static_cast<int>(6 + i), request.skipModels[i]);
            }
            while (upd->step()) {
                jobs.push_back(readJob(*upd));
            }
        }
        t.commit();
        // RETURNING gives rows in no promised order.
        std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
            return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
        });
        return jobs;
    });
}

std::int64_t JobStore::writeOne(std::string_view sql, const std::function<void(Statement&)>& bind)
{
    requireWritable();
    Transaction t(m_db);
    {
        auto stmt = m_db.cached(sql);
        bind(*stmt);
        stmt->run();
    }
    const std::int64_t n = m_db.changes();
    t.commit();
    return n;
}

bool JobStore::extendLease(JobId id, std::string_view owner, std::chrono::milliseconds duration)
{
    return guarded(m_mutex, "extending a lease", [&] {
        return writeOne("UPDATE jobs SET lease_expiry_ms = ?3 WHERE id = ?1 AND state = 1 AND lease_owner = ?2",
                        [&](Statement& s) { s.bind(1, id).bind(2, owner).bind(3, nowMs() + duration.count()); }) ==
               1;
    });
}

// The subquery walks the small partial index of leased jobs rather than the
// whole table.
std::size_t JobStore::extendLeases(std::string_view owner, std::chrono::milliseconds duration)
{
    return guarded(m_mutex, "extending leases", [&] {
        return static_cast<std::size_t>(
            writeOne("UPDATE jobs SET lease_expiry_ms = ?2 WHERE id IN (SELECT id FROM jobs WHERE state = 1) "
                     "AND lease_owner = ?1",
                     [&](Statement& s) { s.bind(1, owner).bind(2, nowMs() + duration.count()); }));
    });
}

bool JobStore::releaseLease(JobId id, std::string_view owner)
{
    return guarded(m_mutex, "releasing a lease", [&] {
        return writeOne("UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL "
                        "WHERE id = ?1 AND state = 1 AND lease_owner = ?2",
                        [&](Statement& s) { s.bind(1, id).bind(2, owner); }) == 1;
    });
}

std::size_t JobStore::releaseLeases(std::string_view owner)
{
    return guarded(m_mutex, "releasing leases", [&] {
        return static_cast<std::size_t>(
            writeOne("UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL "
                     "WHERE id IN (SELECT id FROM jobs WHERE state = 1) AND lease_owner = ?1",
                     [&](Statement& s) { s.bind(1, owner); }));
    });
}

std::size_t JobStore::releaseAllLeases()
{
    return guarded(m_mutex, "releasing all leases", [&] {
        return static_cast<std::size_t>(writeOne(
            "UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL WHERE state = 1",
            [](Statement&) {}));
    });
}

std::size_t JobStore::reclaimLocked(std::int64_t now)
{
    {
        auto note = m_db.cached(
            "INSERT INTO events (job_id, at_ms, kind, detail) SELECT id, lease_expiry_ms, 'lease_expired', "
            "'held by ' || lease_owner FROM jobs WHERE state = 1 AND lease_expiry_ms <= ?1");
        note->bind(1, now).run();
    }
    auto reclaim = m_db.cached(
        "UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL "
        "WHERE state = 1 AND lease_expiry_ms <= ?1");
    reclaim->bind(1, now).run();
    return static_cast<std::size_t>(m_db.changes());
}

std::size_t JobStore::reclaimExpiredLeases()
{
    return guarded(m_mutex, "reclaiming expired leases", [&] {
        requireWritable();
        Transaction t(m_db);
        const std::size_t n = reclaimLocked(nowMs());
        t.commit();
        return n;
    });
}

// ---- outcomes -----------------------------------------------------------

void JobStore::insertAttemptLocked(JobId id, const Attempt& a, std::optional<std::int64_t> retryAt,
                                   std::int64_t now)
{
    auto ins = m_db.cached(
        "INSERT INTO attempts (job_id, at_ms, error_class, http_status, message, key_label, counted, "
        "retry_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    ins->bind(1, id)
        .bind(2, a.at ? toMs(*a.at) : now)
        .bind(3, a.errorClass)
        .bind(4, a.httpStatus)
        .bind(5, a.message)
        .bind(6, a.keyLabel)
        .bind(7, a.counted ? 1 : 0)
        .bind(8, retryAt)
        .run();
}

bool JobStore::completeLocked(const Completion& c, std::int64_t now)
{
    {
        auto upd = m_db.cached(
            "UPDATE jobs SET state = 2, lease_owner = NULL, lease_expiry_ms = NULL, finished_ms = ?2 "
            "WHERE id = ?1 AND state <> 2");
        upd->bind(1, c.id).bind(2, now).run();
    }
    if (m_db.changes() != 1) {
        return false;
    }
    auto ins = m_db.cached(
        "INSERT INTO results (job_id, status_code, request_id, body, key_label, completed_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    ins->bind(1, c.id)
        .bind(2, c.result.statusCode)
        .bind(3, c.result.requestId)
        .bind(4, c.result.body)
        .bind(5, c.result.keyLabel)
        .bind(6, now)
        .run();
    return true;
}

// A failed attempt moves its job on (sql, with ?3 the retry time or the time
// of death) and is recorded, if the job was the caller's to move.
bool JobStore::failedAttemptLocked(std::string_view sql, JobId id, const std::string& owner, const Attempt& a,
                                   std::int64_t time, std::optional<std::int64_t> retryAt, std::int64_t now)
{
    {
        auto upd = m_db.cached(sql);
        upd->bind(1, id)
            .bind(2, owner)
            .bind(3, time)
            .bind(4, a.counted ? 1 : 0)
            .bind(5, a.errorClass)
            .bind(6, a.keyLabel)
            .run();
    }
    if (m_db.changes() != 1) {
        return false;
    }
    insertAttemptLocked(id, a, retryAt, now);
    return true;
}

UpdateResults JobStore::recordLocked(std::span<const AttemptLog> attempts, std::span<const Completion> completions,
                                     std::span<const Retry> retries, std::span<const Failure> failures,
                                     std::span<const Note> notes)
{
    UpdateResults out;
    const std::int64_t now = nowMs();

    for (const AttemptLog& log : attempts) {
        const Attempt& a = log.attempt;
        insertAttemptLocked(log.id, a, a.retryAt ? std::optional<std::int64_t>(toMs(*a.retryAt)) : std::nullopt,
                            now);
    }

    out.completed.reserve(completions.size());
    for (const Completion& c : completions) {
        out.completed.push_back(completeLocked(c, now));
    }

    out.retried.reserve(retries.size());
    for (const Retry& r : retries) {
        const std::int64_t retryAt = toMs(r.notBefore);
        out.retried.push_back(failedAttemptLocked(
            "UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL, not_before_ms = ?3, "
            "attempts = attempts + ?4, last_error_class = ?5, last_key_label = ?6 "
            "WHERE id = ?1 AND state = 1 AND lease_owner = ?2",
            r.id, r.owner, r.attempt, retryAt, retryAt, now));
    }

    out.failed.reserve(failures.size());
    for (const Failure& f : failures) {
        out.failed.push_back(failedAttemptLocked(
            "UPDATE jobs SET state = 3, lease_owner = NULL, lease_expiry_ms = NULL, finished_ms = ?3, "
            "attempts = attempts + ?4, last_error_class = ?5, last_key_label = ?6 "
            "WHERE id = ?1 AND ((state = 1 AND lease_owner = ?2) OR (?2 = '' AND state IN (0, 1)))",
            f.id, f.owner, f.attempt, now, std::nullopt, now));
    }

    for (const Note& n : notes) {
        auto ins = m_db.cached("INSERT INTO events (job_id, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)");
        ins->bind(1, n.id).bind(2, n.at ? toMs(*n.at) : now).bind(3, n.kind).bind(4, n.detail).run();
    }
    return out;
}

UpdateResults JobStore::record(std::span<const AttemptLog> attempts, std::span<const Completion> completions,
                               std::span<const Retry> retries, std::span<const Failure> failures,
                               std::span<const Note> notes)
{
    return guarded(m_mutex, "recording job outcomes", [&] {
        requireWritable();
        Transaction t(m_db);
        UpdateResults out = recordLocked(attempts, completions, retries, failures, notes);
        t.commit();
        return out;
    });
}

UpdateResults JobStore::recordMany(const Updates& updates)
{
    return record(updates.attempts, updates.completions, updates.retries, updates.failures, updates.notes);
}

std::vector<bool> JobStore::completeMany(std::span<const Completion> completions)
{
    return record({}, completions, {}, {}, {}).completed;
}

bool JobStore::complete(const Completion& completion)
{
    return record({}, {&completion, 1}, {}, {}, {}).completed.front();
}

bool JobStore::retry(const Retry& retry)
{
    return record({}, {}, {&retry, 1}, {}, {}).retried.front();
}

bool JobStore::fail(const Failure& failure)
{
    return record({}, {}, {}, {&failure, 1}, {}).failed.front();
}

void JobStore::addNote(const Note& note)
{
    record({}, {}, {}, {}, {&note, 1});
}


}  // namespace sluice::store
