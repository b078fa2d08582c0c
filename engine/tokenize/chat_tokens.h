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
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenize {

// The prompt tokens of body (a Chat Completions request) under enc.
std::int64_t countChatPromptTokens(const BpeEncoding& enc, std::string_view model, const nlohmann::json& body);

// A member of a chat message whose value is a string, decoded: a request
// read without building a document (providers/chat_scan.h) gives its
// messages as these. Role, content and name are told apart because the
// rule of thumb and the language tally read only those.
struct ChatStringMember {
    enum class Key : std::uint8_t { Role, Content, Name, Other };
    Key key = Key::Other;
    std::string text;
};
// countChatPromptTokens for a request with no tools or functions whose
// messages have only string members, none named tool_calls or
// function_call: message i's members are members[messageEnds[i - 1],
// messageEnds[i]) (from 0 for the first). The same count the document
// gives for such a request.
std::int64_t countChatPromptTokens(const BpeEncoding& enc, std::string_view model,
                                   const std::vector<ChatStringMember>& members,
                                   const std::vector<std::uint32_t>& messageEnds);
// countChatPromptTokens with the model's encoding; nullopt when the model
// has no known encoding or its rank file is unavailable (the caller falls
// back to an estimate).
std::optional<std::int64_t> countPromptTokens(const Encodings& encodings, std::string_view model,
                                              const nlohmann::json& body);

}  // namespace sluice::tokenize
