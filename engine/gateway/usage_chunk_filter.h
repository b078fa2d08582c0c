// Takes back, from an OpenAI chat completion stream, the usage chunk that
// Sluice asked for on the client's behalf.
//
// A streamed chat completion reports its usage only when the request says
// `stream_options.include_usage`; Sluice adds that when a client did not
// (the reservation cannot be settled without it). The provider then ends
// the stream with one more event, `{"choices": [], "usage": {...}}`, that
// the client never asked for, and code that reads `chunk.choices[0]` of
// every chunk (common, and correct against the provider) fails on it. This
// filter passes the stream on event by event and drops that one event.
//
// An event is passed on once its terminating blank line has arrived; the
// bytes of an event not yet complete wait for the rest (a provider writes
// an event in one piece, so nothing waits in practice). More than
// kMostHeld bytes with no event's end, and the filter steps aside: the rest
// of the stream passes as it comes. Not thread-safe:
// one per stream, used by whoever writes that stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::gateway {

class UsageChunkFilter {
public:
    // The bytes of `bytes` (after any held back) to pass on now.
    std::string feed(std::string_view bytes);
    // What is still held at the end of the stream (an event with no
    // terminating blank line), passed on as it is.
    std::string finish();
    // Whether the usage event was seen and dropped.
    bool dropped() const noexcept { return m_dropped; }

    // Whether one SSE event (its lines, without the blank line that ends
    // it) is a chat completion chunk with no choices and a usage object.
    static bool isUsageOnly(std::string_view event);

    static constexpr std::size_t kMostHeld = 64 * 1024;

private:
    std::string m_pending;
    bool m_dropped = false;
    bool m_gaveUp = false;
};

}  // namespace sluice::gateway
