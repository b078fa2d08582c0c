// A small blocking libcurl client for tests that talk HTTP to an in-process
// server over loopback: one easy handle (so connections are reused, as a
// real client's are) in the engine's RAII wrappers, and a parser for
// server-sent events.
//
// Thread-safety: an HttpClient belongs to one thread at a time.
#pragma once

#include "http/curl_handles.h"

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    CURLcode curlCode = CURLE_OK;  // CURLE_OK when the exchange completed
    std::string error;             // curl's message otherwise
    long status = 0;
    Headers headers;               // names in lower case, in arrival order
    std::string body;              // what arrived, even when cut off
    double seconds = 0;            // total time

    bool completed() const noexcept { return curlCode == CURLE_OK; }
    std::optional<std::string> header(std::string_view name) const;
    bool hasHeaderStartingWith(std::string_view prefix) const;
};

struct SseEvent {
    std::string event;  // empty when the frame names none (OpenAI)
    std::string data;
};
// Splits a text/event-stream body into its frames.
std::vector<SseEvent> parseSse(std::string_view body);

class HttpClient {
public:
    explicit HttpClient(std::string baseUrl);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    HttpResponse get(std::string_view path, const Headers& headers = {});
    HttpResponse post(std::string_view path, std::string_view body, const Headers& headers = {});
    HttpResponse request(std::string_view method, std::string_view path, std::string_view body,
                         const Headers& headers);

    // The whole exchange's limit (CURLOPT_TIMEOUT_MS); 10 s by default.
    void setTimeout(std::chrono::milliseconds timeout) { m_timeout = timeout; }
    // How long curl waits for "100 Continue" before sending a body anyway
    // (CURLOPT_EXPECT_100_TIMEOUT_MS; curl's default is 1 s).
    void setExpectContinueTimeout(std::chrono::milliseconds timeout) { m_expectTimeout = timeout; }
    // Connections opened by the last request (0 when it reused one).
    long lastNewConnections() const noexcept { return m_newConnections; }

private:
    http::EasyHandle m_curl;
    std::string m_base;
    std::chrono::milliseconds m_timeout{10'000};
    std::chrono::milliseconds m_expectTimeout{1'000};
    long m_newConnections = 0;
};

// Headers the two dialects expect, with a JSON body.
Headers openAiHeaders(std::string_view key = "sk-mock");
Headers anthropicHeaders(std::string_view key = "sk-mock");

}  // namespace sluice::test
