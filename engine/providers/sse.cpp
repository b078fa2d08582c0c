#include "providers/sse.h"

#include <cstring>
#include <utility>

namespace sluice {

const char* sseLineBreak(const char* p, const char* end) noexcept
{
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* stop = lf != nullptr ? lf : end;
    const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(stop - p)));
    return cr != nullptr ? cr : stop;
}

bool SseParser::feed(std::string_view chunk, const std::function<bool(const SseEvent&)>& onEvent)
{
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
    while (p != end) {
        if (m_lastWasCr) {
            m_lastWasCr = false;
            if (*p == '\n') {
                ++p;  // the LF of a CRLF pair
                continue;
            }
        }
        const char* stop = sseLineBreak(p, end);
        if (stop == end) {
            m_line.append(p, end);  // a line still arriving
            break;
        }
        m_lastWasCr = *stop == '\r';
        // A line that arrived whole is read where it is; one that began in
        // an earlier chunk is completed in m_line first.
        bool more = true;
        if (m_line.empty()) {
            more = line(std::string_view(p, static_cast<std::size_t>(stop - p)), onEvent);
        } else {
            m_line.append(p, stop);
            const std::string text = std::exchange(m_line, std::string());
            more = line(text, onEvent);
        }
        if (!more) {
            return false;
        }
        p = stop + 1;
    }
    return true;
}

bool SseParser::line(std::string_view text, const std::function<bool(const SseEvent&)>& onEvent)
{
    if (text.empty()) {
        if (!m_hasData && m_event.empty()) {
            return true;
        }
        SseEvent ev{m_event.empty() ? std::string("message") : std::exchange(m_event, std::string()),
                    std::exchange(m_data, std::string())};
        m_hasData = false;
        const bool more = onEvent(ev);
        // The data's buffer is kept for the next event's.
        m_data = std::move(ev.data);
        m_data.clear();
        return more;
    }
    if (text.front() == ':') {
        return true;  // comment / keep-alive
    }
    const auto colon = text.find(':');
    std::string_view field = text.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    if (field == "data") {
        if (m_hasData) {
            m_data.push_back('\n');
        }
        m_data.append(value);
        m_hasData = true;
    } else if (field == "event") {
        m_event = std::string(value);
    }
    return true;
}

}  // namespace sluice
