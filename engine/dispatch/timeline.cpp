#include "dispatch/timeline.h"

#include "core/timefmt.h"

namespace sluice {

std::string_view timelineKindName(TimelineEvent::Kind k) noexcept
{
    switch (k) {
    case TimelineEvent::Kind::Queued: return "queued";
    case TimelineEvent::Kind::Waiting: return "waiting";
    case TimelineEvent::Kind::Sent: return "sent";
    case TimelineEvent::Kind::FirstToken: return "first_token";
    case TimelineEvent::Kind::Response: return "response";
    case TimelineEvent::Kind::RetryScheduled: return "retry_scheduled";
    case TimelineEvent::Kind::KeyCooled: return "key_cooled";
    case TimelineEvent::Kind::KeyQuarantined: return "key_quarantined";
    case TimelineEvent::Kind::Completed: return "completed";
    case TimelineEvent::Kind::DeadLettered: return "dead_lettered";
    case TimelineEvent::Kind::Cancelled: return "cancelled";
    case TimelineEvent::Kind::Limits: return "limits";
    }
    return "event";
}

std::string formatDelay(Duration d)
{
    return formatGoDuration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

std::string describeBinding(const Binding& b, const std::vector<std::string>& scopeNames)
{
    std::string scope = b.scope < scopeNames.size() ? scopeNames[b.scope] : "scope " + std::to_string(b.scope);
    if (b.dimension < 0) {
        return scope + " (removed)";
    }
    std::string what(measureName(b.measure));
    if (b.measure != Measure::Concurrency) {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(b.period).count();
        what += secs == 60 ? " per minute" : secs == 86400 ? " per day" : " per " + std::to_string(secs) + " s";
    }
    return what + " of " + scope;
}

std::string TimelineEvent::text() const
{
    if (!facts) {
        return written;
    }
    const Facts& f = *facts;
    switch (kind) {
    case Kind::Queued:
        return timeline::queued(f.first, static_cast<int>(f.a), Cost{.requests = 1, .inputTokens = f.b, .outputTokens = f.c, .spendMicroUsd = 0, .weight = 1});
    case Kind::Sent: return timeline::sent(f.first, f.second, static_cast<std::size_t>(f.a));
    case Kind::Response: return timeline::response(f.a, FailureClass::None, {}, Duration(f.b));
    case Kind::Completed:
        return timeline::completed(f.c != 0 ? std::optional(ResponseUsage{.inputTokens = f.a, .outputTokens = f.b, .billed = {}})
                                            : std::nullopt);
    default: return written;
    }
}

namespace timeline {

TimelineEvent::Facts queuedFacts(std::string_view tenant, int priority, const Cost& cost)
{
    return {std::string(tenant), {}, priority, cost.inputTokens, cost.outputTokens};
}

TimelineEvent::Facts sentFacts(std::string_view provider, std::string_view key, std::size_t attempt)
{
    return {std::string(provider), std::string(key), static_cast<std::int64_t>(attempt)};
}

TimelineEvent::Facts responseFacts(long status, Duration latency)
{
    return {{}, {}, status, latency.count()};
}

TimelineEvent::Facts completedFacts(const std::optional<ResponseUsage>& usage)
{
    return usage ? TimelineEvent::Facts{{}, {}, usage->inputTokens, usage->outputTokens, 1} : TimelineEvent::Facts{};
}

std::string queued(std::string_view tenant, int priority, const Cost& cost)
{
    return concat("tenant ", tenant, ", priority ", decimal(priority), ", estimated ", decimal(cost.inputTokens),
                  " input + ", decimal(cost.outputTokens), " output tokens");
}

std::string waiting(std::string_view why, bool waitsForRelease, WallTime until)
{
    if (waitsForRelease) {
        return concat("for ", why, " until a request completes");
    }
    return concat("for ", why, " until ", formatRfc3339(until, 3));
}

std::string sent(std::string_view provider, std::string_view key, std::size_t attempt)
{
    return concat("on key ", provider, "/", key, " (attempt ", decimal(static_cast<std::int64_t>(attempt)), ")");
}

std::string failure(FailureClass cls, std::string_view message)
{
    return message.empty() ? std::string(failureClassName(cls)) : concat(failureClassName(cls), ": ", message);
}

std::string response(long status, FailureClass cls, std::string_view message, Duration latency)
{
    if (cls == FailureClass::None && status != 0) {
        return concat("HTTP ", decimal(status), " after ", formatDelay(latency));
    }
    std::string out = status != 0 ? concat("HTTP ", decimal(status)) : std::string("no response");
    if (cls != FailureClass::None) {
        out += concat(": ", failureClassName(cls));
        if (!message.empty()) {
            out += concat(" (", message.substr(0, 200), ")");
        }
    }
    return out + " after " + formatDelay(latency);
}

std::string retryScheduled(int attempt, WallTime at, Duration in)
{
    return concat("attempt ", decimal(attempt), " at ", formatRfc3339(at, 3), " (in ", formatDelay(in), ")");
}

std::string keyCooled(std::string_view provider, std::string_view key, std::string_view model, WallTime until,
                      std::string_view what)
{
    return concat("key ", provider, "/", key, " for ", model, " until ", formatRfc3339(until, 3), " (", what, ")");
}

std::string completed(const std::optional<ResponseUsage>& usage)
{
    return usage ? concat(decimal(usage->inputTokens), " input + ", decimal(usage->outputTokens), " output tokens")
                 : std::string("no usage reported");
}

}  // namespace timeline

}  // namespace sluice
