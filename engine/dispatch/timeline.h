// The job timeline's text: the notes the dispatcher writes for every
// request ("why did this wait?"), built with one allocation each since they
// are written on the dispatcher thread for every request.
//
// Thread-safety: pure functions.
#pragma once

#include "admission/admission.h"
#include "core/clock.h"
#include "dispatch/job.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// A number's digits, for concat() without a temporary string.
struct Decimal {
    std::array<char, 24> digits{};
    std::size_t size = 0;
};

inline Decimal decimal(std::int64_t v)
{
    Decimal d;
    d.size = static_cast<std::size_t>(std::to_chars(d.digits.data(), d.digits.data() + d.digits.size(), v).ptr -
                                      d.digits.data());
    return d;
}

inline std::string_view piece(std::string_view s)
{
    return s;
}

inline std::string_view piece(const Decimal& d)
{
    return {d.digits.data(), d.size};
}

// The pieces joined with one allocation.
template <typename... Pieces>
std::string concat(const Pieces&... pieces)
{
    const std::string_view parts[] = {piece(pieces)...};
    std::size_t size = 0;
    for (std::string_view p : parts) {
        size += p.size();
    }
    std::string out;
    out.reserve(size);
    for (std::string_view p : parts) {
        out.append(p);
    }
    return out;
}

// "1.5s", "250ms".
std::string formatDelay(Duration d);

// "tokens per minute of model mock/main/gpt-4o", from the scope's name.
std::string describeBinding(const Binding& b, const std::vector<std::string>& scopeNames);

namespace timeline {

std::string queued(std::string_view tenant, int priority, const Cost& cost);
// The facts of the four events of every request, for TimelineEvent::text():
// queued (first: tenant; a, b, c: priority, estimated input and output
// tokens), sent (first, second: provider and key; a: attempt), a response
// with no failure (a: status; b: latency in ns), completed (a, b: input and
// output tokens; c: 1 when usage was reported).
TimelineEvent::Facts queuedFacts(std::string_view tenant, int priority, const Cost& cost);
TimelineEvent::Facts sentFacts(std::string_view provider, std::string_view key, std::size_t attempt);
TimelineEvent::Facts responseFacts(long status, Duration latency);
TimelineEvent::Facts completedFacts(const std::optional<ResponseUsage>& usage);
// "for <why> until <time>" or "for <why> until a request completes".
std::string waiting(std::string_view why, bool waitsForRelease, WallTime until);
std::string sent(std::string_view provider, std::string_view key, std::size_t attempt);
// "HTTP 200 after 1.2s", "no response: timeout (…) after 5s".
std::string response(long status, FailureClass cls, std::string_view message, Duration latency);
std::string retryScheduled(int attempt, WallTime at, Duration in);
std::string keyCooled(std::string_view provider, std::string_view key, std::string_view model, WallTime until,
                      std::string_view what);
std::string completed(const std::optional<ResponseUsage>& usage);
// "rate_limited: the provider's message".
std::string failure(FailureClass cls, std::string_view message);

}  // namespace timeline

}  // namespace sluice
