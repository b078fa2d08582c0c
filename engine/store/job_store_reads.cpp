// JobStore's reads and dead-letter handling (job_store.h); the writes that
// move jobs through their states are in job_store.cpp.
#include "store/job_store.h"
#include "store/job_store_rows.h"
#include "store/timeline_order.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <utility>

namespace sluice::store {

using namespace rows;

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
