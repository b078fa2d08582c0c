// ResponseReader: a finished transfer turned into a value the dispatcher
// acts on: the triage class (transport error, cut or failed stream, an
// unreadable 2xx body, or the provider's error response), the usage
// reported, the body to deliver, and the rate-limit headers (the hints).
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include "http/http_client.h"
#include "providers/protocol.h"
#include "providers/rate_limit_headers.h"
#include "providers/triage.h"

#include <optional>
#include <string>

namespace sluice {

struct ResponseRead {
    Triage triage;                       // cls None: a usable answer
    std::string body;                    // delivered body, or the error body as received
    std::optional<ResponseUsage> usage;  // success only
    // A stored response read back: the usage it was made with, counted
    // then and not now (usage stays empty).
    std::optional<ResponseUsage> storedUsage;
    std::string responseId;              // success only: the body's top-level "id"
    RateLimitHeaders headers;
    // The provider could not be reached at all (refused, unreachable, DNS):
    // a fact about the provider, not about the request.
    bool unreachable = false;

    bool success() const noexcept { return triage.cls == FailureClass::None; }
};

struct TransferRead {
    http::HttpResult& result;            // its body is taken
    StreamAccumulator* stream = nullptr;  // streams only: what was fed so far
    std::string errorBody;               // a non-2xx body read chunk by chunk
    ApiFlavor flavor = ApiFlavor::OpenAI;
    bool pastDeadline = false;           // a timeout then means the job's deadline
    WallTime wallNow{};
};

ResponseRead readResponse(TransferRead in);

}  // namespace sluice
