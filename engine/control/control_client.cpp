#include "control/control_client.h"

#include "core/json_source.h"

#include <curl/curl.h>

namespace sluice::control {

using nlohmann::json;

namespace {

std::string escape(const std::string& s)
{
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += c;
        } else {
            constexpr const char* kHex = "0123456789ABCDEF";
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

}  // namespace

std::string controlBaseUrl(const std::string& address)
{
    std::string a = address;
    if (a.rfind("http://", 0) == 0) {
        a = a.substr(7);
    } else if (a.find("://") != std::string::npos) {
        throw InputError("control address \"" + address + "\": only http:// is served");
    }
    while (!a.empty() && a.back() == '/') {
        a.pop_back();
    }
    const auto colon = a.rfind(':');
    if (a.empty() || colon == std::string::npos || colon == 0 || colon + 1 == a.size() ||
        a.find('/') != std::string::npos) {
        throw InputError("control address \"" + address + "\": expected HOST:PORT");
    }
    for (std::size_t i = colon + 1; i < a.size(); ++i) {
        if (a[i] < '0' || a[i] > '9') {
            throw InputError("control address \"" + address + "\": the port is not a number");
        }
    }
    return "http://" + a;
}

ControlClient::ControlClient(std::string address, std::optional<Secret> token, const Clock& clock, Duration timeout)
    : m_base(controlBaseUrl(address)), m_token(std::move(token)), m_clock(clock), m_timeout(timeout),
      m_http(std::make_unique<http::HttpClient>())
{
}

ControlClient::~ControlClient() = default;

json ControlClient::call(const char* method, const std::string& target, const json* body)
{
    http::HttpRequest r;
    r.method = method;
    r.url = m_base + target;
    r.headers.emplace_back("Accept: application/json");
    if (body != nullptr) {
        r.headers.emplace_back("Content-Type: application/json");
        r.body = body->dump();
    }
    if (m_token) {
        r.secretHeader = m_token->prefixed("Authorization: Bearer ");
    }
    r.connectTimeout = std::min<Duration>(m_timeout, std::chrono::seconds(5));
    r.totalTimeout = m_timeout;
    r.allowHttp2 = false;
    std::optional<http::HttpResult> result;
    http::TransferHandlers h;
    h.onComplete = [&](http::HttpResult&& res) { result = std::move(res); };
    if (m_http->start(std::move(r), std::move(h)) == 0) {
        throw ControlError(0, "the control client is closing");
    }
    while (!result) {
        m_http->poll(std::chrono::milliseconds(100));
    }
    if (result->error != http::TransportError::None || result->status == 0) {
        throw ControlError(0, m_base + ": " + std::string(http::transportErrorName(result->error)) + ": " +
                                  result->errorText);
    }
    json j = json::parse(result->body, nullptr, false);
    if (result->status >= 400) {
        std::string message = j.is_object() && j.contains("error") && j["error"].is_string()
                                   ? j["error"].get<std::string>()
                                   : result->body.substr(0, 200);
        throw ControlError(result->status, "HTTP " + std::to_string(result->status) + ": " + message);
    }
    if (j.is_discarded()) {
        throw ControlError(result->status, m_base + target + ": the answer is not JSON");
    }
    return j;
}

ControlStatus ControlClient::status()
{
    return statusFromJson(call("GET", "/v1/status", nullptr), m_clock);
}

SeriesPage ControlClient::series(const metrics::ScopeKey& scope, Duration width, std::optional<TimePoint> since)
{
    std::string target = "/v1/series?width_s=" +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(width).count());
    if (since) {
        target += "&since_ms=" + std::to_string(wallMs(m_clock, *since));
    }
    if (!scope.provider.empty()) {
        target += "&provider=" + escape(scope.provider);
    }
    if (!scope.key.empty()) {
        target += "&key=" + escape(scope.key);
    }
    if (!scope.model.empty()) {
        target += "&model=" + escape(scope.model);
    }
    return seriesFromJson(call("GET", target, nullptr), m_clock);
}

RollupPage ControlClient::rollups(WallTime from, WallTime to)
{
    return rollupsFromJson(call("GET", "/v1/rollups?from_ms=" + std::to_string(wallMs(from)) +
                                           "&to_ms=" + std::to_string(wallMs(to)),
                                nullptr));
}

Config ControlClient::config()
{
    return configFromJson(call("GET", "/v1/config", nullptr));
}

void ControlClient::setLimits(const LimitTarget& target, const std::vector<LimitSpec>& limits)
{
    const json body{{"provider", target.provider}, {"key", target.key}, {"model", target.model},
                    {"limits", limitsToJson(limits)}};
    call("POST", "/v1/limits", &body);
}

void ControlClient::pause()
{
    const json body = json::object();
    call("POST", "/v1/pause", &body);
}

void ControlClient::resume()
{
    const json body = json::object();
    call("POST", "/v1/resume", &body);
}

void ControlClient::drain()
{
    const json body = json::object();
    call("POST", "/v1/drain", &body);
}

void ControlClient::setKeyEnabled(const std::string& provider, const std::string& key, bool enabled)
{
    const json body{{"provider", provider}, {"key", key}, {"enabled", enabled}};
    call("POST", "/v1/keys/enabled", &body);
}

std::vector<store::DeadLetter> ControlClient::deadLetters(const store::DeadLetterFilter& filter, std::size_t limit)
{
    std::string target = "/v1/dead-letters?limit=" + std::to_string(limit);
    if (filter.errorClass) {
        target += "&error_class=" + escape(*filter.errorClass);
    }
    if (filter.keyLabel) {
        target += "&key_label=" + escape(*filter.keyLabel);
    }
    if (filter.model) {
        target += "&model=" + escape(*filter.model);
    }
    if (filter.diedFrom) {
        target += "&died_from_ms=" + std::to_string(wallMs(*filter.diedFrom));
    }
    if (filter.diedTo) {
        target += "&died_to_ms=" + std::to_string(wallMs(*filter.diedTo));
    }
    const json j = call("GET", target, nullptr);
    if (!j.contains("dead_letters")) {
        throw ProtocolError("missing \"dead_letters\"");
    }
    return deadLettersFromJson(j["dead_letters"]);
}

JobDetail ControlClient::job(store::JobId id)
{
    return jobDetailFromJson(call("GET", "/v1/jobs/" + std::to_string(id), nullptr));
}

std::size_t ControlClient::requeue(store::JobId id)
{
    const json body{{"id", id}};
    return call("POST", "/v1/dead-letters/requeue", &body).value("requeued", std::size_t{0});
}

std::size_t ControlClient::requeueDead(const store::DeadLetterFilter& filter)
{
    const json body{{"filter", deadLetterFilterToJson(filter)}};
    return call("POST", "/v1/dead-letters/requeue", &body).value("requeued", std::size_t{0});
}

bool ControlClient::editAndRequeue(store::JobId id, const std::string& newBody)
{
    const json body{{"id", id}, {"body", newBody}};
    return call("POST", "/v1/dead-letters/edit", &body).value("requeued", 0) == 1;
}

}  // namespace sluice::control
