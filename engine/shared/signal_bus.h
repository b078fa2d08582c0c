// SignalBus: what one instance learns about a provider, told to every other
// instance of the namespace at once over a Redis pub/sub channel: a 429
// cool-down, a quarantined key, a limit learned or narrowed from headers, a
// limit an operator changed. Delivery is best effort and immediate (pub/sub
// keeps nothing): an instance that was away acts on the next signal, and the
// budgets themselves stay correct without signals, since they live in Redis.
//
// Thread-safety: publish() may be called from any thread. The handler runs
// on the bus's own thread, one signal at a time; it must not block long and
// must not destroy the bus.
#pragma once

#include "shared/redis_connection.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace sluice::shared {

struct SharedSignal {
    enum class Kind : std::uint8_t { CoolDown, Quarantine, LimitsLearned, LimitsChanged };
    Kind kind = Kind::CoolDown;
    // Names as the configuration gives them (a key's name, never its value).
    std::string provider;
    std::string key;
    std::string model;
    std::int64_t untilWallMs = 0;  // CoolDown, Quarantine: until when (0: until told)
    std::string limitsJson;        // LimitsLearned, LimitsChanged: the limits, as in the config
    std::string reason;            // Quarantine: why
    std::int64_t version = 0;      // LimitsChanged: a later change has a higher one
    std::string origin;            // the sending instance (set by publish)
    std::int64_t sentWallUs = 0;   // set by publish, for latency figures
};

std::string encodeSignal(const SharedSignal& s);
// Microseconds since the epoch on the system clock: what sentWallUs holds, so
// that instances on different machines can compare it.
std::int64_t wallUsNow();
std::optional<SharedSignal> decodeSignal(std::string_view text);

class SignalBus {
public:
    using Handler = std::function<void(const SharedSignal&)>;

    // Subscribes at once (in the background; subscribed() tells when) and
    // keeps reconnecting while Redis is away. Signals this instance sent are
    // not handed back to it.
    SignalBus(RedisEndpoint endpoint, std::string ns, std::string instanceId, Handler onSignal);
    ~SignalBus();
    SignalBus(const SignalBus&) = delete;
    SignalBus& operator=(const SignalBus&) = delete;

    // False when Redis could not be reached (the signal is not kept); then
    // it may have waited up to two connection timeouts (0.5 s by default).
    bool publish(SharedSignal signal);
    bool subscribed() const noexcept { return m_subscribed.load(); }
    const std::string& channel() const noexcept { return m_channel; }

private:
    void run(std::stop_token stop);

    RedisEndpoint m_endpoint;
    std::string m_channel;
    std::string m_instanceId;
    Handler m_onSignal;
    std::mutex m_publishMutex;
    std::unique_ptr<RedisConnection> m_publisher;
    std::atomic<bool> m_subscribed{false};
    std::jthread m_thread;
};

}  // namespace sluice::shared
