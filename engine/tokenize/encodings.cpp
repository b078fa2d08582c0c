#include "tokenize/encodings.h"

namespace sluice::tokenize {

std::string_view encodingName(EncodingId id) noexcept
{
    return id == EncodingId::O200kBase ? "o200k_base" : "cl100k_base";
}

namespace {

bool startsWith(std::string_view s, std::string_view prefix) noexcept
{
    return s.substr(0, prefix.size()) == prefix;
}

// "o1", "o1-mini", "o3-2025-04-16", but not "o1x" or "omni".
bool isReasoningSeries(std::string_view m) noexcept
{
    return m.size() >= 2 && m[0] == 'o' && m[1] >= '1' && m[1] <= '9' && (m.size() == 2 || m[2] == '-');
}

}  // namespace

std::optional<EncodingId> encodingForModel(std::string_view model) noexcept
{
    std::string_view m = model;
    if (startsWith(m, "ft:")) {
        m.remove_prefix(3);
    }
    if (const auto slash = m.rfind('/'); slash != std::string_view::npos) {
        m.remove_prefix(slash + 1);
    }
    for (const std::string_view p : {"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "codex-mini"}) {
        if (startsWith(m, p)) {
            return EncodingId::O200kBase;
        }
    }
    if (isReasoningSeries(m)) {
        return EncodingId::O200kBase;
    }
    for (const std::string_view p : {"gpt-4", "gpt-3.5-turbo", "gpt-35-turbo", "text-embedding-3-", "text-embedding-ada-002"}) {
        if (startsWith(m, p)) {
            return EncodingId::Cl100kBase;
        }
    }
    return std::nullopt;
}

Encodings::Encodings(std::filesystem::path directory) : m_directory(std::move(directory)) {}

const BpeEncoding* Encodings::get(EncodingId id) const
{
    Slot& slot = m_slots[static_cast<std::size_t>(id)];
    std::call_once(slot.once, [&] {
        const auto path = m_directory / (std::string(encodingName(id)) + ".ranks");
        try {
            slot.encoding = BpeEncoding::loadFile(path);
        } catch (const TokenizerError& e) {
            slot.error = e.what();
        }
    });
    return slot.encoding.get();
}

const BpeEncoding* Encodings::forModel(std::string_view model) const
{
    const auto id = encodingForModel(model);
    return id ? get(*id) : nullptr;
}

std::string Encodings::loadError(EncodingId id) const
{
    // Loading first makes the answer the truth rather than "not asked yet";
    // after call_once completed, the slot is read without a race.
    (void)get(id);
    return m_slots[static_cast<std::size_t>(id)].error;
}

}  // namespace sluice::tokenize
