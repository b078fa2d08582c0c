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

std::string_view stringAt(const nlohmann::json& obj, const char* key)
{
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view();
}

std::int64_t pdfTokens(std::string_view base64)
{
    return tokenize::pdfPages(base64) * tokenize::kTokensPerPdfPage;
}

// An image or a PDF costs what the provider's published rule says, not the
// tokens of its base64 (tokenize/media_tokens.h); nullopt: not a media part.
std::optional<std::int64_t> mediaTokens(const nlohmann::json& part, bool anthropic)
{
    const std::string_view type = stringAt(part, "type");
    const auto source = part.find("source");
    const bool inline64 = source != part.end() && source->is_object() && stringAt(*source, "type") == "base64";
    if (type == "image" && anthropic) {
        return tokenize::anthropicImageTokens(inline64 ? tokenize::imageSizeOfBase64(stringAt(*source, "data")) : std::nullopt);
    }
    if (type == "input_image") {
        const auto payload = tokenize::dataUrlPayload(stringAt(part, "image_url"));
        return tokenize::openAiImageTokens(payload ? tokenize::imageSizeOfBase64(*payload) : std::nullopt,
                                           stringAt(part, "detail") == "low");
    }
    if (type == "document" && inline64 && stringAt(*source, "media_type") == "application/pdf") {
        return pdfTokens(stringAt(*source, "data"));
    }
    if (type == "input_file") {
        const auto payload = tokenize::dataUrlPayload(stringAt(part, "file_data"));
        return payload ? pdfTokens(*payload) : tokenize::kTokensPerPdfPage;
    }
    return std::nullopt;
}

// Every string below v, encoded; object keys are framing, not text. Media
// parts by their own rule.
std::int64_t textTokens(const tokenize::BpeEncoding& enc, const nlohmann::json& v, bool anthropic)
{
    if (v.is_string()) {
        return static_cast<std::int64_t>(enc.count(v.get_ref<const std::string&>()));
    }
    if (v.is_object()) {
        if (const auto media = mediaTokens(v, anthropic)) {
            return *media;
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
