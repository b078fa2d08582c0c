// ResponseSink: one job's response passed on as it arrives, for a producer
// that relays it to its own client (the gateway). A job without a sink is
// answered through the DispatchListener only, as before.
//
// Thread-safety: every member is called on the dispatcher thread and must
// not block.
#pragma once

#include "dispatch/job.h"
#include "http/http_client.h"

#include <string>
#include <string_view>

namespace sluice {

// Receives one job's response as it arrives, for a producer that passes it on (the gateway).
// Thread-safety: every member is called on the dispatcher thread and must not block.
class ResponseSink {
public:
    virtual ~ResponseSink() = default;
    // An attempt answered 2xx: its status and headers (names lower-case). Attempts that failed
    // before their head are never shown. A stream's head is shown at most once: after it the
    // job is never retried, and a later failure ends it. A plain (not streamed) answer whose
    // body then breaks is retried, so its head may come again: the sink drops what it kept of
    // the earlier attempt (its head and body bytes).
    // The headers are the transfer's own, lent for the call (no copy per response).
    virtual void onHead(long status, const http::HeaderMap& headers) = 0;
    // Body bytes as received from the provider (raw SSE text for streams), in order.
    virtual void onBody(std::string_view bytes) = 0;
    // The job ended (completed, dead-lettered, cancelled). Called exactly once, before the
    // DispatchListener's onFinished for the same job.
    virtual void onEnd(const JobOutcome& outcome) = 0;
};

}  // namespace sluice
