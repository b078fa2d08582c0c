#include "mock/prompt_counter.h"

#include "tokenize/chat_tokens.h"
#include "tokenize/encodings.h"
#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

namespace sluice::mock {

namespace {

std::optional<tokenize::EncodingId> encodingOf(PromptCounting c) noexcept
{
    switch (c) {
    case PromptCounting::O200kBase: return tokenize::EncodingId::O200kBase;
    case PromptCounting::Cl100kBase: return tokenize::EncodingId::Cl100kBase;
    case PromptCounting::Estimate: break;
    }
    return std::nullopt;
}

// Every string below v, encoded; object keys are framing, not text. An
// image or a PDF costs what the provider's published rule says, not the
// tokens of its base64 (tokenize/media_tokens.h).
std::int64_t textTokens(const tokenize::BpeEncoding& enc, const nlohmann::json& v, bool anthropic)
{
    if (v.is_string()) {
        return static_cast<std::int64_t>(enc.count(v.get_ref<const std::string&>()));
    }
    if (v.is_object()) {
        if (const auto media = tokenize::mediaPartTokens(v, anthropic)) {
            return media->images + media->documents;
        }
    }
    std::int64_t n = 0;
    if (v.is_array() || v.is_object()) {
        for (const auto& item : v) {
            n += textTokens(enc, item, anthropic);
        }
    }
    return n;
}

}  // namespace

PromptCounter::PromptCounter(std::filesystem::path directory)
    : m_encodings(std::make_unique<tokenize::Encodings>(std::move(directory)))
{
}

PromptCounter::~PromptCounter() = default;

std::optional<std::int64_t> PromptCounter::count(PromptCounting counting, std::string_view path,
                                                 std::string_view model, std::string_view body) const
{
    const auto id = encodingOf(counting);
    if (!id) {
        return std::nullopt;
    }
    const tokenize::BpeEncoding* enc = m_encodings->get(*id);
    if (enc == nullptr) {
        return std::nullopt;
    }
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object()) {
        return std::nullopt;
    }
    if (path.ends_with("/chat/completions")) {
        return tokenize::countChatPromptTokens(*enc, model, doc);
    }
    const bool anthropic = path.ends_with("/messages") || path.ends_with("/count_tokens");
    std::int64_t n = 0;
    for (const char* field : {"system", "messages", "input", "instructions", "tools"}) {
        if (const auto it = doc.find(field); it != doc.end()) {
            n += textTokens(*enc, *it, anthropic);
        }
    }
    if (const auto messages = doc.find("messages"); messages != doc.end() && messages->is_array()) {
        n += 3 * static_cast<std::int64_t>(messages->size());
    }
    return std::max<std::int64_t>(1, n);
}

std::string PromptCounter::loadError(PromptCounting counting) const
{
    const auto id = encodingOf(counting);
    return id ? m_encodings->loadError(*id) : std::string();
}

}  // namespace sluice::mock
