// The unit of work the dispatcher runs, and what it reports about it.
//
// Thread-safety: plain values.
#pragma once

#include "core/clock.h"
#include "providers/protocol.h"
#include "providers/triage.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

class ResponseSink;
struct ScannedChat;

// One request to send, as a batch line or a load generator describes it.
struct JobSpec {
    std::string customId;          // unique per run; the idempotency key
    ApiFlavor flavor = ApiFlavor::OpenAI;
    Endpoint endpoint = Endpoint::Completion;  // which of the flavour's APIs: the request path
    nlohmann::json body;           // the provider request body
    // Optional: `body` as text, when the caller has it (a queued job's stored
    // body). Sent as it is unless preparing must change the body, so the
    // body is not serialised again on the way out.
    std::string bodyText;
    // Optional: a Chat Completions body read without a document
    // (providers/chat_scan.h; the gateway's common request): analysed from
    // this, with `body` left null and `bodyText` sent.
    std::shared_ptr<const ScannedChat> chat;
    std::string provider;          // optional: pin to a configured provider
    // Optional: pin to one key of that provider, by name. A Responses API
    // request that continues a response (previous_response_id) is known only
    // to the project of the key that made it; any other key answers 400.
    std::string key;
    // Input the provider counts besides the body's own: the conversation a
    // Responses API continuation carries (the response it continues, input
    // and output, as the provider reported them). Reserved as it is, and
    // kept out of what the estimate calibrators learn from.
    std::int64_t contextTokens = 0;
    // Optional: the method and what follows the endpoint's path, query
    // included. For a request about an object the endpoint stored (GET or
    // DELETE /v1/responses/{id}, POST …/{id}/cancel, POST
    // /v1/responses/input_tokens) `body` only names the model, for routing:
    // nothing is generated, so no tokens are reserved or counted. POST
    // /v1/responses/compact makes an answer and is priced as a Responses
    // request (isCompaction).
    std::string method;
    std::string objectPath;
    std::string tenant;            // empty: the config's default
    std::optional<int> priority;   // higher goes first
    std::optional<TimePoint> deadline;
    // "Name: value" lines the caller's own client sent for the provider (the
    // gateway's passed headers: anthropic-beta, anthropic-version,
    // openai-beta); each replaces a common line of the same name.
    std::vector<std::string> headerLines;
    // Receives the response as it arrives (dispatch/response_sink.h); null:
    // the outcome alone carries it.
    std::shared_ptr<ResponseSink> sink;
};

// One entry of a job's history: the data behind "why did this wait?".
struct TimelineEvent {
    enum class Kind : std::uint8_t {
        Queued, Waiting, Sent, FirstToken, Response, RetryScheduled, KeyCooled, KeyQuarantined, Completed,
        DeadLettered, Cancelled,
        Limits  // the limits in force on the key+model it waits for, or after a 429 taught them
    };
    // What the text of the events every request has (queued, sent, a
    // successful response, completed) is made of, kept as names and
    // numbers: the dispatcher thread writes four of them per request, and
    // the text is made only where it is read (dispatch/timeline.h says
    // which fields each kind uses).
    struct Facts {
        std::string first;
        std::string second;
        std::int64_t a = 0;
        std::int64_t b = 0;
        std::int64_t c = 0;
    };
    WallTime at{};
    Kind kind = Kind::Queued;
    std::string written;            // the text, for an event written as text
    std::optional<Facts> facts{};   // or what it is made from

    // The event's text, as the console, the store and the reports show it.
    std::string text() const;
};

std::string_view timelineKindName(TimelineEvent::Kind k) noexcept;

struct AttemptRecord {
    WallTime at{};
    std::string provider;
    std::string key;   // the key's name, never its value
    long status = 0;   // 0: no response
    FailureClass cls = FailureClass::None;
    std::string message;
    Duration latency{};
};

enum class JobResult : std::uint8_t { Completed, DeadLettered, Cancelled };

// Reported once per job, when it ends.
struct JobOutcome {
    std::string customId;
    JobResult result = JobResult::Completed;
    FailureClass cls = FailureClass::None;  // why it failed (DeadLettered, Cancelled)
    std::string reason;
    long status = 0;            // the last response's HTTP status
    std::string requestId;      // provider's request id, when sent
    std::string body;           // the response body as received (assembled for streams)
    std::string responseId;     // a completed job's response id, as the body gives it
    std::optional<ResponseUsage> usage;
    // A stored response read back (GET /v1/responses/{id}): the usage it
    // was made with, which a response run in the background reports only
    // there. Counted when it was made, so not in `usage`.
    std::optional<ResponseUsage> storedUsage;
    std::optional<std::int64_t> spendMicroUsd;  // nullopt: unpriced model
    std::string provider;
    std::string key;
    std::string model;
    std::vector<AttemptRecord> attempts;
    std::vector<TimelineEvent> timeline;
};

}  // namespace sluice
