// SharedQueue: the job queue of a namespace, a Redis Stream every instance
// works on, like a cloud queue with many workers. Jobs are entries of
// `{ns}:jobs`, read through one consumer group; an instance leases entries
// under its own consumer name (XREADGROUP), keeps them by renewing them, and
// takes over a dead instance's entries once they have sat idle longer than
// the lease time (XAUTOCLAIM). A result is accepted exactly once: the
// completion script stores it and acknowledges the entry only while the
// caller still holds that entry (its XPENDING owner), so a worker whose
// lease was taken over cannot store a second result. Failed jobs become dead
// letters in the namespace (`{ns}:dead`), which any instance can list,
// requeue or edit and requeue. Enqueueing is idempotent by custom_id
// (`{ns}:ids`): a second enqueue of the same request changes nothing.
//
// Requests are sent at least once (a worker killed after sending and before
// completing leaves its entry to be taken over); results are recorded
// exactly once.
//
// Thread-safety: every public member may be called from any thread; one
// mutex serialises the object's single connection. A call that finds Redis
// gone throws RedisError, and the next call reconnects.
#pragma once

#include "shared/redis_connection.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluice::shared {

// A job as it travels through the stream.
struct QueuedJob {
    std::string customId;
    std::string url;   // the request path (providers/protocol.h routeOfPath)
    std::string body;  // the request body, JSON text
    std::string model;
    std::string provider;
    std::string tenant;
    int priority = 0;
    std::optional<std::int64_t> deadlineWallMs;  // unix ms
};

std::string encodeQueuedJob(const QueuedJob& job);
// Throws std::invalid_argument for text that is not an encoded job.
QueuedJob decodeQueuedJob(const std::string& text);

// What a job ended with: a response, or (dead) the error that killed it.
struct SharedResult {
    bool dead = false;
    int statusCode = 0;  // the response's HTTP status (0: none)
    std::string body;    // the response body (completed jobs)
    std::string requestId;
    std::string keyLabel;  // the key's name, never its value
    std::string errorClass;  // dead: the dispatcher's failure class
    std::string message;
    std::string by;  // the consumer that recorded it
};

std::string encodeSharedResult(const SharedResult& r);
SharedResult decodeSharedResult(const std::string& text);

struct LeasedEntry {
    std::string entryId;  // the stream entry, which the lease is on
    QueuedJob job;
    bool takenOver = false;  // claimed from a consumer whose lease lapsed
    std::int64_t deliveries = 1;  // times leased, this one included
};

enum class SharedEnqueue : std::uint8_t {
    Added,
    Duplicate,  // the same custom_id with the same url and body: nothing changed
    Conflict,   // the same custom_id with another request: nothing changed
};

struct SharedDeadLetter {
    QueuedJob job;
    SharedResult error;
};

struct SharedQueueCounts {
    std::int64_t queued = 0;   // in the stream: not yet finished (leased or not)
    std::int64_t leased = 0;   // of which held by some consumer
    std::int64_t done = 0;
    std::int64_t dead = 0;
};

class SharedQueue {
public:
    // Connects and creates the consumer group when missing; throws RedisError.
    SharedQueue(RedisEndpoint endpoint, std::string ns, std::string consumer);
    SharedQueue(const SharedQueue&) = delete;
    SharedQueue& operator=(const SharedQueue&) = delete;

    const std::string& consumer() const noexcept { return m_consumer; }
    const std::string& streamKey() const noexcept { return m_stream; }

    std::vector<SharedEnqueue> enqueueMany(std::span<const QueuedJob> jobs);
    SharedEnqueue enqueue(const QueuedJob& job);

    // Up to max entries for this consumer: first entries other consumers
    // have left idle for at least `lease` (taken over), then new ones.
    std::vector<LeasedEntry> lease(std::size_t max, std::chrono::milliseconds lease);
    // Resets the idle time of the entries this consumer still holds; returns
    // the entry ids it no longer holds (taken over by another consumer).
    std::vector<std::string> renew(const std::vector<std::string>& entryIds);
    // Stores the result and acknowledges the entry if this consumer holds
    // it and the custom_id has no result yet; false changes nothing.
    bool complete(const std::string& entryId, const std::string& customId, const SharedResult& result);
    // The same for a dead letter: the error is the result, and the job is
    // kept in the dead-letter set.
    bool deadLetter(const std::string& entryId, const QueuedJob& job, SharedResult error);
    // Gives an entry this consumer holds back to the queue at once (a new
    // entry with the same job, so it need not wait out its lease).
    bool release(const std::string& entryId);
    // Removes this consumer's name from the group if it holds nothing (so
    // names of finished processes do not pile up); false if it still holds
    // entries, which then wait for a takeover.
    bool leave();

    // Results by custom_id, nullopt where there is none yet.
    std::vector<std::optional<SharedResult>> results(const std::vector<std::string>& customIds);
    std::vector<SharedDeadLetter> deadLetters();
    // Back to the queue with its result cleared; with a body (and model),
    // edited first. The body first enqueued stays the idempotency check.
    // False when the custom_id is not a dead letter.
    bool requeue(const std::string& customId, std::optional<std::string> body = std::nullopt,
                 std::optional<std::string> model = std::nullopt);
    SharedQueueCounts counts();

private:
    RedisConnection& conn();
    RedisReply eval(const std::string& script, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args);
    std::vector<LeasedEntry> entriesOf(const redisReply* list, bool takenOver);

    RedisEndpoint m_endpoint;
    std::string m_ns;
    std::string m_consumer;
    std::string m_stream;
    std::string m_ids;
    std::string m_results;
    std::string m_dead;
    std::string m_group = "sluice";
    std::string m_claimCursor = "0-0";
    std::mutex m_mutex;
    std::unique_ptr<RedisConnection> m_conn;
};

}  // namespace sluice::shared
