#include "store/job_store.h"

#include "core/timefmt.h"
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

namespace {

using std::chrono::milliseconds;

std::int64_t toMs(WallTime t)
{
    return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

WallTime fromMs(std::int64_t ms)
{
    return WallTime(milliseconds(ms));
}

std::optional<WallTime> optionalFromMs(const std::optional<std::int64_t>& ms)
{
    return ms ? std::optional<WallTime>(fromMs(*ms)) : std::nullopt;
}

std::optional<std::int64_t> optionalToMs(const std::optional<WallTime>& t)
{
    return t ? std::optional<std::int64_t>(toMs(*t)) : std::nullopt;
}

// Every public call holds the mutex for its whole transaction and names the
// operation in any StoreError it lets through.
template <typename F>
auto guarded(std::mutex& mutex, std::string_view operation, F&& body) -> decltype(body())
{
    std::lock_guard guard(mutex);
    try {
        return body();
    } catch (const StoreError& e) {
        throw e.withContext(operation);
    }
}

const std::string kJobColumns =
    "id, custom_id, method, url, body, original_body IS NOT NULL, model, provider, tenant, priority, "
    "deadline_ms, created_ms, state, not_before_ms, lease_owner, lease_expiry_ms, lease_count, attempts, "
    "finished_ms, last_error_class, last_key_label";

const std::string kSelectJobById = "SELECT " + kJobColumns + " FROM jobs WHERE id = ?1";

Job readJob(const Statement& s)
{
    Job j;
    j.id = s.int64(0);
    j.customId = s.text(1);
    j.method = s.text(2);
    j.url = s.text(3);
    j.body = s.text(4);
    j.edited = s.int64(5) != 0;
    j.model = s.text(6);
    j.providerHint = s.text(7);
    j.tenant = s.text(8);
    j.priority = s.int32(9);
    j.deadline = optionalFromMs(s.optionalInt64(10));
    j.created = fromMs(s.int64(11));
    j.state = static_cast<JobState>(s.int32(12));
    j.notBefore = fromMs(s.int64(13));
    j.leaseOwner = s.text(14);
    j.leaseExpiry = optionalFromMs(s.optionalInt64(15));
    j.leaseCount = s.int32(16);
    j.attempts = s.int32(17);
    j.finished = optionalFromMs(s.optionalInt64(18));
    j.lastErrorClass = s.text(19);
    j.lastKeyLabel = s.text(20);
    return j;
}

// Dead-letter selection; parameters ?2..?7 come from bindFilter. A NULL
// parameter matches everything.
constexpr std::string_view kDeadFilter =
    "state = 3 AND (?2 IS NULL OR last_error_class = ?2) AND (?3 IS NULL OR last_key_label = ?3) "
    "AND (?4 IS NULL OR model = ?4) AND (?5 IS NULL OR finished_ms >= ?5) AND (?6 IS NULL OR finished_ms < ?6) "
    "AND (?7 IS NULL OR id = ?7)";

void bindFilter(Statement& s, const DeadLetterFilter& f, std::optional<JobId> only)
{
    s.bind(2, f.errorClass)
        .bind(3, f.keyLabel)
        .bind(4, f.model)
        .bind(5, optionalToMs(f.diedFrom))
        .bind(6, optionalToMs(f.diedTo))
        .bind(7, only);
}

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

std::string attemptText(const Attempt& a)
{
    std::string s = a.errorClass;
    if (a.httpStatus != 0) {
        s += ", HTTP " + std::to_string(a.httpStatus);
    }
    if (!a.keyLabel.empty()) {
        s += ", key " + a.keyLabel;
    }
    if (!a.message.empty()) {
        s += ": " + a.message;
    }
    if (!a.counted) {
        s += " (not counted)";
    }
    if (a.retryAt) {
        s += "; retry at " + formatRfc3339(*a.retryAt, 3);
    }
    return s;
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

UpdateResults JobStore::recordLocked(std::span<const AttemptLog> attempts, std::span<const Completion> completions,
                                     std::span<const Retry> retries, std::span<const Failure> failures,
                                     std::span<const Note> notes)
{
    UpdateResults out;
    const std::int64_t now = nowMs();

    const auto insertAttempt = [&](JobId id, const Attempt& a, std::optional<std::int64_t> retryAt) {
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
    };
    for (const AttemptLog& log : attempts) {
        const Attempt& a = log.attempt;
        insertAttempt(log.id, a, a.retryAt ? std::optional<std::int64_t>(toMs(*a.retryAt)) : std::nullopt);
    }

    out.completed.reserve(completions.size());
    for (const Completion& c : completions) {
        {
            auto upd = m_db.cached(
                "UPDATE jobs SET state = 2, lease_owner = NULL, lease_expiry_ms = NULL, finished_ms = ?2 "
                "WHERE id = ?1 AND state <> 2");
            upd->bind(1, c.id).bind(2, now).run();
        }
        const bool applies = m_db.changes() == 1;
        if (applies) {
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
        }
        out.completed.push_back(applies);
    }

    // A failed attempt moves its job on (sql, with ?3 the retry time or the
    // time of death) and is recorded, if the job was the caller's to move.
    const auto failedAttempt = [&](std::string_view sql, JobId id, const std::string& owner, const Attempt& a,
                                   std::int64_t time, std::optional<std::int64_t> retryAt) {
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
        insertAttempt(id, a, retryAt);
        return true;
    };

    out.retried.reserve(retries.size());
    for (const Retry& r : retries) {
        const std::int64_t retryAt = toMs(r.notBefore);
        out.retried.push_back(failedAttempt(
            "UPDATE jobs SET state = 0, lease_owner = NULL, lease_expiry_ms = NULL, not_before_ms = ?3, "
            "attempts = attempts + ?4, last_error_class = ?5, last_key_label = ?6 "
            "WHERE id = ?1 AND state = 1 AND lease_owner = ?2",
            r.id, r.owner, r.attempt, retryAt, retryAt));
    }

    out.failed.reserve(failures.size());
    for (const Failure& f : failures) {
        out.failed.push_back(failedAttempt(
            "UPDATE jobs SET state = 3, lease_owner = NULL, lease_expiry_ms = NULL, finished_ms = ?3, "
            "attempts = attempts + ?4, last_error_class = ?5, last_key_label = ?6 "
            "WHERE id = ?1 AND ((state = 1 AND lease_owner = ?2) OR (?2 = '' AND state IN (0, 1)))",
            f.id, f.owner, f.attempt, now, std::nullopt));
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

// ---- dead letters -------------------------------------------------------

std::vector<DeadLetter> JobStore::deadLetters(const DeadLetterFilter& filter, std::size_t limit, JobId after) const
{
    return guarded(m_mutex, "listing dead letters", [&] {
        std::vector<DeadLetter> out;
        Transaction t(m_db, TransactionKind::Deferred);
        {
            static const std::string kSql = "SELECT " + kJobColumns + " FROM jobs WHERE id > ?1 AND " +
                                            std::string(kDeadFilter) + " ORDER BY id LIMIT ?8";
            auto sel = m_db.cached(kSql);
            sel->bind(1, after);
            bindFilter(*sel, filter, std::nullopt);
            sel->bind(8, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
            while (sel->step()) {
                out.push_back(DeadLetter{readJob(*sel), {}});
            }
        }
        for (DeadLetter& d : out) {
            d.attempts = attemptsLocked(d.job.id);
        }
        t.commit();
        return out;
    });
}

std::size_t JobStore::requeueLocked(const DeadLetterFilter& filter, std::optional<JobId> only)
{
    static const std::string kNote = "INSERT INTO events (job_id, at_ms, kind, detail) SELECT id, ?1, "
                                     "'requeued', 'after ' || attempts || ' attempts' FROM jobs WHERE " +
                                     std::string(kDeadFilter);
    static const std::string kRequeue =
        "UPDATE jobs SET state = 0, not_before_ms = ?1, attempts = 0, finished_ms = NULL WHERE " +
        std::string(kDeadFilter);
    const std::int64_t now = nowMs();
    for (const std::string* sql : {&kNote, &kRequeue}) {
        auto stmt = m_db.cached(*sql);
        stmt->bind(1, now);
        bindFilter(*stmt, filter, only);
        stmt->run();
    }
    return static_cast<std::size_t>(m_db.changes());  // the requeue's
}

bool JobStore::requeue(JobId id)
{
    return guarded(m_mutex, "requeueing a dead letter", [&] {
        requireWritable();
        Transaction t(m_db);
        const bool changed = requeueLocked({}, id) == 1;
        t.commit();
        return changed;
    });
}

std::size_t JobStore::requeueDead(const DeadLetterFilter& filter)
{
    return guarded(m_mutex, "requeueing dead letters", [&] {
        requireWritable();
        Transaction t(m_db);
        const std::size_t n = requeueLocked(filter, std::nullopt);
        t.commit();
        return n;
    });
}

bool JobStore::editAndRequeue(JobId id, std::string_view body, std::optional<std::string_view> model)
{
    return guarded(m_mutex, "editing a dead letter", [&] {
        requireWritable();
        Transaction t(m_db);
        {
            auto upd = m_db.cached(
                "UPDATE jobs SET original_body = coalesce(original_body, body), body = ?2, "
                "model = coalesce(?3, model) WHERE id = ?1 AND state = 3");
            upd->bind(1, id).bind(2, body).bind(3, model).run();
        }
        if (m_db.changes() != 1) {
            return false;
        }
        {
            auto note = m_db.cached("INSERT INTO events (job_id, at_ms, kind, detail) VALUES (?1, ?2, 'edited', ?3)");
            note->bind(1, id).bind(2, nowMs()).bind(3, "body replaced (" + std::to_string(body.size()) + " bytes)");
            note->run();
        }
        requeueLocked({}, id);
        t.commit();
        return true;
    });
}

// ---- reads --------------------------------------------------------------

std::optional<Job> JobStore::jobWhere(std::string_view sql, JobId id, std::string_view customId) const
{
    auto sel = m_db.cached(sql);
    if (customId.empty()) {
        sel->bind(1, id);
    } else {
        sel->bind(1, customId);
    }
    if (!sel->step()) {
        return std::nullopt;
    }
    return readJob(*sel);
}

std::optional<Job> JobStore::job(JobId id) const
{
    return guarded(m_mutex, "reading a job", [&] { return jobWhere(kSelectJobById, id, {}); });
}

std::optional<Job> JobStore::findByCustomId(std::string_view customId) const
{
    static const std::string kSql = "SELECT " + kJobColumns + " FROM jobs WHERE custom_id = ?1";
    if (customId.empty()) {
        return std::nullopt;
    }
    return guarded(m_mutex, "finding a job", [&] { return jobWhere(kSql, 0, customId); });
}

std::optional<Result> JobStore::result(JobId id) const
{
    return guarded(m_mutex, "reading a result", [&]() -> std::optional<Result> {
        auto sel = m_db.cached(
            "SELECT status_code, request_id, body, key_label, completed_ms FROM results WHERE job_id = ?1");
        sel->bind(1, id);
        if (!sel->step()) {
            return std::nullopt;
        }
        return Result{sel->int32(0), sel->text(2), sel->text(1), sel->text(3), fromMs(sel->int64(4))};
    });
}

std::vector<Attempt> JobStore::attemptsLocked(JobId id) const
{
    std::vector<Attempt> out;
    auto sel = m_db.cached(
        "SELECT error_class, http_status, message, key_label, counted, at_ms, retry_at_ms FROM attempts "
        "WHERE job_id = ?1 ORDER BY id");
    sel->bind(1, id);
    while (sel->step()) {
        Attempt a;
        a.errorClass = sel->text(0);
        a.httpStatus = sel->int32(1);
        a.message = sel->text(2);
        a.keyLabel = sel->text(3);
        a.counted = sel->int64(4) != 0;
        a.at = fromMs(sel->int64(5));
        a.retryAt = optionalFromMs(sel->optionalInt64(6));
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<Attempt> JobStore::attempts(JobId id) const
{
    return guarded(m_mutex, "reading attempts", [&] { return attemptsLocked(id); });
}

std::vector<TimelineEntry> JobStore::timeline(JobId id) const
{
    return guarded(m_mutex, "reading a timeline", [&] {
        std::vector<TimelineEntry> out;
        Transaction t(m_db, TransactionKind::Deferred);
        const std::optional<Job> j = jobWhere(kSelectJobById, id, {});
        if (!j) {
            return out;
        }
        std::string queued = "priority " + std::to_string(j->priority);
        if (!j->tenant.empty()) {
            queued += ", tenant " + j->tenant;
        }
        if (!j->model.empty()) {
            queued += ", model " + j->model;
        }
        out.push_back({j->created, "queued", queued});
        std::vector<TimelineEntry> refusals;
        for (const Attempt& a : attemptsLocked(id)) {
            // No key and no status: the job was refused before it was sent.
            if (a.httpStatus == 0 && a.keyLabel.empty() && !a.counted) {
                refusals.push_back({*a.at, "refused", attemptText(a)});
            } else {
                out.push_back({*a.at, "attempt", attemptText(a)});
            }
        }
        bool died = false;
        {
            auto sel = m_db.cached("SELECT at_ms, kind, detail FROM events WHERE job_id = ?1 ORDER BY id");
            sel->bind(1, id);
            while (sel->step()) {
                out.push_back({fromMs(sel->int64(0)), sel->text(1), sel->text(2)});
                died = died || out.back().kind == "dead_lettered";
            }
        }
        if (!died) {
            // The dead_lettered event says the same, when it was recorded.
            out.insert(out.end(), refusals.begin(), refusals.end());
        }
        {
            auto sel = m_db.cached(
                "SELECT status_code, request_id, key_label, completed_ms FROM results WHERE job_id = ?1");
            sel->bind(1, id);
            if (sel->step()) {
                std::string detail = "HTTP " + std::to_string(sel->int32(0));
                if (const std::string key = sel->text(2); !key.empty()) {
                    detail += ", key " + key;
                }
                if (const std::string rid = sel->text(1); !rid.empty()) {
                    detail += ", request " + rid;
                }
                out.push_back({fromMs(sel->int64(3)), "done", detail});
            } else if (j->state == JobState::Done) {
                if (std::optional<TimelineEntry> c = compactedEntryLocked(id)) {
                    out.push_back(std::move(*c));
                }
            }
        }
        t.commit();
        // The death is the last thing of its run, after the attempt and the
        // events that led to it, whatever their clocks say.
        orderTimeline(out);
        return out;
    });
}

Counts JobStore::counts() const
{
    return guarded(m_mutex, "counting jobs", [&] {
        Counts c;
        std::int64_t* const byState[] = {&c.pending, &c.leased, &c.done, &c.dead};  // JobState's order
        auto sel = m_db.cached("SELECT state, n FROM state_counts");
        while (sel->step()) {
            if (const int state = sel->int32(0); state >= 0 && state < 4) {
                *byState[state] = sel->int64(1);
            }
        }
        return c;
    });
}

Counts JobStore::countsBetween(JobId first, JobId last) const
{
    return guarded(m_mutex, "counting jobs", [&] {
        Counts c;
        std::int64_t* const byState[] = {&c.pending, &c.leased, &c.done, &c.dead};  // JobState's order
        auto sel = m_db.cached("SELECT state, count(*) FROM jobs WHERE id BETWEEN ?1 AND ?2 GROUP BY state");
        sel->bind(1, first).bind(2, last);
        while (sel->step()) {
            if (const int state = sel->int32(0); state >= 0 && state < 4) {
                *byState[state] = sel->int64(1);
            }
        }
        return c;
    });
}

std::vector<std::string> JobStore::pendingTenants() const
{
    return guarded(m_mutex, "listing tenants", [&] {
        std::vector<std::string> out;
        // A skip scan over the tenant index: one probe per tenant, however
        // many jobs each has.
        auto sel = m_db.cached(
            "WITH RECURSIVE t(name) AS (SELECT min(tenant) FROM jobs WHERE state = 0 UNION ALL "
            "SELECT (SELECT min(tenant) FROM jobs WHERE state = 0 AND tenant > t.name) FROM t "
            "WHERE t.name IS NOT NULL) SELECT name FROM t WHERE name IS NOT NULL");
        while (sel->step()) {
            out.push_back(sel->text(0));
        }
        return out;
    });
}

std::vector<JobId> JobStore::pendingIds(JobId after, std::size_t limit) const
{
    return guarded(m_mutex, "listing pending jobs", [&] {
        std::vector<JobId> out;
        auto sel = m_db.cached("SELECT id FROM jobs WHERE state = 0 AND id > ?1 ORDER BY id LIMIT ?2");
        sel->bind(1, after).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        while (sel->step()) {
            out.push_back(sel->int64(0));
        }
        return out;
    });
}

std::vector<Outcome> JobStore::outcomes(JobId after, std::size_t limit) const
{
    return guarded(m_mutex, "reading results", [&] {
        std::vector<Outcome> out;
        Transaction t(m_db, TransactionKind::Deferred);
        {
            auto sel = m_db.cached(
                "SELECT j.id, j.custom_id, j.state, r.status_code, r.request_id, r.body, r.key_label, "
                "r.completed_ms FROM jobs j LEFT JOIN results r ON r.job_id = j.id "
                "WHERE j.id > ?1 AND j.state IN (2, 3) ORDER BY j.id LIMIT ?2");
            sel->bind(1, after).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
            while (sel->step()) {
                Outcome o;
                o.id = sel->int64(0);
                o.customId = sel->text(1);
                o.state = static_cast<JobState>(sel->int32(2));
                if (o.state == JobState::Done && sel->isNull(3)) {
                    o.compacted = true;  // the only way a done job has no result row
                } else if (o.state == JobState::Done) {
                    o.result = Result{sel->int32(3), sel->text(5), sel->text(4), sel->text(6), fromMs(sel->int64(7))};
                }
                out.push_back(std::move(o));
            }
        }
        for (Outcome& o : out) {
            if (o.state == JobState::Dead) {
                std::vector<Attempt> a = attemptsLocked(o.id);
                if (!a.empty()) {
                    o.error = std::move(a.back());
                }
            }
        }
        t.commit();
        return out;
    });
}

std::vector<std::string> JobStore::quickCheck() const
{
    return guarded(m_mutex, "checking the database", [&] {
        std::vector<std::string> problems;
        Statement s(m_db, "PRAGMA quick_check");
        while (s.step()) {
            std::string line = s.text(0);
            if (line != "ok") {
                problems.push_back(std::move(line));
            }
        }
        return problems;
    });
}

}  // namespace sluice::store
