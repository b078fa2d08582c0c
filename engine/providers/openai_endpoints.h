// Request analysis for OpenAI's APIs besides Chat Completions: the
// Responses API (POST /v1/responses: `input` a string or a list of items,
// `instructions`, `max_output_tokens`) and Embeddings (POST /v1/embeddings:
// `input` a string, a list of strings, or token ids), and the entry point
// that picks the analysis for a job's endpoint. Prompt tokens are counted
// with the model's tokenizer when the estimator has one for it (OpenAI's
// models: o200k_base, cl100k_base), else by the rule of thumb (about 4
// characters a token); plus message overhead for Responses items; token
// ids count one each. An embedding reserves no output.
//
// Thread-safety: pure functions.
#pragma once

#include "providers/protocol.h"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace sluice {

namespace tokenize {
class BpeEncoding;
}

// analyzeRequest for Endpoint::Completion, else the endpoint's own
// analysis. Throws InputError naming the field ("body.input: …"); the
// Responses and Embeddings APIs are OpenAI's only.
RequestInfo analyzeEndpointRequest(ApiFlavor flavor, Endpoint endpoint, const nlohmann::json& body,
                                   std::int64_t defaultMaxOutputTokens, const PromptEstimator* estimator = nullptr);

// POST /v1/responses/compact: the Responses API compacting a conversation
// (its `input`, or the one `previous_response_id` continues) into items
// for the next request. It makes an answer, so it is priced as a Responses
// request: the prompt counted, the model's default output reserved (the
// request sets no cap). Throws InputError naming the field.
RequestInfo analyzeResponsesCompaction(const nlohmann::json& body, std::int64_t defaultMaxOutputTokens,
                                       const PromptEstimator* estimator = nullptr);
// Whether a job's method and objectPath name a compaction.
bool isCompaction(ApiFlavor flavor, Endpoint endpoint, std::string_view method, std::string_view objectPath) noexcept;

// The prompt of a Responses request: instructions, then each input item's
// text (3 tokens per item, as chat messages), plus 3 to prime the reply.
std::int64_t estimateResponsesInputTokens(const nlohmann::json& body);
// What an embeddings request's input costs: the text of every string, one
// token per token id.
std::int64_t estimateEmbeddingsInputTokens(const nlohmann::json& body);
// The same with each text counted by enc (exactly), or by the rule of thumb
// when enc is null. Throws tokenize::TokenizerError for a text over 4 GiB.
std::int64_t countResponsesInputTokens(const nlohmann::json& body, const tokenize::BpeEncoding* enc);
std::int64_t countEmbeddingsInputTokens(const nlohmann::json& body, const tokenize::BpeEncoding* enc);

}  // namespace sluice
