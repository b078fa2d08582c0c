#include "dispatch/adaptive_controller.h"

#include "core/json_source.h"

#include <algorithm>

namespace sluice {

AdaptiveConcurrencyOptions adaptiveOptions(const AutoConcurrency& config)
{
    AdaptiveConcurrencyOptions o;
    o.initial = config.initial;
    o.max = config.max;
    return o;
}

AdaptiveConcurrencyController::AdaptiveConcurrencyController(Clock& clock, const Config& config, Duration minInterval)
    : m_clock(clock), m_minInterval(minInterval)
{
    for (const ProviderConfig& p : config.providers) {
        if (p.autoConcurrency) {
            m_scopes.emplace(std::make_pair(p.name, std::string()), Scope(adaptiveOptions(*p.autoConcurrency)));
        }
        for (const KeyConfig& k : p.keys) {
            if (k.autoConcurrency) {
                m_scopes.emplace(std::make_pair(p.name, k.name), Scope(adaptiveOptions(*k.autoConcurrency)));
            }
        }
    }
}

void AdaptiveConcurrencyController::onSent(const SendReport& report)
{
    const std::lock_guard lock(m_mutex);
    for (const std::string& key : {std::string(), std::string(report.key)}) {
        if (auto it = m_scopes.find({std::string(report.provider), key}); it != m_scopes.end()) {
            ++it->second.inFlight;
        }
    }
}

void AdaptiveConcurrencyController::onAttempt(const AttemptReport& report)
{
    const std::lock_guard lock(m_mutex);
    for (const std::string& key : {std::string(), report.key}) {
        if (auto it = m_scopes.find({report.provider, key}); it != m_scopes.end()) {
            feed(it->first, it->second, report);
        }
    }
}

void AdaptiveConcurrencyController::feed(const std::pair<std::string, std::string>& id, Scope& scope,
                                         const AttemptReport& report)
{
    ConcurrencySample s;
    s.sentAt = report.sentAt;
    s.latency = report.finishedAt - report.sentAt;
    s.inFlight = scope.inFlight;
    scope.inFlight = std::max<std::int64_t>(0, scope.inFlight - 1);
    if (report.cls == FailureClass::None && report.status >= 200 && report.status < 300) {
        s.kind = ConcurrencySample::Kind::Success;
    } else if (report.cls == FailureClass::RateLimited || report.cls == FailureClass::Overloaded) {
        // The provider's retry-after is honoured by the dispatcher's own
        // cool-down; AttemptReport does not carry it here.
        s.kind = ConcurrencySample::Kind::RateLimited;
    } else {
        s.kind = ConcurrencySample::Kind::Ignored;
    }
    scope.limiter.onSample(m_clock.now(), s);
    apply(id, scope);
}

void AdaptiveConcurrencyController::apply(const std::pair<std::string, std::string>& id, Scope& scope)
{
    const std::int64_t want = scope.limiter.limit();
    const TimePoint now = m_clock.now();
    if (m_dispatcher == nullptr || want == scope.applied ||
        (scope.everApplied && now - scope.lastApplied < m_minInterval)) {
        return;
    }
    const auto config = m_dispatcher->config();
    std::vector<LimitSpec> limits;
    for (const ProviderConfig& p : config->providers) {
        if (p.name != id.first || p.removed) {
            continue;
        }
        if (id.second.empty()) {
            limits = p.limits;
        } else {
            for (const KeyConfig& k : p.keys) {
                if (k.name == id.second) {
                    limits = k.limits;
                }
            }
        }
    }
    std::erase_if(limits, [](const LimitSpec& l) { return l.measure == Measure::Concurrency; });
    limits.push_back(concurrency(want));
    try {
        m_dispatcher->setLimits(LimitTarget{id.first, id.second, ""}, std::move(limits));
    } catch (const InputError&) {
        return;  // the provider or key was removed meanwhile: nothing left to limit
    }
    scope.applied = want;
    scope.lastApplied = now;
    scope.everApplied = true;
    ++scope.changes;
}

std::vector<AdaptiveConcurrencyController::Status> AdaptiveConcurrencyController::status() const
{
    const std::lock_guard lock(m_mutex);
    std::vector<Status> out;
    for (const auto& [id, scope] : m_scopes) {
        out.push_back(Status{id.first, id.second, scope.limiter.limit(), scope.limiter.baseline(), scope.changes});
    }
    return out;
}

}  // namespace sluice
