#include "dispatch/limit_learner.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace sluice {

LimitSpec rescaled(LimitSpec spec, std::int64_t limit)
{
    if (spec.burst > 0 && spec.limit > 0) {
        const double share = static_cast<double>(limit) / static_cast<double>(spec.limit);
        // Rounded down: a burst too small costs a little pace, one too large a 429.
        spec.burst = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(static_cast<double>(spec.burst) * share)));
    }
    spec.limit = limit;
    return spec;
}

namespace {

using Views = std::vector<std::pair<Measure, const ProviderView*>>;

Views viewsOf(const ProviderConfig& provider, const RateLimitHeaders& h)
{
    Views views = {{Measure::Requests, &h.requests}};
    if (provider.flavor == ApiFlavor::Anthropic && (h.inputTokens.limit || h.outputTokens.limit)) {
        views.emplace_back(Measure::InputTokens, &h.inputTokens);
        views.emplace_back(Measure::OutputTokens, &h.outputTokens);
    } else {
        views.emplace_back(Measure::TotalTokens, &h.tokens);
    }
    return views;
}

// One announced dimension against the scope's specs; returns whether the
// specs changed.
bool learnOne(const ProviderConfig& provider, LearnedLimits& state, std::vector<LimitSpec>& specs, Measure measure,
              std::int64_t announced)
{
    const auto it = std::find_if(specs.begin(), specs.end(), [measure](const LimitSpec& s) {
        return s.measure == measure && s.window == Window::Rolling && s.period == std::chrono::minutes(1);
    });
    const bool configured = it != specs.end() && state.learned.count(measure) == 0;
    if (configured) {
        // The provider is the authority on its own limit: one it announces
        // below the configured value binds (a key on a lower tier than the
        // config assumed), or every response would be followed by 429s at
        // the configured pace.
        if (announced < it->limit) {
            state.lowered[measure] = *it;
            *it = rescaled(*it, announced);
            state.learned.insert(measure);
            return true;
        }
        return false;
    }
    if (const auto low = state.lowered.find(measure); low != state.lowered.end() && it != specs.end()) {
        // Lowered before: follow the announcement up to the configured
        // limit, never above it.
        const LimitSpec next = announced >= low->second.limit ? low->second : rescaled(low->second, announced);
        if (announced >= low->second.limit) {
            state.lowered.erase(low);
            state.learned.erase(measure);
        }
        if (next.limit != it->limit || next.burst != it->burst) {
            *it = next;
            return true;
        }
        return false;
    }
    if (it != specs.end() && it->limit == announced) {
        return false;
    }
    const LimitSpec learned = perMinute(measure, announced, burstFor(announced, provider.learnedGranularity));
    if (it != specs.end()) {
        *it = learned;
    } else {
        specs.push_back(learned);
    }
    state.learned.insert(measure);
    return true;
}

}  // namespace

void learnLimits(Admission& admission, const ProviderConfig& provider, ScopeId scope, LearnedLimits& state,
                 const RateLimitHeaders& h)
{
    if (!provider.learnLimits) {
        return;
    }
    const Views views = viewsOf(provider, h);
    // Most responses announce the same limits as the last one: nothing to
    // learn, and no snapshot to take.
    std::array<std::int64_t, 4> announced{-1, -1, -1, -1};
    for (std::size_t i = 0; i < views.size(); ++i) {
        announced[i] = views[i].second->limit.value_or(-1);
    }
    if (announced == state.announced) {
        return;
    }
    state.announced = announced;
    const ScopeState snapshot = admission.snapshot(scope);
    std::vector<LimitSpec> specs;
    for (const auto& d : snapshot.dimensions) {
        specs.push_back(d.spec);
    }
    bool changed = false;
    for (const auto& [measure, view] : views) {
        if (view->limit && *view->limit > 0) {
            changed = learnOne(provider, state, specs, measure, *view->limit) || changed;
        }
    }
    if (changed && specs.size() <= static_cast<std::size_t>(Ledger::kMaxDimensions)) {
        admission.setLimits(scope, specs);
    }
}

bool learnFrom429(Admission& admission, ScopeId scope, LearnedLimits& state, std::optional<Duration> hint,
                  bool nearMiss, TimePoint now)
{
    if (!hint) {
        return false;
    }
    if (nearMiss) {
        admission.noteNearMiss(scope, *hint);
        if (admission.paced(scope)) {
            return false;
        }
        if (state.nearMisses == 0 || now - state.firstNearMissAt > kNearMissSpan) {
            state.nearMisses = 0;
            state.firstNearMissAt = now;
        }
        if (++state.nearMisses < kNearMissesForAWindow) {
            return false;
        }
        state.nearMisses = 0;
        state.windowEvidenceAt = now;
        return admission.paceEvenly(scope);
    }
    bool pacedNow = false;
    if (!admission.paced(scope)) {
        state.windowEvidenceAt = now;
        pacedNow = admission.paceEvenly(scope);
    }
    // A wait longer than any second's window: the provider counts the minute.
    if (*hint > kPeriodWindowHint) {
        admission.windowThePeriod(scope);
    }
    return pacedNow;
}

void correctFromHeaders(Admission& admission, const ProviderConfig& provider, ScopeId scope, LearnedLimits& state,
                        const RateLimitHeaders& h, TimePoint sentAt)
{
    learnLimits(admission, provider, scope, state, h);
    admission.correct(scope, Measure::Requests, h.requests, sentAt);
    if (provider.flavor == ApiFlavor::Anthropic) {
        admission.correct(scope, Measure::InputTokens, h.inputTokens, sentAt);
        admission.correct(scope, Measure::OutputTokens, h.outputTokens, sentAt);
    }
    admission.correct(scope, Measure::TotalTokens, h.tokens, sentAt);
}

}  // namespace sluice
