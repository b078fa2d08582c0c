#include "host/capacity.h"

#include <algorithm>
#include <map>

namespace sluice::host {

namespace {

std::optional<std::int64_t> ownLimit(const ScopeState& s, CapacityOf what)
{
    std::optional<std::int64_t> input;
    std::optional<std::int64_t> output;
    for (const DimensionState& d : s.dimensions) {
        const LimitSpec& spec = d.spec;
        const bool perMinute = spec.window == Window::Rolling && spec.period == std::chrono::minutes(1);
        switch (what) {
        case CapacityOf::RequestsPerMinute:
            if (perMinute && spec.measure == Measure::Requests) {
                return spec.limit;
            }
            break;
        case CapacityOf::TokensPerMinute:
            if (perMinute && spec.measure == Measure::TotalTokens) {
                return spec.limit;
            }
            if (perMinute && spec.measure == Measure::InputTokens) {
                input = spec.limit;
            }
            if (perMinute && spec.measure == Measure::OutputTokens) {
                output = spec.limit;
            }
            break;
        case CapacityOf::InFlight:
            if (spec.measure == Measure::Concurrency) {
                return spec.limit;
            }
            break;
        case CapacityOf::SpendPerDayMicroUsd:
            if (spec.measure == Measure::SpendMicroUsd && spec.window == Window::Fixed &&
                spec.period == std::chrono::hours(24)) {
                return spec.limit;
            }
            break;
        }
    }
    if (input && output) {
        return *input + *output;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> capacityOf(const std::vector<ScopeState>& scopes, ScopeId root, CapacityOf what,
                                       const std::function<bool(const ScopeState&)>& unusable)
{
    std::map<ScopeId, const ScopeState*> byId;
    std::multimap<ScopeId, ScopeId> children;
    for (const ScopeState& s : scopes) {
        byId[s.id] = &s;
        if (s.parent != kNoScope && s.id != s.parent) {
            children.emplace(s.parent, s.id);
        }
    }
    // Depth is at most Path::kMaxDepth, so recursion stays shallow.
    const std::function<std::optional<std::int64_t>(ScopeId)> walk = [&](ScopeId id) -> std::optional<std::int64_t> {
        const auto it = byId.find(id);
        if (it == byId.end() || it->second->removed || (unusable && unusable(*it->second))) {
            return std::int64_t{0};
        }
        const std::optional<std::int64_t> own = ownLimit(*it->second, what);
        const auto [first, last] = children.equal_range(id);
        if (first == last) {
            return own;
        }
        std::optional<std::int64_t> sum = std::int64_t{0};
        for (auto c = first; c != last && sum; ++c) {
            const auto child = walk(c->second);
            sum = child ? std::optional<std::int64_t>(*sum + *child) : std::nullopt;
        }
        if (!own) {
            return sum;
        }
        return sum ? std::min(*own, *sum) : own;
    };
    return walk(root);
}

}  // namespace sluice::host
