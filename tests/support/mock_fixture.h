// What the mock provider's tests share: a mock on a ManualClock that answers
// at once (no latency), and a libcurl client pointed at it.
//
// Thread-safety: a fixture belongs to its test's thread.
#pragma once

#include "mock/mock_provider.h"
#include "support/http_client.h"

#include <nlohmann/json.hpp>

#include <string>

namespace sluice::test {

// The stock configuration with every delay at zero, so tests wait only on
// their own requests.
inline mock::MockConfig quietConfig()
{
    mock::MockConfig c = mock::MockConfig::defaults();
    c.latency.baseMs = 0;
    c.latency.perOutputTokenMs = 0;
    c.latency.firstTokenMs = 0;
    return c;
}

struct MockFixture {
    explicit MockFixture(mock::MockConfig config = quietConfig())
        : mock(clock, std::move(config)), port(mock.start()), http(mock.baseUrl())
    {
    }

    ManualClock clock;
    mock::MockProvider mock;
    std::uint16_t port;
    HttpClient http;
};

inline nlohmann::json parseJson(const std::string& text)
{
    return nlohmann::json::parse(text, nullptr, false);
}

// A small chat completion request body.
inline std::string openAiBody(const std::string& model = "gpt-4o-mini", int maxTokens = 50,
                              const std::string& extra = "")
{
    return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":)" +
           std::to_string(maxTokens) + extra + "}";
}

inline std::string anthropicBody(const std::string& model = "claude-sonnet-4-5", int maxTokens = 50,
                                 const std::string& extra = "")
{
    return R"({"model":")" + model + R"(","max_tokens":)" + std::to_string(maxTokens) +
           R"(,"messages":[{"role":"user","content":"Hello, how are you today?"}])" + extra + "}";
}

}  // namespace sluice::test
