// What the gateway answers itself, shaped as each API does: error bodies
// and status codes, the error event of a stream that fails after its first
// byte (Chat, Messages and Responses streams), the model list, and Anthropic's count_tokens reply. The official
// SDKs pick their exception class from the status and read the message from
// these shapes.
//
// Thread-safety: pure functions.
#pragma once

#include "providers/protocol.h"

#include <string>
#include <string_view>
#include <vector>

namespace sluice::gateway {

enum class ErrorKind : std::uint8_t {
    InvalidRequest,   // 400
    Authentication,   // 401
    Permission,       // 403
    NotFound,         // 404: a model
    NoRoute,          // 404: a method and path the gateway does not serve
    TooLarge,         // 413
    UnsupportedMedia, // 415: a compressed body
    RateLimited,      // 429
    Internal,         // 500
    BadGateway,       // 502: the provider failed and retries were used up
    Unavailable,      // 503: no usable key
    Draining,         // 503: this instance takes no new requests
    Timeout,          // 504
    Overloaded        // 529 (Anthropic) / 503 (OpenAI)
};

int statusOf(ApiFlavor dialect, ErrorKind kind) noexcept;
// {"error":{"message","type","param","code"}} or
// {"type":"error","error":{"type","message"}}.
std::string errorBody(ApiFlavor dialect, ErrorKind kind, std::string_view message);
// One SSE event carrying the error, for a stream already under way.
std::string streamErrorEvent(ApiFlavor dialect, ErrorKind kind, std::string_view message);
// The same for a Responses API stream, whose events are typed:
// `event: error` with {"type":"error","code","message","param"}.
std::string responsesStreamErrorEvent(ErrorKind kind, std::string_view message);
// GET /v1/models in either dialect.
std::string modelList(ApiFlavor dialect, const std::vector<std::string>& models);
// GET /v1/models/{id}: one entry of that list.
std::string modelEntry(ApiFlavor dialect, const std::string& model);

}  // namespace sluice::gateway
