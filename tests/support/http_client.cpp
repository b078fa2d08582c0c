#include "support/http_client.h"

#include <algorithm>
#include <cctype>

namespace sluice::test {

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\n' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user)
{
    static_cast<HttpResponse*>(user)->body.append(data, size * count);
    return size * count;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user)
{
    auto* response = static_cast<HttpResponse*>(user);
    const std::string_view line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        response->headers.clear();  // a new response (after 100 Continue)
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        response->headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    }
    return size * count;
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const
{
    const std::string key = lower(name);
    for (const auto& [n, v] : headers) {
        if (n == key) {
            return v;
        }
    }
    return std::nullopt;
}

bool HttpResponse::hasHeaderStartingWith(std::string_view prefix) const
{
    const std::string p = lower(prefix);
    return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return h.first.rfind(p, 0) == 0; });
}

std::vector<SseEvent> parseSse(std::string_view body)
{
    std::vector<SseEvent> events;
    SseEvent current;
    bool any = false;
    while (!body.empty()) {
        const auto end = body.find('\n');
        std::string_view line = body.substr(0, end);
        body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            if (any) {
                events.push_back(std::move(current));
            }
            current = SseEvent{};
            any = false;
        } else if (line.rfind("event:", 0) == 0) {
            current.event = std::string(trim(line.substr(6)));
            any = true;
        } else if (line.rfind("data:", 0) == 0) {
            if (!current.data.empty()) {
                current.data += '\n';
            }
            current.data += std::string(trim(line.substr(5)));
            any = true;
        }
    }
    if (any) {
        events.push_back(std::move(current));
    }
    return events;
}

HttpClient::HttpClient(std::string baseUrl) : m_curl(http::makeEasy()), m_base(std::move(baseUrl)) {}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::get(std::string_view path, const Headers& headers)
{
    return request("GET", path, {}, headers);
}

HttpResponse HttpClient::post(std::string_view path, std::string_view body, const Headers& headers)
{
    return request("POST", path, body, headers);
}

HttpResponse HttpClient::request(std::string_view method, std::string_view path, std::string_view body,
                                 const Headers& headers)
{
    CURL* h = m_curl.get();
    curl_easy_reset(h);
    HttpResponse response;
    const std::string url = m_base + std::string(path);
    const std::string verb(method);
    http::HeaderList list;
    for (const auto& [name, value] : headers) {
        list.append(name + ": " + value);
    }
    // libcurl wants C varargs of exact types; the casts say which.
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(m_timeout.count()));
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, static_cast<long>(m_expectTimeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
    if (verb == "POST") {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else if (verb != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
        if (!body.empty()) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        }
    }
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    response.curlCode = curl_easy_perform(h);
    response.error = error;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &response.seconds);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &m_newConnections);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    return response;
}

Headers openAiHeaders(std::string_view key)
{
    return {{"Authorization", "Bearer " + std::string(key)}, {"Content-Type", "application/json"}};
}

Headers anthropicHeaders(std::string_view key)
{
    return {{"x-api-key", std::string(key)}, {"anthropic-version", "2023-06-01"}, {"Content-Type", "application/json"}};
}

}  // namespace sluice::test
