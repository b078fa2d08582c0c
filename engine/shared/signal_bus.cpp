#include "shared/signal_bus.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include <poll.h>

namespace sluice::shared {

namespace {

constexpr std::string_view kKinds[] = {"cool_down", "quarantine", "limits_learned", "limits_changed"};

}  // namespace

std::int64_t wallUsNow()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string encodeSignal(const SharedSignal& s)
{
    nlohmann::json j{{"kind", kKinds[static_cast<int>(s.kind)]},
                     {"provider", s.provider},
                     {"key", s.key},
                     {"model", s.model},
                     {"until_ms", s.untilWallMs},
                     {"origin", s.origin},
                     {"sent_us", s.sentWallUs},
                     {"reason", s.reason},
                     {"version", s.version}};
    if (!s.limitsJson.empty()) {
        j["limits"] = nlohmann::json::parse(s.limitsJson, nullptr, false);
    }
    return j.dump();
}

std::optional<SharedSignal> decodeSignal(std::string_view text)
{
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
        return std::nullopt;
    }
    SharedSignal s;
    bool known = false;
    for (int i = 0; i < 4; ++i) {
        if (j["kind"].get<std::string>() == kKinds[i]) {
            s.kind = static_cast<SharedSignal::Kind>(i);
            known = true;
        }
    }
    if (!known) {
        return std::nullopt;
    }
    s.provider = j.value("provider", "");
    s.key = j.value("key", "");
    s.model = j.value("model", "");
    s.untilWallMs = j.value("until_ms", std::int64_t{0});
    s.origin = j.value("origin", "");
    s.sentWallUs = j.value("sent_us", std::int64_t{0});
    s.reason = j.value("reason", "");
    s.version = j.value("version", std::int64_t{0});
    if (j.contains("limits") && !j["limits"].is_discarded()) {
        s.limitsJson = j["limits"].dump();
    }
    return s;
}

SignalBus::SignalBus(RedisEndpoint endpoint, std::string ns, std::string instanceId, Handler onSignal)
    : m_endpoint(std::move(endpoint)),
      m_channel("{" + ns + "}:signals"),
      m_instanceId(std::move(instanceId)),
      m_onSignal(std::move(onSignal))
{
    m_thread = std::jthread([this](std::stop_token stop) { run(stop); });
}

SignalBus::~SignalBus()
{
    m_thread.request_stop();
    m_thread.join();
}

bool SignalBus::publish(SharedSignal signal)
{
    signal.origin = m_instanceId;
    signal.sentWallUs = wallUsNow();
    const std::string text = encodeSignal(signal);
    std::lock_guard guard(m_publishMutex);
    for (int attempt = 0; attempt < 2; ++attempt) {
        try {
            if (!m_publisher) {
                m_publisher = std::make_unique<RedisConnection>(m_endpoint);
            }
            m_publisher->checked({"PUBLISH", m_channel, text});
            return true;
        } catch (const RedisError&) {
            m_publisher.reset();  // a stale connection: one fresh try
        }
    }
    return false;
}

void SignalBus::run(std::stop_token stop)
{
    while (!stop.stop_requested()) {
        try {
            RedisConnection sub(m_endpoint);
            sub.checked({"SUBSCRIBE", m_channel});
            m_subscribed = true;
            while (!stop.stop_requested()) {
                pollfd p{sub.fd(), POLLIN, 0};
                // Short, so stopping never waits long.
                const int ready = ::poll(&p, 1, 50);
                if (ready <= 0) {
                    continue;
                }
                // One read of the socket, then every complete reply it held.
                for (auto reply = sub.pollReply(true); reply; reply = sub.pollReply(false)) {
                    if (reply->size() == 3 && reply->stringAt(0) == "message") {
                        const auto s = decodeSignal(reply->stringAt(2));
                        if (s && s->origin != m_instanceId && m_onSignal) {
                            m_onSignal(*s);
                        }
                    }
                }
            }
        } catch (const RedisError&) {
            m_subscribed = false;
            for (int i = 0; i < 4 && !stop.stop_requested(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
    m_subscribed = false;
}

}  // namespace sluice::shared
