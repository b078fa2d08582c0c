// SharedDirectory: a small key-value map in a Redis namespace that every
// instance of it reads and writes: what one instance learned that another
// needs to serve the same client (the gateway: which provider key made a
// stored response, so a continuation that a load balancer sends to another
// gateway still goes on that key). put() and erase() return at once and go
// out on a thread of their own; get() waits one round trip, at most the
// endpoint's timeout, and answers nullopt when Redis cannot be reached (the
// caller then does as it would without the directory); after a failure it
// asks again only once kRetryAfter has passed, so an outage costs a caller
// one timeout, not one per lookup. lookup() is get() on a second thread of
// its own, answering through a callback, for callers that must not wait
// (the gateway's event loop): at most kMaxLookups wait, past that (or
// within kRetryAfter of a failure) the answer is nullopt at once. Redis
// keys: "{NS}:dir:SECTION:NAME", each with a time to live.
//
// Thread-safety: every member from any thread.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "core/remote_store.h"
#include "shared/redis_connection.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace sluice::shared {

class SharedDirectory {
public:
    static constexpr Duration kRetryAfter = std::chrono::seconds(5);
    static constexpr std::size_t kMaxLookups = 1'000;

    SharedDirectory(Clock& clock, RedisEndpoint endpoint, const std::string& ns, const std::string& section,
                    std::chrono::seconds ttl);
    ~SharedDirectory();
    SharedDirectory(const SharedDirectory&) = delete;
    SharedDirectory& operator=(const SharedDirectory&) = delete;

    void put(const std::string& name, std::string value);
    void erase(const std::string& name);
    std::optional<std::string> get(const std::string& name);
    // get() on the lookup thread, then done(value) there; done(nullopt) on
    // the caller's thread when Redis is known to be unreachable, too many
    // lookups wait, or lookups were closed.
    void lookup(const std::string& name, RemoteStore::Answer done);
    // No lookup answers after this returns; those waiting are dropped
    // uncalled. The destructor closes lookups too. Not from within a
    // lookup's callback.
    void closeLookups();
    // Waits until every put and erase made so far was sent (or dropped,
    // Redis being unreachable or the queue full).
    void flush();

private:
    struct Op {
        std::string key;
        std::optional<std::string> value;  // nullopt: erase
    };
    // Past 10,000 unsent writes a new one is dropped.
    void enqueue(Op op);
    void writeLoop();
    // Sends `op` on the writer's connection, connecting first when needed.
    void send(const Op& op);
    void lookupLoop();
    bool readable();  // not within kRetryAfter of a failed read

    Clock& m_clock;
    RedisEndpoint m_endpoint;
    std::string m_prefix;
    std::chrono::seconds m_ttl;

    std::mutex m_readMutex;
    std::optional<RedisConnection> m_reader;
    TimePoint m_readRetryAt{};  // after a failure, no lookup before this

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<Op> m_ops;
    std::size_t m_inFlight = 0;
    bool m_stop = false;
    std::optional<RedisConnection> m_writer;  // the writer thread's alone
    std::thread m_thread;

    std::mutex m_lookupMutex;
    std::condition_variable m_lookupCv;
    std::deque<std::pair<std::string, RemoteStore::Answer>> m_lookups;
    bool m_lookupsClosed = false;
    std::thread m_lookupThread;
};

// A SharedDirectory of `shared`'s namespace behind a RemoteStore (the
// functions keep it alive).
RemoteStore sharedDirectoryStore(Clock& clock, const SharedConfig& shared, const std::string& section,
                                 std::chrono::seconds ttl);

}  // namespace sluice::shared
