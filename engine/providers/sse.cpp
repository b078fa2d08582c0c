#include "providers/sse.h"

namespace sluice {

bool SseParser::feed(std::string_view chunk, const std::function<bool(const SseEvent&)>& onEvent)
{
    for (char c : chunk) {
        if (c == '\n' && m_lastWasCr) {
            m_lastWasCr = false;  // the LF of a CRLF pair
            continue;
        }
        m_lastWasCr = c == '\r';
        if (c == '\n' || c == '\r') {
            const std::string text = std::move(m_line);
            m_line.clear();
            if (!line(text, onEvent)) {
                return false;
            }
            continue;
        }
        m_line.push_back(c);
    }
    return true;
}

bool SseParser::line(std::string_view text, const std::function<bool(const SseEvent&)>& onEvent)
{
    if (text.empty()) {
        if (!m_hasData && m_event.empty()) {
            return true;
        }
        SseEvent ev{m_event.empty() ? std::string("message") : m_event, m_data};
        m_event.clear();
        m_data.clear();
        m_hasData = false;
        return onEvent(ev);
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
