#include "mock/limit_table.h"

#include <algorithm>

namespace sluice::mock {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

struct BucketSpec {
    std::int64_t limit = 0;
    Duration period{};
    std::int64_t capacity = 0;
    Enforcement kind = Enforcement::Bucket;  // a window's length is `span`
    Duration span{};
};

// Per-minute limits hold limit × granularity / 1 min (at least one unit);
// the daily limit holds the whole day.
BucketSpec specFor(const RateLimits& l, LimitKind kind)
{
    const auto perMinute = [&](std::int64_t limit) {
        const std::int64_t g = l.granularity.count();
        const std::int64_t m = Duration(minutes(1)).count();
        __extension__ typedef __int128 Wide;
        const auto cap = static_cast<std::int64_t>((Wide(limit) * g + m - 1) / m);
        return BucketSpec{limit, minutes(1), std::clamp<std::int64_t>(cap, 1, limit),
                          l.enforcement, l.granularity};
    };
    switch (kind) {
    case LimitKind::Requests: return perMinute(l.requestsPerMinute);
    case LimitKind::Tokens: return perMinute(l.tokensPerMinute);
    case LimitKind::InputTokens: return perMinute(l.inputTokensPerMinute);
    case LimitKind::OutputTokens: return perMinute(l.outputTokensPerMinute);
    case LimitKind::RequestsPerDay:
        return BucketSpec{l.requestsPerDay, hours(24), l.requestsPerDay, Enforcement::Bucket, {}};
    }
    return {};
}

std::int64_t costOf(const Charge& c, LimitKind kind)
{
    switch (kind) {
    case LimitKind::Requests:
    case LimitKind::RequestsPerDay: return 1;
    case LimitKind::Tokens: return c.tokens;
    case LimitKind::InputTokens: return c.inputTokens;
    case LimitKind::OutputTokens: return c.outputTokens;
    }
    return 0;
}

}  // namespace

Meter Meter::make(Enforcement kind, std::int64_t limit, Duration period, Duration span, std::int64_t capacity,
                  TimePoint now)
{
    switch (kind) {
    case Enforcement::SlidingWindow: return Meter(SlidingWindow(limit, span, capacity, now));
    case Enforcement::FixedWindow: return Meter(FixedWindow(limit, span, capacity, now));
    case Enforcement::Bucket: break;
    }
    return Meter(RateBucket(limit, period, capacity, now));
}

void Meter::reconfigure(Enforcement kind, std::int64_t limit, Duration period, Duration span, std::int64_t capacity,
                        TimePoint now)
{
    if (kind != enforcement()) {
        *this = make(kind, limit, period, span, capacity, now);
    } else if (auto* w = std::get_if<SlidingWindow>(&m_impl)) {
        w->reconfigure(limit, span, capacity, now);
    } else if (auto* f = std::get_if<FixedWindow>(&m_impl)) {
        f->reconfigure(limit, span, capacity, now);
    } else {
        std::get<RateBucket>(m_impl).reconfigure(limit, period, capacity, now);
    }
}

std::string_view limitKindName(LimitKind k) noexcept
{
    switch (k) {
    case LimitKind::Requests: return "requests";
    case LimitKind::Tokens: return "tokens";
    case LimitKind::InputTokens: return "inputTokens";
    case LimitKind::OutputTokens: return "outputTokens";
    case LimitKind::RequestsPerDay: return "requestsPerDay";
    }
    return "?";
}

LimitTable::Entry& LimitTable::entry(const std::string& key, const std::string& model, const RateLimits& limits,
                                     TimePoint now)
{
    std::string id;
    id.reserve(key.size() + model.size() + 1);
    id.append(key).push_back('\n');
    id.append(model);
    auto [it, created] = m_entries.try_emplace(std::move(id));
    Entry& e = it->second;
    if (created) {
        e.key = key;
        e.model = model;
        apply(e, limits, now);
    } else if (e.limits != limits) {
        apply(e, limits, now);
    }
    return e;
}

void LimitTable::apply(Entry& e, const RateLimits& limits, TimePoint now)
{
    e.limits = limits;
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        const BucketSpec s = specFor(limits, static_cast<LimitKind>(i));
        auto& bucket = e.buckets[i];
        if (s.limit <= 0) {
            bucket.reset();
        } else if (bucket) {
            bucket->reconfigure(s.kind, s.limit, s.period, s.span, s.capacity, now);
        } else {
            bucket.emplace(Meter::make(s.kind, s.limit, s.period, s.span, s.capacity, now));
        }
    }
}

void LimitTable::reconfigure(const MockConfig& config, TimePoint now)
{
    for (auto it = m_entries.begin(); it != m_entries.end();) {
        const auto limits = config.limitsFor(it->second.key, it->second.model);
        if (!limits) {
            it = m_entries.erase(it);
            continue;
        }
        if (*limits != it->second.limits) {
            apply(it->second, *limits, now);
        }
        ++it;
    }
}

LimitStates LimitTable::statesOf(const Entry& e, TimePoint now)
{
    LimitStates out{};
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        if (const auto& b = e.buckets[i]) {
            out[i] = LimitState{true, b->limit(), std::max<std::int64_t>(0, b->available(now)), b->untilFull(now)};
        }
    }
    return out;
}

LimitDecision LimitTable::admit(const std::string& key, const std::string& model, const RateLimits& limits,
                                const Charge& charge, TimePoint now)
{
    Entry& e = entry(key, model, limits, now);
    LimitDecision d;
    const auto refuse = [&](LimitOutcome outcome, std::size_t i, Duration wait) {
        const Meter& b = *e.buckets[i];
        d.outcome = outcome;
        d.binding = static_cast<LimitKind>(i);
        d.limit = b.limit();
        d.used = std::clamp<std::int64_t>(b.capacity() - b.available(now), 0, b.capacity());
        d.requested = costOf(charge, d.binding);
        d.retryAfter = wait;
    };
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        if (e.buckets[i] && costOf(charge, static_cast<LimitKind>(i)) > e.buckets[i]->limit()) {
            refuse(LimitOutcome::TooLarge, i, Duration::zero());
            d.states = statesOf(e, now);
            return d;
        }
    }
    Duration longest = Duration::zero();
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        if (e.buckets[i]) {
            const Duration wait = e.buckets[i]->waitFor(costOf(charge, static_cast<LimitKind>(i)), now);
            if (wait > longest) {
                longest = wait;
                refuse(LimitOutcome::RateLimited, i, wait);
            }
        }
    }
    constexpr auto kRequests = static_cast<std::size_t>(LimitKind::Requests);
    const Acceleration& acc = e.limits.acceleration;
    if (d.outcome == LimitOutcome::Admitted && acc.enabled() && e.buckets[kRequests]) {
        const Meter& requests = *e.buckets[kRequests];
        const Duration wait = e.acceleration.waitFor(acc, static_cast<double>(requests.limit()),
                                                     static_cast<double>(requests.capacity()), now);
        if (wait > Duration::zero()) {
            refuse(LimitOutcome::RateLimited, kRequests, wait);
            d.used = e.acceleration.admittedInRamp();
            d.acceleration = true;
        }
    }
    if (d.outcome == LimitOutcome::Admitted) {
        for (std::size_t i = 0; i < kLimitKinds; ++i) {
            if (e.buckets[i]) {
                e.buckets[i]->take(costOf(charge, static_cast<LimitKind>(i)), now);
            }
        }
        e.acceleration.take(acc, now);
    }
    d.states = statesOf(e, now);
    return d;
}

void LimitTable::adjustOutput(const std::string& key, const std::string& model, std::int64_t delta, TimePoint now)
{
    const auto it = m_entries.find(key + '\n' + model);
    if (it == m_entries.end() || delta == 0) {
        return;
    }
    auto& bucket = it->second.buckets[static_cast<std::size_t>(LimitKind::OutputTokens)];
    if (!bucket) {
        return;
    }
    if (delta > 0) {
        bucket->take(delta, now);
    } else {
        bucket->give(-delta, now);
    }
}

void LimitTable::settleTokens(const std::string& key, const std::string& model, std::int64_t unused,
                              std::int64_t produced, TimePoint now)
{
    const auto it = m_entries.find(key + '\n' + model);
    if (it == m_entries.end()) {
        return;
    }
    auto& bucket = it->second.buckets[static_cast<std::size_t>(LimitKind::Tokens)];
    if (!bucket) {
        return;
    }
    switch (it->second.limits.tokenCharging) {
    case TokenCharging::Refunded:
        if (unused > 0) {
            bucket->give(unused, now);
        }
        return;
    case TokenCharging::OnCompletion:
        if (produced > 0) {
            bucket->take(produced, now);
        }
        return;
    case TokenCharging::OnArrival:
        return;
    }
}

void LimitTable::refund(const std::string& key, const std::string& model, const Charge& charge, TimePoint now)
{
    const auto it = m_entries.find(key + '\n' + model);
    if (it == m_entries.end()) {
        return;
    }
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        if (auto& b = it->second.buckets[i]) {
            b->give(costOf(charge, static_cast<LimitKind>(i)), now);
        }
    }
}

}  // namespace sluice::mock
