#include "store/schema.h"

#include <iterator>
#include <stdexcept>
#include <string>

namespace sluice::store::schema {

namespace {

// Version 1: jobs, their attempts and their results.
//
// jobs.id is the insertion sequence (AUTOINCREMENT, never reused), which is
// the input order results are written in. state: 0 pending, 1 leased,
// 2 done, 3 dead. Times are Unix milliseconds of the injected clock. The
// partial indexes hold only the rows a hot query looks for, so a finished
// job costs them nothing.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    custom_id       TEXT NOT NULL UNIQUE,
    method          TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    model           TEXT NOT NULL DEFAULT '',
    provider        TEXT NOT NULL DEFAULT '',
    priority        INTEGER NOT NULL DEFAULT 0,
    deadline_ms     INTEGER,
    created_ms      INTEGER NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3),
    not_before_ms   INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_expiry_ms INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    finished_ms     INTEGER
);
CREATE INDEX jobs_ready ON jobs (priority DESC, id) WHERE state = 0;
CREATE INDEX jobs_leased ON jobs (lease_expiry_ms) WHERE state = 1;
CREATE INDEX jobs_dead ON jobs (id) WHERE state = 3;

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    error_class TEXT NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    key_label   TEXT NOT NULL DEFAULT '',
    counted     INTEGER NOT NULL DEFAULT 1,
    retry_at_ms INTEGER
);
CREATE INDEX attempts_job ON attempts (job_id);

CREATE TABLE results (
    job_id       INTEGER PRIMARY KEY,
    status_code  INTEGER NOT NULL,
    request_id   TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    key_label    TEXT NOT NULL DEFAULT '',
    completed_ms INTEGER NOT NULL
);
)sql";

// Version 2: tenants for fair scheduling, a timeline of events per job,
// counts by state that cost nothing to read, dead-letter filters on the last
// error, and body edits that keep the body enqueued (the idempotency check
// compares against what was enqueued, so rerunning an input file after an
// edit is still a no-op).
constexpr const char* kVersion2 = R"sql(
ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN original_body TEXT;
ALTER TABLE jobs ADD COLUMN lease_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_error_class TEXT;
ALTER TABLE jobs ADD COLUMN last_key_label TEXT;

UPDATE jobs SET (last_error_class, last_key_label) =
    (SELECT a.error_class, a.key_label FROM attempts a WHERE a.job_id = jobs.id ORDER BY a.id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = jobs.id);

CREATE INDEX jobs_ready_tenant ON jobs (tenant, priority DESC, id) WHERE state = 0;

CREATE TABLE events (
    id     INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    at_ms  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_job ON events (job_id);

-- Kept by triggers in the same transaction as every change of state, so
-- they cannot drift from the rows they count.
CREATE TABLE state_counts (
    state INTEGER PRIMARY KEY,
    n     INTEGER NOT NULL
);
INSERT INTO state_counts (state, n)
    SELECT column1, (SELECT count(*) FROM jobs WHERE state = column1) FROM (VALUES (0), (1), (2), (3));
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
    UPDATE state_counts SET n = n + 1 WHERE state = new.state;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs WHEN old.state <> new.state
BEGIN
    UPDATE state_counts SET n = n - 1 WHERE state = old.state;
    UPDATE state_counts SET n = n + 1 WHERE state = new.state;
END;
)sql";

// Version 3: per-minute metrics rollups (engine/metrics), one row per UTC
// minute and key+model that saw traffic; provider, key, model and global
// figures are sums of these rows. A row is written once per flush and summed
// into when late attempts of the same minute arrive. Counts follow
// metrics::Tally: `failures` is a JSON object of failed attempts by triage
// class ({"rate_limited": 3}); `latency` and `ttft` are JSON objects of
// histogram counts by bucket index, where bucket i < 39 holds latencies up
// to 2^(i/2) ms and bucket 39 the rest.
constexpr const char* kVersion3 = R"sql(
CREATE TABLE metrics_minutes (
    minute_ms               INTEGER NOT NULL,
    provider                TEXT NOT NULL,
    key_label               TEXT NOT NULL,
    model                   TEXT NOT NULL,
    sent                    INTEGER NOT NULL DEFAULT 0,
    completed               INTEGER NOT NULL DEFAULT 0,
    failed                  INTEGER NOT NULL DEFAULT 0,
    retries                 INTEGER NOT NULL DEFAULT 0,
    input_tokens            INTEGER NOT NULL DEFAULT 0,
    output_tokens           INTEGER NOT NULL DEFAULT 0,
    estimated_input_tokens  INTEGER NOT NULL DEFAULT 0,
    estimated_output_tokens INTEGER NOT NULL DEFAULT 0,
    spend_micro_usd         INTEGER NOT NULL DEFAULT 0,
    unpriced                INTEGER NOT NULL DEFAULT 0,
    failures                TEXT NOT NULL DEFAULT '{}',
    latency                 TEXT NOT NULL DEFAULT '{}',
    latency_sum_us          INTEGER NOT NULL DEFAULT 0,
    ttft                    TEXT NOT NULL DEFAULT '{}',
    ttft_sum_us             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_ms, provider, key_label, model)
) WITHOUT ROWID;
)sql";

// Version 4: compaction (JobStore::compact). A compacted done job keeps its
// jobs row (what makes a rerun of its input a no-op) and loses its result,
// attempts and events; each compaction pass records the id range it covered
// and why (the output it followed), so writing an output from the file can
// say which lines are gone and where they went. A build that reads only
// version 3 refuses the file instead of writing empty results.
constexpr const char* kVersion4 = R"sql(
CREATE TABLE compactions (
    id       INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    jobs     INTEGER NOT NULL,
    at_ms    INTEGER NOT NULL,
    note     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compactions_last ON compactions (last_id);
)sql";

constexpr const char* kSteps[] = {kVersion1, kVersion2, kVersion3, kVersion4};
static_assert(std::size(kSteps) == kCurrentVersion);

}  // namespace

void migrate(Database& db, int from, int to)
{
    if (from < 0 || to > kCurrentVersion || from > to) {
        throw std::invalid_argument("schema::migrate: no path from version " + std::to_string(from) + " to " +
                                    std::to_string(to));
    }
    if (!db.inTransaction()) {
        throw std::logic_error("schema::migrate: call it inside a write transaction");
    }
    if (from == 0) {
        db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    }
    for (int v = from; v < to; ++v) {
        try {
            db.exec(kSteps[v]);
        } catch (const StoreError& e) {
            throw e.withContext("migrating the schema from version " + std::to_string(v) + " to " +
                                std::to_string(v + 1));
        }
    }
    db.exec("PRAGMA user_version = " + std::to_string(to));
}

}  // namespace sluice::store::schema
