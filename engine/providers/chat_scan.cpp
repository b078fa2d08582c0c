#include "providers/chat_scan.h"

#include "core/json_scan.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace sluice {

namespace {

using Key = tokenize::ChatStringMember::Key;

// Written as it reads: no escape, nothing outside ASCII.
bool plainKey(std::string_view key) noexcept
{
    return std::none_of(key.begin(), key.end(), [](char c) { return c == '\\' || static_cast<unsigned char>(c) >= 0x80; });
}

// Text that nlohmann's parser takes whenever the scanner does: what only
// one of them would refuse needs a "\u" escape (a lone surrogate), a byte
// outside ASCII (bytes that are not UTF-8) or a number too large for a
// double (nlohmann refuses it), which needs an exponent or a few hundred
// digits. Strings are told from the rest so that their letters pass.
bool plainText(std::string_view raw) noexcept
{
    constexpr std::size_t kLongestNumber = 300;  // far below a double's 309 digits
    bool inString = false;
    std::size_t digits = 0;
    char previous = 0;
    for (std::size_t i = 0; i < raw.size(); previous = raw[i], ++i) {
        const auto c = static_cast<unsigned char>(raw[i]);
        if (c >= 0x80) {
            return false;
        }
        if (inString) {
            if (c == '\\') {
                if (i + 1 < raw.size() && raw[i + 1] == 'u') {
                    return false;
                }
                ++i;  // the escaped character
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        const bool digit = c >= '0' && c <= '9';
        digits = digit ? digits + 1 : 0;
        if (digits > kLongestNumber || ((c == 'e' || c == 'E') && ((previous >= '0' && previous <= '9') || previous == '.'))) {
            return false;
        }
        inString = c == '"';
    }
    return true;
}

// Digits only (as nlohmann reads an unsigned integer), within [min, max].
std::optional<std::int64_t> wholeNumber(std::string_view raw, std::int64_t min, std::int64_t max) noexcept
{
    std::int64_t v = 0;
    if (raw.empty() || !std::all_of(raw.begin(), raw.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    if (ec != std::errc() || end != raw.data() + raw.size() || v < min || v > max) {
        return std::nullopt;
    }
    return v;
}

bool numberIn(std::string_view raw, double min, double max) noexcept
{
    double v = 0;
    const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    return ec == std::errc() && end == raw.data() + raw.size() && v >= min && v <= max;
}

// The top-level members, as scanJson hands them over. ok turns false at
// the first thing outside the shape, and the rest is only skipped.
class TopReader {
public:
    explicit TopReader(ScannedChat& chat) : m_chat(chat) {}

    void member(std::string_view key, std::string_view value)
    {
        if (m_ok) {
            m_ok = plainKey(key) && read(key, value);
        }
    }

    // The messages' text, once every member was read and the shape held.
    std::optional<std::string_view> messages() const
    {
        if (!m_ok || m_chat.model.empty() || (m_seen & kMessages) == 0) {
            return std::nullopt;
        }
        return m_messages;
    }

    std::optional<std::int64_t> maxOutputTokens() const { return m_maxCompletion ? m_maxCompletion : m_maxTokens; }

private:
    enum : unsigned {
        kModel = 1, kMessages = 2, kStream = 4, kN = 8, kMaxTokens = 16, kMaxCompletion = 32, kTemperature = 64,
        kTopP = 128
    };
    static constexpr std::int64_t kMaxOutput = std::int64_t{1} << 31;

    // A named member the first time it appears; a repeated one is not read.
    bool first(unsigned bit)
    {
        if ((m_seen & bit) != 0) {
            return false;
        }
        m_seen |= bit;
        return true;
    }

    bool read(std::string_view key, std::string_view value)
    {
        if (key == "model") {
            auto text = first(kModel) ? jsonStringValue(value) : std::nullopt;
            m_chat.model = text.value_or(std::string());
            return text.has_value();
        }
        if (key == "messages") {
            m_messages = value;
            return first(kMessages);
        }
        if (key == "stream") {
            m_chat.stream = value == "true";
            return first(kStream) && (m_chat.stream || value == "false");
        }
        if (key == "n") {
            const auto n = wholeNumber(value, 1, 128);
            m_chat.n = static_cast<int>(n.value_or(1));
            return first(kN) && n.has_value();
        }
        if (key == "max_tokens" || key == "max_completion_tokens") {
            const bool tokens = key == "max_tokens";
            auto& slot = tokens ? m_maxTokens : m_maxCompletion;
            slot = wholeNumber(value, 1, kMaxOutput);
            return first(tokens ? kMaxTokens : kMaxCompletion) && slot.has_value();
        }
        if (key == "temperature") {
            return first(kTemperature) && numberIn(value, 0, 2);
        }
        if (key == "top_p") {
            return first(kTopP) && numberIn(value, 0, 1);
        }
        return key != "tools" && key != "functions" && key != "stream_options" && plainText(value);
    }

    ScannedChat& m_chat;
    bool m_ok = true;
    unsigned m_seen = 0;
    std::string_view m_messages;
    std::optional<std::int64_t> m_maxTokens;
    std::optional<std::int64_t> m_maxCompletion;
};

Key keyOf(std::string_view key) noexcept
{
    if (key == "role") {
        return Key::Role;
    }
    if (key == "content") {
        return Key::Content;
    }
    return key == "name" ? Key::Name : Key::Other;
}

// More members than a chat message has (role, content, name, an id or
// two): a message with more is left to the document, and the keys seen are
// kept without an allocation.
constexpr std::size_t kMaxMessageMembers = 8;

// One message: an object of string members, content among them, none
// repeated, none that the count reads as something other than text.
bool readMessage(std::string_view element, ScannedChat& chat)
{
    if (element.empty() || element.front() != '{') {
        return false;
    }
    std::array<std::string_view, kMaxMessageMembers> keys;
    std::size_t seen = 0;
    bool ok = true;
    bool content = false;
    scanJson(element, [&](std::string_view key, std::string_view value) {
        if (!ok) {
            return;
        }
        if (seen == keys.size() || !plainKey(key) || key == "tool_calls" || key == "function_call" ||
            std::find(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(seen), key) !=
                keys.begin() + static_cast<std::ptrdiff_t>(seen)) {
            ok = false;
            return;
        }
        keys[seen++] = key;
        auto text = jsonStringValue(value);
        if (!text) {
            ok = false;
            return;
        }
        chat.members.push_back({keyOf(key), std::move(*text)});
        content = content || chat.members.back().key == Key::Content;
    });
    chat.messageEnds.push_back(static_cast<std::uint32_t>(chat.members.size()));
    // A message without text content is read by the media estimate as a
    // part itself (an image, a file): the document's way.
    return ok && content;
}

}  // namespace

std::optional<ScannedChat> scanChatRequest(std::string_view body)
{
    ScannedChat chat;
    // A few messages of two or three members each, without growing.
    chat.members.reserve(8);
    chat.messageEnds.reserve(4);
    TopReader top(chat);
    if (!scanJson(body, [&top](std::string_view key, std::string_view value) { top.member(key, value); })) {
        return std::nullopt;
    }
    const auto messages = top.messages();
    if (!messages || messages->empty() || messages->front() != '[') {
        return std::nullopt;
    }
    bool ok = true;
    scanJsonArray(*messages, [&](std::string_view element) { ok = ok && readMessage(element, chat); });
    if (!ok || chat.messageEnds.empty()) {
        return std::nullopt;
    }
    chat.maxOutputTokens = top.maxOutputTokens();
    return chat;
}

}  // namespace sluice
