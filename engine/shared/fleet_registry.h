// FleetRegistry: each instance sharing a Redis namespace says who it is and
// how busy it is (id, host, pid, program, start, and at each heartbeat its
// requests and tokens per minute, in flight and queued) in
// `{namespace}:fleet:<id>`, a key that expires: an instance that crashes
// disappears within the expiry without anyone's help. listFleet() reads the
// whole fleet (and forgets ids whose key has lapsed).
//
// FleetLoadMeter turns a dispatcher's cumulative stats into those rates over
// the last minute.
//
// Thread-safety: FleetRegistry's members may be called from any thread; its
// own thread heartbeats (every ttl / 4). FleetLoadMeter: none (one caller,
// the heartbeat). listFleet: one connection per thread.
#pragma once

#include "core/clock.h"
#include "dispatch/dispatch_types.h"
#include "shared/redis_connection.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::shared {

struct FleetLoad {
    double requestsPerMinute = 0;  // requests sent
    double tokensPerMinute = 0;    // input + output tokens reported
    std::int64_t inFlight = 0;
    std::int64_t queued = 0;
};

struct FleetMember {
    std::string id;
    std::string host;
    std::int64_t pid = 0;
    std::string program;          // "sluice-cli worker", "sluice (console)", …
    std::int64_t startedMs = 0;   // wall clock, ms since the epoch
    std::int64_t heartbeatMs = 0;
    FleetLoad load;
};

std::string encodeMember(const FleetMember& m);
std::optional<FleetMember> decodeMember(std::string_view text);

// Every instance of `ns` whose registration has not lapsed, by id.
// Throws RedisError.
std::vector<FleetMember> listFleet(RedisConnection& conn, const std::string& ns);

class FleetLoadMeter {
public:
    FleetLoadMeter(Clock& clock, std::function<DispatcherStats()> stats);
    FleetLoad sample();

private:
    struct Point {
        TimePoint at;
        std::uint64_t requests;
        std::int64_t tokens;
    };
    Clock& m_clock;
    std::function<DispatcherStats()> m_stats;
    std::deque<Point> m_points;
};

class FleetRegistry {
public:
    using Sampler = std::function<FleetLoad()>;
    // Registers at once when Redis answers (else at the next heartbeat).
    // `self`'s load is filled by `sample` at each heartbeat.
    FleetRegistry(RedisEndpoint endpoint, std::string ns, FleetMember self, Clock& clock, Sampler sample,
                  Duration ttl = std::chrono::seconds(4), bool backgroundThread = true);
    // Leaves the fleet (deletes its registration) when Redis answers.
    ~FleetRegistry();
    FleetRegistry(const FleetRegistry&) = delete;
    FleetRegistry& operator=(const FleetRegistry&) = delete;

    // One heartbeat now; returns whether Redis took it.
    bool beat();
    // The fleet as the last heartbeat saw it (0: not yet seen).
    std::size_t lastSize() const;
    bool registered() const;
    const std::string& id() const noexcept { return m_self.id; }

private:
    void run(std::stop_token stop);

    RedisEndpoint m_endpoint;
    std::string m_ns;
    FleetMember m_self;
    Clock& m_clock;
    Sampler m_sample;
    Duration m_ttl;
    mutable std::mutex m_mutex;
    std::unique_ptr<RedisConnection> m_conn;
    std::size_t m_lastSize = 0;
    bool m_registered = false;
    std::mutex m_wakeMutex;
    std::condition_variable_any m_wake;
    std::jthread m_thread;
};

}  // namespace sluice::shared
