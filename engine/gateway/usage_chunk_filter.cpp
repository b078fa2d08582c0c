#include "gateway/usage_chunk_filter.h"

#include "core/json_scan.h"
#include "providers/sse.h"

#include <utility>

namespace sluice::gateway {

std::string UsageChunkFilter::feed(std::string_view bytes)
{
    if (m_gaveUp) {
        return std::string(bytes);
    }
    // Usually nothing is held and the bytes end with an event: read them
    // where they are, and keep no buffer between writes (thousands of
    // streams may be open at once).
    if (!m_pending.empty()) {
        m_pending.append(bytes);
    }
    const std::string_view buf = m_pending.empty() ? bytes : std::string_view(m_pending);
    std::string out;
    const std::size_t n = buf.size();
    std::size_t eventStart = 0;
    std::size_t pos = 0;
    while (pos < n) {
        const std::size_t lineStart = pos;
        // Not find_first_of, which calls memchr once per byte.
        const std::size_t end = static_cast<std::size_t>(sseLineBreak(buf.data() + pos, buf.data() + n) - buf.data());
        if (end == n) {
            break;  // a line still arriving
        }
        if (buf[end] == '\r' && end + 1 == n) {
            break;  // "\r" or the first half of "\r\n": the next byte tells
        }
        pos = end + 1;
        if (buf[end] == '\r' && buf[end + 1] == '\n') {
            ++pos;
        }
        if (end != lineStart) {
            continue;
        }
        // A blank line ends the event before it.
        const std::string_view event = buf.substr(eventStart, lineStart - eventStart);
        if (!m_dropped && isUsageOnly(event)) {
            m_dropped = true;
        } else {
            out.append(buf.substr(eventStart, pos - eventStart));
        }
        eventStart = pos;
    }
    std::string rest(buf.substr(eventStart));
    m_pending.swap(rest);  // a move would keep the old buffer's capacity
    if (m_pending.size() > kMostHeld) {
        // No event ends in sight: not the SSE this filter reads. The stream
        // goes on untouched rather than held.
        out += finish();
        m_gaveUp = true;
    }
    return out;
}

std::string UsageChunkFilter::finish()
{
    return std::exchange(m_pending, std::string());
}

namespace {

// Whether a "choices" key in the text is followed by an empty array:
// every chunk but the usage one has a choice, so this spares the JSON
// parse of each (they all carry "usage": null once usage was asked for).
bool emptyChoicesIn(std::string_view text)
{
    constexpr std::string_view kKey = "\"choices\"";
    const auto skipBlanks = [&](std::size_t i) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            ++i;
        }
        return i;
    };
    for (std::size_t at = text.find(kKey); at != std::string_view::npos; at = text.find(kKey, at + 1)) {
        std::size_t i = skipBlanks(at + kKey.size());
        if (i < text.size() && text[i] == ':') {
            i = skipBlanks(i + 1);
            if (i < text.size() && text[i] == '[') {
                i = skipBlanks(i + 1);
                return i < text.size() && text[i] == ']';
            }
        }
    }
    return false;
}

}  // namespace

bool UsageChunkFilter::isUsageOnly(std::string_view event)
{
    if (!emptyChoicesIn(event) || event.find("\"usage\"") == std::string_view::npos) {
        return false;
    }
    // The event's data lines joined, as any SSE reader would read them.
    std::string data;
    SseParser().feed(std::string(event) + "\n\n", [&](const SseEvent& e) {
        data = e.data;
        return false;  // one event: the first is the only
    });
    // Scanned, not parsed into a document: this runs once per stream, and a
    // document of the usage chunk cost more than the rest of the stream's
    // filtering. Members are handed out only when the event is an object; a
    // repeated key counts as its last value, as in a parse.
    bool emptyChoices = false;
    bool usageObject = false;
    const bool valid = scanJson(data, [&](std::string_view key, std::string_view value) {
        if (key == "choices") {
            std::size_t elements = 0;
            emptyChoices = scanJsonArray(value, [&](std::string_view) { ++elements; }) && elements == 0;
        } else if (key == "usage") {
            usageObject = !value.empty() && value.front() == '{';
        }
    });
    return valid && emptyChoices && usageObject;
}

}  // namespace sluice::gateway
