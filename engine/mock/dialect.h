// The two API dialects the mock speaks, OpenAI's and Anthropic's: how each
// names its key, validates a request, estimates its prompt, and shapes
// bodies, errors, streams and rate-limit headers (see
// ../shared/reference/providers.md for the shapes they follow).
//
// Thread-safety: stateless; every member from any thread.
#pragma once

#include "mock/limit_table.h"
#include "mock/mock_config.h"
#include "net/http_server.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::mock {

// A validated completion request, dialect-neutral.
struct CompletionRequest {
    std::string model;
    std::int64_t inputTokens = 0;  // the mock's estimate of the prompt
    std::int64_t maxTokens = 0;    // per choice; the model's cap when not given
    int n = 1;                     // choices (OpenAI)
    bool stream = false;
    bool includeUsage = false;     // OpenAI stream_options.include_usage
    // Embeddings: n is the number of inputs and maxTokens 0 (no output).
    int dimensions = 0;            // the vector length asked for
    bool base64 = false;           // encoding_format "base64" (the openai SDK's default)
    // Responses: the function the answer calls when the request forces one
    // (tool_choice naming a function, or "required" with functions offered);
    // empty for a text answer.
    std::string toolName;
    // Responses: the response this one continues, and whether the answer
    // is stored (retrievable, continuable); the API's default stores it.
    std::string previousResponseId;
    bool store = true;
    // Responses: run in the background ("background": true). The answer to
    // the request is the response queued, without output or usage; a read
    // of it (GET /v1/responses/{id}) finds it finished, usage and all.
    bool background = false;
};

// What the mock answers, dialect-neutral (MockReply, not store::Completion:
// that is a finished job in the store).
struct MockReply {
    std::string id;
    std::int64_t created = 0;                // Unix seconds
    std::vector<std::int64_t> outputTokens;  // per choice
    std::uint64_t textSeed = 0;              // picks the words
    std::int64_t totalOutput() const noexcept;
    bool truncated(std::size_t choice, std::int64_t maxTokens) const noexcept
    {
        return outputTokens[choice] >= maxTokens;
    }
};

enum class ErrorCase : std::uint8_t {
    MissingKey,        // 401
    InvalidKey,        // 401
    ForbiddenModel,    // 403
    UnknownModel,      // 404
    UnknownRoute,      // 404
    MissingVersion,    // 400, Anthropic's anthropic-version header
    InvalidHeader,     // 400, a value the API does not know (detail says which)
    WrongContentType,  // 400
    MalformedJson,     // 400
    BodyTooLarge,      // 413
    RateLimited,       // 429 with retry-after
    RequestTooLarge,   // 429, never satisfiable
    QuotaExhausted,    // 429 insufficient_quota / spend cap
    ServerError,       // 500
    Unavailable,       // 503
    Overloaded         // 529
};

struct ErrorContext {
    std::string_view model{};
    std::string_view key{};
    std::string_view detail{};  // the route, the content type, the parse error, the body limit
    std::string_view organization{};
    std::string_view requestId{};
    const LimitDecision* limit = nullptr;  // RateLimited, RequestTooLarge
    WallTime now{};
};

struct ApiError {
    int status = 400;
    std::string body;
};

// Frames of a stream. The mock sends `preamble` with the headers, one of
// `tokens` per output token, then `ending`, which carries the usage.
struct StreamScript {
    std::vector<std::string> preamble;
    std::vector<std::string> tokens;
    std::vector<std::string> ending;
};

class Dialect {
public:
    virtual ~Dialect() = default;

    virtual Flavour flavour() const noexcept = 0;
    // The API key the request carries, if any.
    virtual std::optional<std::string> apiKey(const net::InboundRequest& request) const = 0;
    // Headers the protocol requires besides the key.
    virtual bool hasRequiredHeaders(const net::InboundRequest& request) const = 0;
    // What is wrong with a header whose values the API checks (an unknown
    // beta, a version that is not one), or empty.
    virtual std::string headerProblem(const net::InboundRequest&) const { return {}; }
    // Validates the body against the schema and the configured models.
    virtual std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                            std::string_view requestId) const = 0;
    virtual ApiError error(ErrorCase what, const ErrorContext& context) const = 0;

    virtual std::string_view requestIdHeader() const noexcept = 0;
    // Rate-limit headers for the enforced limits. With minusOne, every
    // limit and remaining is -1 and every reset 0, as Azure has sent.
    virtual void addRateLimitHeaders(net::HttpHeaders& headers, const LimitStates& states, WallTime now,
                                     bool minusOne) const = 0;
    // Headers every answer carries (request id, organization, version).
    virtual void addCommonHeaders(net::HttpHeaders& headers, std::string_view requestId,
                                  const MockConfig& config) const = 0;

    virtual std::string body(const CompletionRequest& request, const MockReply& completion) const = 0;
    // The answer to a request run in the background (request.background):
    // the response as just queued. Only the Responses dialect has one.
    virtual std::string queuedBody(const CompletionRequest&, const MockReply&) const { return {}; }
    virtual StreamScript stream(const CompletionRequest& request, const MockReply& completion) const = 0;
    // An error frame sent after HTTP 200, mid-stream.
    virtual std::string streamError(std::string_view requestId) const = 0;
    virtual std::string modelList(const MockConfig& config, std::string_view key) const = 0;
};

const Dialect& openAiDialect() noexcept;
const Dialect& anthropicDialect() noexcept;
// OpenAI's Responses API (POST /v1/responses) and Embeddings API (POST
// /v1/embeddings): OpenAI's keys, headers and errors, their own request
// schemas, bodies and (Responses) typed stream events.
const Dialect& openAiResponsesDialect() noexcept;
const Dialect& openAiEmbeddingsDialect() noexcept;
// POST /v1/responses/compact: a Responses request's schema (input, or a
// previous_response_id alone), a "response.compaction" object, no stream.
const Dialect& openAiCompactionDialect() noexcept;
// POST /v1/responses/input_tokens: what the request would count (model
// optional; input, or a previous_response_id alone), or OpenAI's 400/404.
std::variant<CompletionRequest, ApiError> parseInputTokenCount(std::string_view body, const MockConfig& config);
// POST /v1/messages/count_tokens: what the request would count (model and
// messages required, no max_tokens), or Anthropic's 400/404.
std::variant<CompletionRequest, ApiError> parseMessageTokenCount(std::string_view body, const MockConfig& config,
                                                                 std::string_view requestId);

// Shared by both dialects.
namespace dialect {
// About four characters per token, as a rule of thumb; at least one.
std::int64_t textTokens(std::string_view text) noexcept;
// A message's content as every dialect counts it: a string, or parts whose
// "text" counts as text; any other part (an image, audio, a file) a flat 85,
// OpenAI's low-detail image price.
std::int64_t contentTokens(const nlohmann::json& content);
// Word `index` of a completion's text, with its leading space where due.
std::string token(std::uint64_t seed, std::int64_t index);
std::string text(std::uint64_t seed, std::int64_t tokens);
// "req_" and 32 hex digits, or another prefix with `digits` hex digits.
std::string randomId(std::string_view prefix, std::uint64_t seed, int digits);
bool isJsonContentType(std::string_view value) noexcept;
// Rounds a Duration up to whole milliseconds (how providers state waits).
Duration ceilMs(Duration d) noexcept;
}  // namespace dialect

}  // namespace sluice::mock
