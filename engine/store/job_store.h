// JobStore: the durable job queue of one workspace, an SQLite file in WAL
// mode. Jobs go pending → leased → done | dead; a job is done exactly when
// its result is stored (same transaction), so results are recorded exactly
// once while requests are sent at least once. Every call is one transaction:
// it commits whole or leaves nothing behind. The *Many calls group many
// changes into one commit, which is what keeps throughput high.
//
// Thread-safety: every public member may be called from any thread; one
// mutex serialises them. A call may wait on the disk and, up to the busy
// timeout, on another connection's write lock, so the GUI thread reads
// through its own read-only JobStore (a WAL reader never waits for the
// writer) and leaves writes to a worker thread. Several JobStores, in one
// process or several, may open the same file.
#pragma once

#include "core/clock.h"
#include "store/sqlite.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::store {

// The job's insertion sequence number: input order, stable, never reused.
using JobId = std::int64_t;

enum class JobState : std::uint8_t { Pending = 0, Leased = 1, Done = 2, Dead = 3 };
std::string_view jobStateName(JobState state) noexcept;

enum class Durability : std::uint8_t {
    // synchronous=NORMAL: a commit survives a crash or kill -9 of the process;
    // a power cut or OS crash may lose the last commits, never consistency.
    Normal,
    // synchronous=FULL: every commit is on disk before it returns.
    Full,
};

struct StoreOptions {
    bool readOnly = false;
    Durability durability = Durability::Normal;
    std::chrono::milliseconds busyTimeout = std::chrono::seconds(5);
    // Caps the file at this many pages (PRAGMA max_page_count). A quota, and
    // how tests simulate a full disk.
    std::optional<std::int64_t> maxPageCount;
};

struct NewJob {
    std::string customId;  // idempotency key, unique in the store
    std::string method = "POST";
    std::string url;
    std::string body;  // request body, JSON text, compared byte for byte
    std::string model;
    std::string providerHint;
    std::string tenant;
    int priority = 0;  // higher first
    std::optional<WallTime> deadline;
    std::optional<WallTime> notBefore;
};

enum class EnqueueStatus : std::uint8_t {
    Added,
    Duplicate,  // same custom_id, same method, url and body: nothing changed
    Conflict,   // same custom_id, different request: nothing changed; reject the input
};

struct EnqueueResult {
    JobId id = 0;  // the new or the existing job
    EnqueueStatus status = EnqueueStatus::Added;
};

struct Job {
    JobId id = 0;
    std::string customId;
    std::string method;
    std::string url;
    std::string body;  // the current body (after an edit, the edited one)
    bool edited = false;
    std::string model;
    std::string providerHint;
    std::string tenant;
    int priority = 0;
    std::optional<WallTime> deadline;
    WallTime created{};
    JobState state = JobState::Pending;
    WallTime notBefore{};
    std::string leaseOwner;  // empty unless leased
    std::optional<WallTime> leaseExpiry;
    int leaseCount = 0;  // times leased: a job that kills its worker shows here
    int attempts = 0;    // counted attempts since enqueue or the last requeue
    std::optional<WallTime> finished;
    std::string lastErrorClass;
    std::string lastKeyLabel;
};

// One failed try. errorClass is the dispatcher's triage class
// ("rate_limited", "server_error", "timeout", ...), free text to the store.
struct Attempt {
    std::string errorClass;
    int httpStatus = 0;  // 0: no HTTP response (timeout, connection reset)
    std::string message;
    std::string keyLabel;  // the key's label from the config, never the key
    bool counted = true;   // false: does not use up one of the job's attempts
    std::optional<WallTime> at;  // when it ended; now when not given
    std::optional<WallTime> retryAt;  // filled in when read back
};

struct Result {
    int statusCode = 200;
    std::string body;  // response body, JSON text
    std::string requestId;
    std::string keyLabel;
    WallTime completed{};  // filled in when read back
};

struct Completion {
    JobId id = 0;
    Result result;
};

struct Retry {
    JobId id = 0;
    std::string owner;
    Attempt attempt;
    WallTime notBefore{};
};

struct Failure {
    JobId id = 0;
    // The lease holder; empty fails a pending or leased job whoever holds it
    // (cancellation).
    std::string owner;
    Attempt attempt;
};

// A line of a job's timeline written by the dispatcher ("waited", "sent").
struct Note {
    JobId id = 0;
    std::string kind;
    std::string detail;
    std::optional<WallTime> at;  // now when not given
};

// A failed try recorded without moving the job: the dispatcher retries in
// memory and reports earlier attempts along with the final outcome.
struct AttemptLog {
    JobId id = 0;
    Attempt attempt;
};

// Changes applied in one transaction (group commit). Each list's results
// say, element by element, whether that change applied. Attempt logs are
// written first, so a job's final attempt (in a failure) comes last.
struct Updates {
    std::vector<AttemptLog> attempts;
    std::vector<Completion> completions;
    std::vector<Retry> retries;
    std::vector<Failure> failures;
    std::vector<Note> notes;
};

struct UpdateResults {
    std::vector<bool> completed;  // false: the job already had its result
    std::vector<bool> retried;    // false: the caller no longer held the lease
    std::vector<bool> failed;     // false: not held by owner / already finished
};

struct LeaseRequest {
    std::string owner;
    std::size_t max = 1;
    std::chrono::milliseconds duration = std::chrono::minutes(1);
    std::optional<std::string> tenant;  // only this tenant's jobs
    // None of these models' jobs (a caller keeping one model from taking
    // every slot it has: QueueRunner's fair share).
    std::vector<std::string> skipModels = {};
};

struct Counts {
    std::int64_t pending = 0;
    std::int64_t leased = 0;  // includes expired leases not yet reclaimed
    std::int64_t done = 0;
    std::int64_t dead = 0;
    std::int64_t total() const noexcept { return pending + leased + done + dead; }
};

// Every field set narrows the selection; errorClass and keyLabel match the
// attempt that killed the job; the time range is on when it died.
struct DeadLetterFilter {
    std::optional<std::string> errorClass;
    std::optional<std::string> keyLabel;
    std::optional<std::string> model;
    std::optional<WallTime> diedFrom;  // inclusive
    std::optional<WallTime> diedTo;    // exclusive
};

struct DeadLetter {
    Job job;
    std::vector<Attempt> attempts;  // oldest first, including earlier runs before a requeue
};

// A finished job as results.jsonl needs it: a result when done, the last
// error when dead.
struct Outcome {
    JobId id = 0;
    std::string customId;
    JobState state = JobState::Done;
    std::optional<Result> result;
    std::optional<Attempt> error;
    // Done, but compact() dropped its result (after its output was written):
    // no output line can be written from the store any more.
    bool compacted = false;
};

// What compact() may drop: the result, attempts and timeline of the done
// jobs with ids in [first, last]. Dead, pending and leased jobs are kept
// whole (a requeue, --explain and the dead-letter views need them), and so is
// every jobs row (custom_id, request, state: what makes enqueueing the same
// input again a no-op and a changed one a conflict) and the metrics rollups.
struct CompactRequest {
    JobId first = 1;
    JobId last = INT64_MAX;
    // Why, kept with the pass and shown in place of what went ("after writing
    // out.jsonl"): where the dropped results are now.
    std::string note;
    // Jobs per transaction: bounds the write-ahead log, and a kill loses at
    // most the chunk in progress (it rolls back; the ones before stay done).
    std::size_t chunk = 5000;
    // Then give the freed pages back to the file system (VACUUM, itself one
    // transaction: a kill leaves the file as it was before it).
    bool reclaim = true;
    // After each committed chunk: the last id it covered and the jobs
    // compacted so far. A throw stops the compaction there (committed chunks
    // stay compacted) and is passed on.
    std::function<void(JobId throughId, std::int64_t jobsSoFar)> onChunk = {};
};

struct CompactReport {
    std::int64_t jobs = 0;  // done jobs whose result went
    std::uintmax_t bytesBefore = 0;  // the file and its write-ahead log
    std::uintmax_t bytesAfter = 0;
};

// One compaction pass over one chunk, as recorded.
struct Compaction {
    JobId first = 0;
    JobId last = 0;
    std::int64_t jobs = 0;
    WallTime at{};
    std::string note;
};

struct TimelineEntry {
    WallTime at{};
    // queued, attempt, done, dead, requeued, edited, lease_expired, or a
    // Note's kind.
    std::string kind;
    std::string detail;
};

// Opens the workspace database as every store of it does: WAL and the
// durability asked for, checked to be a Sluice store of a schema this build
// reads, an older schema migrated (needs write access). The job store and
// the metrics rollups each open their own connection this way. Throws
// StoreError with `operation` ("opening the job store") in front.
Database openWorkspaceDatabase(const std::filesystem::path& file, const StoreOptions& options,
                               std::string_view operation);

class JobStore {
public:
    // Opens or creates the store, creating missing directories, and migrates
    // an older schema. Throws StoreError: too new a schema (TooNew), not a
    // Sluice store (NotADatabase), corrupted, read-only, locked.
    JobStore(std::filesystem::path file, const Clock& clock, StoreOptions options = {});
    JobStore(const JobStore&) = delete;
    JobStore& operator=(const JobStore&) = delete;
    ~JobStore();

    const std::filesystem::path& file() const noexcept { return m_file; }

    // Enqueueing an existing custom_id changes nothing (see EnqueueStatus).
    // Throws std::invalid_argument for an empty custom_id or url.
    EnqueueResult enqueue(const NewJob& job);
    std::vector<EnqueueResult> enqueueMany(std::span<const NewJob> jobs);

    // Leases up to max ready jobs (pending, not_before ≤ now), highest
    // priority first, then oldest, after returning expired leases to pending.
    // Deadlines are the caller's to enforce: fail() a job leased too late.
    [[nodiscard]] std::vector<Job> lease(const LeaseRequest& request);
    // New expiry = now + duration. False when owner no longer holds the job.
    bool extendLease(JobId id, std::string_view owner, std::chrono::milliseconds duration);
    // Every lease owner holds: the dispatcher's heartbeat.
    std::size_t extendLeases(std::string_view owner, std::chrono::milliseconds duration);
    // Back to pending with no attempt recorded (shutdown, not admitted yet).
    bool releaseLease(JobId id, std::string_view owner);
    std::size_t releaseLeases(std::string_view owner);
    // For a process that knows it is the store's only user, at start-up: a
    // crashed predecessor's leases need not wait out their expiry.
    std::size_t releaseAllLeases();
    std::size_t reclaimExpiredLeases();

    // Stores the result and marks the job done, unless it already has a
    // result or does not exist (then false and nothing changes). An answer
    // still counts when its worker's lease expired or the job was failed
    // meanwhile: the request was sent and answered.
    bool complete(const Completion& completion);
    // Back to pending not before notBefore, with the attempt recorded.
    bool retry(const Retry& retry);
    // To the dead-letter set, with the attempt recorded.
    bool fail(const Failure& failure);
    void addNote(const Note& note);
    std::vector<bool> completeMany(std::span<const Completion> completions);
    UpdateResults recordMany(const Updates& updates);

    // Dead letters in id order after `after`.
    std::vector<DeadLetter> deadLetters(const DeadLetterFilter& filter = {}, std::size_t limit = 100,
                                        JobId after = 0) const;
    // Back to pending, now, with a fresh attempt budget (the history stays).
    bool requeue(JobId id);
    std::size_t requeueDead(const DeadLetterFilter& filter = {});
    // Replaces a dead job's body (and model, when given) and requeues it.
    // The body enqueued first is kept for the idempotency check.
    bool editAndRequeue(JobId id, std::string_view body, std::optional<std::string_view> model = std::nullopt);

    std::optional<Job> job(JobId id) const;
    std::optional<Job> findByCustomId(std::string_view customId) const;
    std::optional<Result> result(JobId id) const;
    std::vector<Attempt> attempts(JobId id) const;
    std::vector<TimelineEntry> timeline(JobId id) const;
    Counts counts() const;
    // The jobs with ids in [first, last] by state: one range scan of the
    // primary key, no bodies read (a batch's progress).
    Counts countsBetween(JobId first, JobId last) const;
    // Tenants with pending jobs, in name order (for fair leasing).
    std::vector<std::string> pendingTenants() const;
    // Pending jobs' ids in id order after `after`, ready or waiting for a
    // retry (not_before later than now): all a held queue holds back.
    std::vector<JobId> pendingIds(JobId after = 0, std::size_t limit = 1000) const;
    // Done and dead jobs in input order after `after`: page through them to
    // write one results line per custom_id.
    std::vector<Outcome> outcomes(JobId after = 0, std::size_t limit = 1000) const;
    // Drops what only an unwritten output still needs (CompactRequest) and
    // reclaims the space. Call it once the output holding those jobs' results
    // is safely written: their results are gone from the store afterwards.
    // Needs no other write transaction open on the file (VACUUM); readers may
    // stay. Defined in job_store_compaction.cpp.
    CompactReport compact(const CompactRequest& request);
    // Done jobs in [first, last] whose result was compacted away.
    std::int64_t compactedBetween(JobId first, JobId last) const;
    // The compaction passes that covered an id in [first, last], in order.
    std::vector<Compaction> compactions(JobId first = 1, JobId last = INT64_MAX) const;

    // PRAGMA quick_check: empty when the file is sound, else the problems;
    // throws StoreError (Corrupt) when it is too damaged to check.
    std::vector<std::string> quickCheck() const;

private:
    std::int64_t nowMs() const;
    void requireWritable() const;
    std::vector<Attempt> attemptsLocked(JobId id) const;
    std::optional<Job> jobWhere(std::string_view sql, JobId id, std::string_view customId) const;
    std::size_t requeueLocked(const DeadLetterFilter& filter, std::optional<JobId> only);
    std::size_t reclaimLocked(std::int64_t now);
    // Runs one statement in its own write transaction; returns rows changed.
    std::int64_t writeOne(std::string_view sql, const std::function<void(Statement&)>& bind);
    UpdateResults record(std::span<const AttemptLog> attempts, std::span<const Completion> completions,
                         std::span<const Retry> retries, std::span<const Failure> failures,
                         std::span<const Note> notes);
    UpdateResults recordLocked(std::span<const AttemptLog> attempts, std::span<const Completion> completions,
                               std::span<const Retry> retries, std::span<const Failure> failures,
                               std::span<const Note> notes);
    EnqueueResult enqueueLocked(const NewJob& job, std::int64_t now);
    // recordLocked's steps, each inside the caller's transaction.
    void insertAttemptLocked(JobId id, const Attempt& a, std::optional<std::int64_t> retryAt, std::int64_t now);
    bool completeLocked(const Completion& c, std::int64_t now);
    bool failedAttemptLocked(std::string_view sql, JobId id, const std::string& owner, const Attempt& a,
                             std::int64_t time, std::optional<std::int64_t> retryAt, std::int64_t now);
    std::int64_t compactChunkLocked(JobId first, JobId last, const std::string& note);
    // The note of the pass that compacted done job `id`, when one did.
    std::optional<TimelineEntry> compactedEntryLocked(JobId id) const;

    std::filesystem::path m_file;
    const Clock& m_clock;
    StoreOptions m_options;
    mutable std::mutex m_mutex;
    mutable Database m_db;
};

}  // namespace sluice::store
