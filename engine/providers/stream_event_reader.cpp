#include "providers/stream_event_reader.h"

#include "core/json_scan.h"

#include <charconv>
#include <utility>

namespace sluice {

namespace {

// A member's raw value as the document's intField reads it: an integer,
// else the fallback; nullopt for an integer beyond int64 (left to the
// document).
std::optional<std::int64_t> rawInt(std::string_view raw, std::int64_t fallback)
{
    if (raw.empty() || raw.find_first_of(".eE") != std::string_view::npos ||
        (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9'))) {
        return fallback;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    if (ec != std::errc() || end != raw.data() + raw.size()) {
        return std::nullopt;
    }
    return v;
}

bool isString(std::string_view raw)
{
    return !raw.empty() && raw.front() == '"';
}

bool isObject(std::string_view raw)
{
    return !raw.empty() && raw.front() == '{';
}

bool escaped(std::string_view key)
{
    return key.find('\\') != std::string_view::npos;
}

// A string member as the document's stringField reads it: its value, else
// "" when it is not a string; nullopt when it does not decode.
std::optional<std::string> rawString(std::string_view raw)
{
    return isString(raw) ? jsonStringValue(raw) : std::string();
}

// The text is one object: what the document reading would first check.
bool startsObject(std::string_view text)
{
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && text[first] == '{';
}

// The raw value of the member `name` of the object text `object` (the last
// one, as in a document), and false when some key is written with escapes.
std::pair<std::string_view, bool> memberOf(std::string_view object, std::string_view name)
{
    std::string_view found;
    bool plain = true;
    scanJson(object, [&](std::string_view key, std::string_view value) {
        plain = plain && !escaped(key);
        if (key == name) {
            found = value;
        }
    });
    return {found, plain};
}

// One element of "choices" into `out`; false to leave the chunk to the
// document.
bool readChoice(std::string_view choice, OpenAiChunkRead& out)
{
    if (!isObject(choice)) {
        return true;  // skipped, as the document's reading skips it
    }
    std::string_view index, delta, finishReason, content;
    bool plain = true;
    scanJson(choice, [&](std::string_view key, std::string_view value) {
        plain = plain && !escaped(key);
        if (key == "index") {
            index = value;
        } else if (key == "delta") {
            delta = value;
        } else if (key == "finish_reason") {
            finishReason = value;
        }
    });
    if (isObject(delta)) {
        const auto [value, plainDelta] = memberOf(delta, "content");
        content = value;
        plain = plain && plainDelta;
    }
    if (!plain) {
        return false;
    }
    if (isString(content)) {
        const std::optional<std::string> text = jsonStringValue(content);
        const std::optional<std::int64_t> i = rawInt(index, 0);
        if (!text || !i) {
            return false;
        }
        out.anyContent = out.anyContent || !text->empty();
        if (*i == 0) {
            out.text += *text;
        }
    }
    if (isString(finishReason)) {
        out.finishReason = jsonStringValue(finishReason);
        return out.finishReason.has_value();
    }
    return true;
}

}  // namespace

std::optional<OpenAiChunkRead> readOpenAiChunk(std::string_view text, bool withHeader)
{
    if (!startsObject(text)) {
        return std::nullopt;
    }
    std::string_view id, model, created, choices;
    OpenAiChunkRead out;
    bool plain = true;
    const bool valid = scanJson(text, [&](std::string_view key, std::string_view value) {
        if (escaped(key)) {
            plain = false;
        } else if (key == "error") {
            plain = plain && value == "null";
        } else if (key == "id") {
            id = value;
        } else if (key == "model") {
            model = value;
        } else if (key == "created") {
            created = value;
        } else if (key == "choices") {
            choices = value;
        } else if (key == "usage") {
            out.usage = value;
        }
    });
    if (!valid || !plain) {
        return std::nullopt;
    }
    if (withHeader) {
        std::optional<std::string> i = rawString(id);
        std::optional<std::string> m = rawString(model);
        const std::optional<std::int64_t> c = rawInt(created, 0);
        if (!i || !m || !c) {
            return std::nullopt;
        }
        out.header = OpenAiChunkRead::Header{std::move(*i), std::move(*m), *c};
    }
    bool ok = true;
    if (!choices.empty() && choices.front() == '[') {
        scanJsonArray(choices, [&](std::string_view choice) { ok = ok && readChoice(choice, out); });
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::optional<std::string>> readAnthropicDelta(const std::string& eventName, std::string_view text)
{
    if (!startsObject(text)) {
        return std::nullopt;
    }
    std::string_view type, delta, deltaText;
    bool plain = true;
    const bool valid = scanJson(text, [&](std::string_view key, std::string_view value) {
        plain = plain && !escaped(key);
        if (key == "type") {
            type = value;
        } else if (key == "delta") {
            delta = value;
        }
    });
    if (!valid || !plain) {
        return std::nullopt;
    }
    const std::optional<std::string> kind = isString(type) ? jsonStringValue(type) : std::optional(eventName);
    if (kind != "content_block_delta") {
        return std::nullopt;
    }
    if (isObject(delta)) {
        const auto [value, plainDelta] = memberOf(delta, "text");
        deltaText = value;
        plain = plain && plainDelta;
    }
    if (!plain) {
        return std::nullopt;
    }
    if (!isString(deltaText)) {
        return std::optional<std::string>();
    }
    std::optional<std::string> piece = jsonStringValue(deltaText);
    if (!piece) {
        return std::nullopt;
    }
    return piece;
}

}  // namespace sluice
