// What Sluice needs to know about the two API flavours it speaks: OpenAI's
// Chat Completions (and every compatible API) and Anthropic's Messages.
// Request analysis (model, token estimate, reserved output), usage in
// responses, and streams assembled back into an ordinary response body.
//
// Thread-safety: free functions are pure; a StreamAccumulator belongs to one
// stream.
#pragma once

#include "core/json_source.h"
#include "pricing/pricing.h"
#include "providers/sse.h"
#include "tokenize/language_class.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

enum class ApiFlavor : std::uint8_t { OpenAI, Anthropic };

std::string_view flavorName(ApiFlavor f) noexcept;
bool parseFlavor(std::string_view text, ApiFlavor& out) noexcept;
// The request path each flavour serves: /v1/chat/completions, /v1/messages.
std::string_view endpointPath(ApiFlavor f) noexcept;

// Which of a flavour's APIs a request is for. Completion: Chat Completions
// (OpenAI) or Messages (Anthropic); the others are OpenAI's Responses and
// Embeddings APIs (providers/openai_endpoints.h analyses their requests).
enum class Endpoint : std::uint8_t { Completion, Responses, Embeddings };
// The request path of `e` on a provider of flavour `f`.
std::string_view endpointPath(ApiFlavor f, Endpoint e) noexcept;

// The flavour and API a request path names (the inverse of endpointPath):
// /v1/chat/completions, /v1/messages, /v1/responses, /v1/embeddings. Batch
// lines, queued jobs and the gateway route by it.
struct EndpointRoute {
    ApiFlavor flavor = ApiFlavor::OpenAI;
    Endpoint endpoint = Endpoint::Completion;
};
std::optional<EndpointRoute> routeOfPath(std::string_view path) noexcept;
// The paths routeOfPath knows, quoted and comma-separated, for messages.
std::string_view knownRequestPaths() noexcept;

// How a prompt's tokens were counted (PromptEstimator).
enum class PromptCountMethod : std::uint8_t {
    RuleOfThumb,  // characters / 4 plus chat overhead
    Calibrated,   // the rule of thumb scaled by the model's learned ratio
    Exact,        // the model's own tokenizer
};
std::string_view promptCountMethodName(PromptCountMethod m) noexcept;

struct PromptEstimate {
    std::int64_t tokens = 0;       // what to reserve
    std::int64_t ruleOfThumb = 0;  // the uncalibrated estimate: feed this to TokenCalibrator::observe
    std::int64_t counted = 0;      // Exact: the tokenizer's own count, before the provider's agreement
    // Not exact: the prompt counted with o200k_base instead (0: not
    // counted); feed this to the proxy calibrator (PromptEstimator).
    std::int64_t proxy = 0;
    tokenize::LanguageClass language = tokenize::LanguageClass::Latin;
    PromptCountMethod method = PromptCountMethod::RuleOfThumb;
    // Of `tokens`, the media's estimate (providers/prompt_media.h), and how
    // many media parts there were: a prompt with any teaches the text
    // calibrators nothing.
    std::int64_t media = 0;
    int mediaParts = 0;
    // Of `tokens`, the conversation the provider keeps and counts with the
    // prompt (JobSpec::contextTokens): known from a report, not estimated;
    // a prompt with any teaches the calibrators nothing.
    std::int64_t context = 0;
};

struct RequestInfo {
    Endpoint endpoint = Endpoint::Completion;  // decides the request path
    std::string model;
    bool stream = false;
    int n = 1;                              // choices requested (OpenAI)
    std::int64_t promptTokens = 0;          // prompt.tokens, the estimate reserved
    PromptEstimate prompt;                  // how promptTokens was counted
    std::int64_t maxOutputTokens = 0;       // per choice
    // The request states no output cap (max_tokens, max_completion_tokens,
    // max_output_tokens): maxOutputTokens is the model's configured
    // default, a guess that UnstatedOutputProbe may learn to lower.
    bool outputUnstated = false;
    std::int64_t reservedOutputTokens() const noexcept { return maxOutputTokens * n; }
    // The method and what follows the endpoint's path ("/resp_1",
    // "/resp_1/cancel", "/compact", with any query). Empty: a POST to the
    // path itself.
    std::string method;
    std::string objectPath;
    // A request about something the endpoint stored (a response read,
    // deleted or cancelled, its input counted) rather than one that makes
    // a new answer: it holds a connection, and no request or token is
    // reserved or counted. A compaction (POST /v1/responses/compact) makes
    // an answer: it is priced as the endpoint's own requests.
    bool storedObject = false;
};

class PromptEstimator;
struct ScannedChat;

// Validates the parts of a request body Sluice relies on and estimates its
// cost. Throws InputError whose message names the field ("body.messages: …").
// Prompt tokens come from estimator when given (exact or calibrated), else
// from the rule of thumb.
RequestInfo analyzeRequest(ApiFlavor flavor, const nlohmann::json& body, std::int64_t defaultMaxOutputTokens,
                           const PromptEstimator* estimator = nullptr);

// Prompt tokens by the rule of thumb: ~4 characters per token of each
// message field's text (role, content, name; in content the text, a tool
// call's input, a tool result's content), plus 3 tokens per message, 1 per
// name, and 3 to prime the reply; for Anthropic the system prompt and the
// tool definitions too. Media (images, documents) are left out: see
// providers/prompt_media.h.
std::int64_t estimatePromptTokens(ApiFlavor flavor, const nlohmann::json& body);
// The same fields and overheads, each text counted by `count` (a public
// tokenizer standing in for a model's own, which is not public: its counts
// follow another BPE tokenizer's far more closely than characters do).
std::int64_t proxyPromptTokens(ApiFlavor flavor, const nlohmann::json& body,
                               const std::function<std::int64_t(std::string_view)>& count);
// The same for a Chat Completions request read without a document
// (providers/chat_scan.h).
std::int64_t estimatePromptTokens(const ScannedChat& chat);
// analyzeRequest for such a request: what analyzeRequest(OpenAI, document,
// ...) gives for its document. It cannot fail: scanChatRequest reads only
// requests that analyzeRequest takes.
RequestInfo analyzeScannedChat(const ScannedChat& chat, std::int64_t defaultMaxOutputTokens,
                               const PromptEstimator* estimator = nullptr);

struct ResponseUsage {
    // What the provider's input-token limits count: OpenAI's prompt_tokens
    // (the Responses API's input_tokens);
    // Anthropic's input_tokens + cache_creation_input_tokens.
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    TokenUsage billed;  // split for pricing
};

std::optional<ResponseUsage> usageFromBody(ApiFlavor flavor, const nlohmann::json& body);
// The same from the "usage" object alone.
std::optional<ResponseUsage> usageFromUsage(ApiFlavor flavor, const nlohmann::json& usage);
// The same from the usage object's JSON text, read without building a
// document (the dispatcher's per-response path).
std::optional<ResponseUsage> usageFromText(ApiFlavor flavor, std::string_view usageJson);

// What usageFromText does, fed member by member (key as written, raw value
// text) by a scan already under way, e.g. scanJson's nested members of
// "usage" while it validates a whole response body.
class UsageReader {
public:
    void member(std::string_view key, std::string_view value);
    ResponseUsage result(ApiFlavor flavor) const;

private:
    std::int64_t m_prompt = 0, m_completion = 0, m_cached = 0, m_input = 0, m_output = 0, m_write = 0, m_read = 0;
    // OpenAI's Responses API reports input_tokens/output_tokens (cached in
    // input_tokens_details) where Chat Completions and Embeddings report
    // prompt_tokens/completion_tokens.
    std::int64_t m_inputCached = 0;
    bool m_sawPrompt = false;
};

// Reads a response stream event by event: time to first token, the usage in
// the final events, the terminal event, an error sent after HTTP 200, and the
// text, so the stream can be returned as an ordinary (non-streamed) body.
class StreamAccumulator {
public:
    explicit StreamAccumulator(ApiFlavor flavor, Endpoint endpoint = Endpoint::Completion)
        : m_flavor(flavor), m_endpoint(endpoint)
    {
    }

    // Feeds raw bytes. Returns false when the stream reported an error event
    // (error() then holds it) so the caller can stop reading.
    bool feed(std::string_view bytes);

    bool sawFirstToken() const noexcept { return m_firstToken; }
    bool complete() const noexcept { return m_done; }  // [DONE] / message_stop seen
    const std::optional<nlohmann::json>& error() const noexcept { return m_error; }
    const std::optional<ResponseUsage>& usage() const noexcept { return m_usage; }
    bool malformed() const noexcept { return m_malformed; }
    // True when the first content token arrived during the latest feed().
    bool firstTokenInLastFeed() const noexcept { return m_firstTokenNow; }

    // The response as the non-streaming endpoint would have returned it.
    nlohmann::json assembledBody() const;
    // The id the stream gave its response (chatcmpl-…, msg_…, resp_…).
    const std::string& responseId() const noexcept { return m_id; }

private:
    bool onEvent(const SseEvent& ev);
    bool onOpenAiChunk(const nlohmann::json& chunk);
    // onOpenAiChunk on the chunk's text, without building a document (a
    // stream sends one chunk per token, each read on the dispatcher thread).
    // nullopt, with nothing changed, for what it leaves to onOpenAiChunk:
    // an error, a key written with escapes, anything not valid.
    std::optional<bool> onOpenAiChunkText(std::string_view text);
    // The same for Anthropic's per-token event (content_block_delta); every
    // other event is left to onAnthropicEvent.
    std::optional<bool> onAnthropicDeltaText(const std::string& name, std::string_view text);
    bool onAnthropicEvent(const std::string& name, const nlohmann::json& data);
    bool onResponsesEvent(const nlohmann::json& data);

    ApiFlavor m_flavor;
    Endpoint m_endpoint;
    SseParser m_parser;
    bool m_firstToken = false;
    bool m_firstTokenNow = false;
    bool m_done = false;
    bool m_malformed = false;
    std::optional<nlohmann::json> m_error;
    std::optional<ResponseUsage> m_usage;
    std::string m_id;
    std::string m_model;
    std::string m_finishReason;
    std::string m_text;
    std::int64_t m_created = 0;
    std::int64_t m_anthropicInput = 0;
    std::int64_t m_anthropicCacheWrite = 0;
    std::int64_t m_anthropicCacheRead = 0;
    nlohmann::json m_response;  // Responses: the response object of response.completed
};

}  // namespace sluice
