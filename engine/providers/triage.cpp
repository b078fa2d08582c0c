#include "providers/triage.h"

#include "core/timefmt.h"

#include <array>
#include <charconv>

namespace sluice {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, kFailureClassCount> kNames = {
    "none",          "rate_limited",     "request_too_large", "quota_exhausted", "overloaded",
    "server_error",  "timeout",          "connection_error",  "stream_cut",      "stream_error",
    "bad_request",   "not_found",        "auth_failed",       "permission_denied", "cancelled",
    "deadline_exceeded", "no_usable_key", "attempts_exhausted"};

// "Limit 30000, Requested 36278" → requested > limit.
bool requestedExceedsLimit(std::string_view msg)
{
    const auto readAfter = [&](std::string_view label) -> std::optional<std::int64_t> {
        const auto pos = msg.find(label);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        const char* p = msg.data() + pos + label.size();
        const char* end = msg.data() + msg.size();
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(p, end, v);
        if (ec != std::errc()) {
            return std::nullopt;
        }
        (void)ptr;
        return v;
    };
    const auto limit = readAfter("Limit ");
    const auto requested = readAfter("Requested ");
    return limit && requested && *requested > *limit;
}

std::string limitNameFromMessage(std::string_view msg)
{
    if (msg.find("(RPM)") != std::string_view::npos || msg.find("requests per") != std::string_view::npos) {
        return "requests";
    }
    if (msg.find("(TPM)") != std::string_view::npos || msg.find("tokens per") != std::string_view::npos) {
        return "tokens";
    }
    if (msg.find("input tokens") != std::string_view::npos) {
        return "input_tokens";
    }
    if (msg.find("output tokens") != std::string_view::npos) {
        return "output_tokens";
    }
    return {};
}

// The error object of any of the envelopes: OpenAI {"error":{…}}, Anthropic
// {"type":"error","error":{…}}, Google [{"error":{…}}].
const json* errorObject(const json& body)
{
    const json* root = &body;
    if (root->is_array() && !root->empty()) {
        root = &(*root)[0];
    }
    if (!root->is_object()) {
        return nullptr;
    }
    const auto e = root->find("error");
    if (e != root->end() && e->is_object()) {
        return &*e;
    }
    return nullptr;
}

std::string scalarText(const json& obj, const char* name)
{
    const auto it = obj.find(name);
    if (it == obj.end()) {
        return {};
    }
    if (it->is_string()) {
        return it->get<std::string>();
    }
    if (it->is_number_integer()) {
        return std::to_string(it->get<std::int64_t>());
    }
    return {};
}

std::optional<Duration> googleRetryDelay(const json& error)
{
    const auto details = error.find("details");
    if (details == error.end() || !details->is_array()) {
        return std::nullopt;
    }
    for (const auto& d : *details) {
        if (d.is_object()) {
            if (const auto r = d.find("retryDelay"); r != d.end() && r->is_string()) {
                if (auto v = parseGoDuration(r->get<std::string>())) {
                    return v;
                }
            }
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view failureClassName(FailureClass c) noexcept
{
    const auto i = static_cast<std::size_t>(c);
    return i < kNames.size() ? kNames[i] : "unknown";
}

bool parseFailureClass(std::string_view text, FailureClass& out) noexcept
{
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == text) {
            out = static_cast<FailureClass>(i);
            return true;
        }
    }
    return false;
}

std::optional<Duration> retryHintFromMessage(std::string_view msg)
{
    constexpr std::string_view kTryAgain = "try again in ";
    if (const auto pos = msg.find(kTryAgain); pos != std::string_view::npos) {
        std::string_view rest = msg.substr(pos + kTryAgain.size());
        std::size_t end = 0;
        while (end < rest.size() && rest[end] != ' ' && rest[end] != ',') {
            ++end;
        }
        std::string_view token = rest.substr(0, end);
        if (!token.empty() && token.back() == '.') {
            token.remove_suffix(1);
        }
        if (auto d = parseGoDuration(token)) {
            return d;
        }
    }
    constexpr std::string_view kRetryAfter = "retry after ";
    if (const auto pos = msg.find(kRetryAfter); pos != std::string_view::npos) {
        std::string_view rest = msg.substr(pos + kRetryAfter.size());
        std::size_t end = 0;
        while (end < rest.size() && ((rest[end] >= '0' && rest[end] <= '9') || rest[end] == '.')) {
            ++end;
        }
        if (end > 0 && rest.substr(end).rfind(" second", 0) == 0) {
            return parseDecimalSeconds(rest.substr(0, end));
        }
    }
    return std::nullopt;
}

Triage triageResponse(ApiFlavor flavor, long status, std::string_view body, const RateLimitHeaders& headers)
{
    Triage t;
    t.shouldRetry = headers.shouldRetry;
    if (status >= 200 && status < 300) {
        return t;
    }
    const json parsed = json::parse(body, nullptr, false);
    std::string type;
    std::string detailCode;
    if (const json* e = parsed.is_discarded() ? nullptr : errorObject(parsed)) {
        t.message = scalarText(*e, "message");
        type = scalarText(*e, "type");
        t.code = scalarText(*e, "code");
        if (const auto d = e->find("details"); d != e->end() && d->is_object()) {
            detailCode = scalarText(*d, "error_code");
        }
        if (t.code.empty()) {
            t.code = type;
        }
        if (auto g = googleRetryDelay(*e)) {
            t.retryAfter = g;
        }
        const std::string googleStatus = scalarText(*e, "status");
        if (!googleStatus.empty() && type.empty()) {
            type = googleStatus;
        }
    } else {
        t.message = std::string(body.substr(0, 500));
    }
    if (!t.retryAfter) {
        t.retryAfter = headers.retryAfter;
    }
    // retry-after counts whole seconds, rounded up; OpenAI's message says
    // "try again in 100ms". A near miss should cost a near-miss delay, so
    // the finer hint wins when it is the shorter.
    if (const auto fromMessage = retryHintFromMessage(t.message);
        fromMessage && (!t.retryAfter || *fromMessage < *t.retryAfter)) {
        t.retryAfter = fromMessage;
    }
    t.limitName = limitNameFromMessage(t.message);
    (void)flavor;

    const bool quota = t.code == "insufficient_quota" || type == "insufficient_quota" ||
                       detailCode == "enforced_spend_limit_reached" || type == "billing_error";
    if (status == 402 || quota) {
        t.cls = FailureClass::QuotaExhausted;
        t.retryAfter.reset();  // never retried on this key, whatever a header says
        return t;
    }
    if (status == 413 || type == "request_too_large" || t.message.find("Request too large") != std::string::npos ||
        requestedExceedsLimit(t.message)) {
        t.cls = FailureClass::RequestTooLarge;
        t.retryAfter.reset();
        return t;
    }
    switch (status) {
    case 429: t.cls = FailureClass::RateLimited; break;
    case 529: t.cls = FailureClass::Overloaded; break;
    case 503: t.cls = FailureClass::Overloaded; break;
    case 400:
    case 422: t.cls = FailureClass::BadRequest; break;
    case 404: t.cls = FailureClass::NotFound; break;
    case 401: t.cls = FailureClass::AuthFailed; break;
    case 403: t.cls = FailureClass::PermissionDenied; break;
    default:
        t.cls = (status >= 500 || status == 408 || status == 409) ? FailureClass::ServerError
                                                                 : FailureClass::BadRequest;
        break;
    }
    if (type == "overloaded_error") {
        t.cls = FailureClass::Overloaded;
    }
    return t;
}

Triage triageTransport(http::TransportError error, std::string_view text)
{
    Triage t;
    t.message = std::string(text);
    t.code = std::string(http::transportErrorName(error));
    switch (error) {
    case http::TransportError::None: t.cls = FailureClass::None; break;
    case http::TransportError::Timeout: t.cls = FailureClass::Timeout; break;
    case http::TransportError::ConnectFailed:
    case http::TransportError::Reset: t.cls = FailureClass::ConnectionError; break;
    case http::TransportError::Aborted: t.cls = FailureClass::Cancelled; break;
    case http::TransportError::TooLarge:
    case http::TransportError::Other: t.cls = FailureClass::ServerError; break;
    }
    return t;
}

}  // namespace sluice
