// Prompt tokens as a provider with a real tokenizer counts them, for mock
// models configured with `"tokenizer": "o200k_base"` (or "cl100k_base"):
// the mock then enforces and reports exact counts instead of its default
// characters ÷ 4, which is also Sluice's own rule of thumb. A provider whose
// counts differ from the client's estimate (code, Japanese, Chinese, emoji)
// is what estimate accounting and calibration must be tested against.
//
// Chat Completions bodies are counted the way OpenAI counts them
// (tokenize::countChatPromptTokens). Other bodies (Anthropic Messages,
// Responses, Embeddings) encode every string under their prompt fields
// (system, messages, input, instructions, tools) plus 3 tokens per message,
// standing in for a provider whose tokenizer is not public: exact about
// the text, approximate about the framing, as such a provider is to a client.
//
// Thread-safety: every member from any thread (the encodings load once, on
// first use, under their own lock).
#pragma once

#include "mock/mock_config.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::tokenize {
class Encodings;
}

namespace sluice::mock {

class PromptCounter {
public:
    // directory holds the rank files (tokenize::tokenizerDir()).
    explicit PromptCounter(std::filesystem::path directory);
    ~PromptCounter();
    PromptCounter(const PromptCounter&) = delete;
    PromptCounter& operator=(const PromptCounter&) = delete;

    // The prompt tokens of body under counting; nullopt for
    // PromptCounting::Estimate, a body that is not JSON, or an encoding
    // whose rank file cannot be loaded (the caller keeps its estimate).
    std::optional<std::int64_t> count(PromptCounting counting, std::string_view path, std::string_view model,
                                      std::string_view body) const;

    // Why counting's encoding cannot be used; empty when it loads.
    std::string loadError(PromptCounting counting) const;

private:
    std::unique_ptr<tokenize::Encodings> m_encodings;
};

}  // namespace sluice::mock
