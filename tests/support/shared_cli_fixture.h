// What the tests that run the real sluice-cli with "shared" share: an
// in-process mock on the system clock that knows one key and enforces no
// limits, a real redis-server beside it, the environment that hands the key
// to the child process, and the pieces of its configuration and batch input.
//
// Thread-safety: none; use from the test's thread.
#pragma once

#include "core/clock.h"
#include "mock/mock_provider.h"
#include "support/redis_server.h"

#include <QProcessEnvironment>
#include <QString>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace sluice::testing {

class SharedCliFixture {
public:
    // `key` is the only key the mock accepts; it reaches sluice-cli through
    // the environment variable `keyEnv`. `latencyMs` is the mock's time to
    // answer. Throws when the mock or redis-server cannot start.
    SharedCliFixture(std::string key, std::string keyEnv, int latencyMs)
        : m_key(std::move(key)), m_keyEnv(std::move(keyEnv))
    {
        mock::MockConfig mc = mock::MockConfig::defaults();
        mc.keys.clear();
        mc.keys[m_key] = mock::MockKey{};
        mc.limitsEnabled = false;
        mc.latency.baseMs = latencyMs;
        mc.latency.perOutputTokenMs = 0;
        mc.latency.firstTokenMs = 0;
        m_mock = std::make_unique<mock::MockProvider>(m_clock, mc);
        m_mockPort = m_mock->start();
        m_redis = std::make_unique<RedisServerFixture>();
    }
    ~SharedCliFixture()
    {
        // Redis first, then the mock, as the tests always tore them down.
        m_redis.reset();
        m_mock.reset();
    }
    SharedCliFixture(const SharedCliFixture&) = delete;
    SharedCliFixture& operator=(const SharedCliFixture&) = delete;

    std::uint16_t mockPort() const noexcept { return m_mockPort; }
    RedisServerFixture& redis() { return *m_redis; }

    // The system environment plus the key under its variable.
    QProcessEnvironment environment() const
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QString::fromStdString(m_keyEnv), QString::fromStdString(m_key));
        return env;
    }

    // The one provider, "mock", with the key "team-key" and gpt-4o-mini
    // under `limits`.
    nlohmann::json providers(const nlohmann::json& limits) const
    {
        return nlohmann::json::array({{{"name", "mock"},
                                       {"flavor", "openai"},
                                       {"base_url", "http://127.0.0.1:" + std::to_string(m_mockPort)},
                                       {"models", {{"gpt-4o-mini", {{"limits", limits}}}}},
                                       {"keys", nlohmann::json::array({{{"name", "team-key"}, {"env", m_keyEnv}}})}}});
    }

private:
    std::string m_key;
    std::string m_keyEnv;
    SystemClock m_clock;
    std::unique_ptr<mock::MockProvider> m_mock;
    std::uint16_t m_mockPort = 0;
    std::unique_ptr<RedisServerFixture> m_redis;
};

// One line of batch input: a chat completion for gpt-4o-mini.
inline std::string chatBatchLine(const std::string& customId, int maxTokens, const std::string& content)
{
    return nlohmann::json{{"custom_id", customId},
                          {"method", "POST"},
                          {"url", "/v1/chat/completions"},
                          {"body",
                           {{"model", "gpt-4o-mini"},
                            {"max_tokens", maxTokens},
                            {"messages", nlohmann::json::array({{{"role", "user"}, {"content", content}}})}}}}
               .dump() +
           "\n";
}

}  // namespace sluice::testing
