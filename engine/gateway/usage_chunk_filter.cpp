#include "gateway/usage_chunk_filter.h"

#include <nlohmann/json.hpp>

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
        const std::size_t end = buf.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) {
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

bool UsageChunkFilter::isUsageOnly(std::string_view event)
{
    // Every other chunk of the stream has choices: the cheap test first.
    if (event.find("\"choices\"") == std::string_view::npos || event.find("\"usage\"") == std::string_view::npos) {
        return false;
    }
    std::string data;
    std::size_t pos = 0;
    while (pos < event.size()) {
        std::size_t end = event.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) {
            end = event.size();
        }
        std::string_view line = event.substr(pos, end - pos);
        pos = end + (event.compare(end, 2, "\r\n") == 0 ? 2 : 1);
        if (line.rfind("data:", 0) != 0) {
            continue;
        }
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') {
            line.remove_prefix(1);
        }
        if (!data.empty()) {
            data += '\n';
        }
        data.append(line);
    }
    const nlohmann::json chunk = nlohmann::json::parse(data, nullptr, false);
    if (!chunk.is_object()) {
        return false;
    }
    const auto choices = chunk.find("choices");
    const auto usage = chunk.find("usage");
    return choices != chunk.end() && choices->is_array() && choices->empty() && usage != chunk.end() &&
           usage->is_object();
}

}  // namespace sluice::gateway
