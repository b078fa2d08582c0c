// Prompt tokens of an OpenAI Chat Completions request counted the way
// OpenAI counts them, after OpenAI's cookbook ("How to count tokens with
// tiktoken"): every string field of every message encoded, plus 3 tokens per
// message, 1 per name, and 3 priming the reply (gpt-3.5-turbo-0301: 4 per
// message, -1 per name). Exact for text messages. Approximate, as the
// cookbook's own formula is, for tools/functions (its per-function,
// per-property and per-enum constants), and approximate by design for image
// parts (85 tokens at detail "low", 765 otherwise: a 1024×1024 image on the
// gpt-4o tile scale) and assistant tool_calls (name and arguments encoded,
// plus 3 per call). response_format schemas are not counted.
//
// Thread-safety: pure functions; any thread.
#pragma once

#include "tokenize/encodings.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::tokenize {

// The prompt tokens of body (a Chat Completions request) under enc.
std::int64_t countChatPromptTokens(const BpeEncoding& enc, std::string_view model, const nlohmann::json& body);

// countChatPromptTokens with the model's encoding; nullopt when the model
// has no known encoding or its rank file is unavailable (the caller falls
// back to an estimate).
std::optional<std::int64_t> countPromptTokens(const Encodings& encodings, std::string_view model,
                                              const nlohmann::json& body);

}  // namespace sluice::tokenize
