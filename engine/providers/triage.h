// Triage: every failure sorted into the class that decides what happens next,
// with the provider's retry hint when it gave one.
//
// Thread-safety: pure functions.
#pragma once

#include "http/http_client.h"
#include "providers/protocol.h"
#include "providers/rate_limit_headers.h"

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

enum class FailureClass : std::uint8_t {
    None,
    RateLimited,       // 429 rate_limit_exceeded / rate_limit_error: cool the key+model down
    RequestTooLarge,   // cost above a whole limit, 413: fail the job at once
    QuotaExhausted,    // insufficient_quota, spend cap, 402: quarantine the key
    Overloaded,        // 529, 503: back off the whole provider
    ServerError,       // other 5xx, 408, 409, an unreadable response
    Timeout,           // connect or total timeout
    ConnectionError,   // refused, reset, broken mid-body
    StreamCut,         // HTTP 200 stream that ended before its final event
    StreamError,       // an error event inside an HTTP 200 stream
    BadRequest,        // 400, 422: the request is wrong; no retry
    NotFound,          // 404: no retry
    AuthFailed,        // 401: quarantine the key
    PermissionDenied,  // 403: quarantine the key
    // Decided by the dispatcher, not by a response:
    Cancelled,
    DeadlineExceeded,
    NoUsableKey,        // every key for the model is quarantined or disabled
    AttemptsExhausted,  // retries used up (the last attempt's class is kept too)
};
inline constexpr int kFailureClassCount = 18;

std::string_view failureClassName(FailureClass c) noexcept;
bool parseFailureClass(std::string_view text, FailureClass& out) noexcept;

struct Triage {
    FailureClass cls = FailureClass::None;
    std::optional<Duration> retryAfter;  // the provider's hint, from headers or the message
    std::optional<bool> shouldRetry;     // x-should-retry
    std::string code;                    // provider error code/type, e.g. "insufficient_quota"
    std::string message;                 // provider's message, for timelines and dead letters
    std::string limitName;               // "requests", "tokens", … when a 429 names it
};

// A completed HTTP exchange (status and body; for streams, the error event
// or the fact that the stream was cut is passed by the caller).
Triage triageResponse(ApiFlavor flavor, long status, std::string_view body, const RateLimitHeaders& headers);
Triage triageTransport(http::TransportError error, std::string_view text);

// "Please try again in 1.574s" / "Please retry after 20 seconds" / a
// Google RetryInfo "retryDelay": the hint a message carries, if any.
std::optional<Duration> retryHintFromMessage(std::string_view message);

}  // namespace sluice
