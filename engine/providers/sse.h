// SseParser: Server-Sent Events, parsed incrementally from arbitrary chunks
// (a chunk may end mid-line or mid-event).
//
// Thread-safety: none; one parser per stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace sluice {

struct SseEvent {
    std::string event;  // "message" when the stream names none
    std::string data;   // data lines joined with '\n'
};

// The first '\r' or '\n' in [p, end), or end. Lines are found with memchr
// (a vectorised scan) for the '\n' and then for a '\r' before it.
const char* sseLineBreak(const char* p, const char* end) noexcept;

class SseParser {
public:
    // Feeds bytes; calls onEvent for every complete event. Stops early and
    // returns false when onEvent returns false.
    bool feed(std::string_view chunk, const std::function<bool(const SseEvent&)>& onEvent);
    // Bytes received that did not yet complete an event.
    bool hasPartial() const noexcept { return !m_line.empty() || m_hasData || !m_event.empty(); }

private:
    bool line(std::string_view text, const std::function<bool(const SseEvent&)>& onEvent);

    std::string m_line;
    std::string m_event;
    std::string m_data;
    bool m_hasData = false;
    bool m_lastWasCr = false;
};

}  // namespace sluice
