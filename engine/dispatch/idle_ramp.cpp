#include "dispatch/idle_ramp.h"

#include "core/linear_ramp.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice {

namespace {

constexpr int kMaxStrikes = 4;  // start 1/16 of the configured, length 16×, within the bounds below
constexpr double kMinStart = 0.05;
constexpr Duration kMaxLength = std::chrono::minutes(5);

}  // namespace

IdleRampSettings IdleRamp::effective(const State& s, const IdleRampSettings& settings) const
{
    IdleRampSettings e = settings;
    for (int i = 0; i < s.steeperStrikes; ++i) {
        e.start = std::max(kMinStart, e.start / 2);
        e.length = std::min(kMaxLength, e.length * 2);
    }
    return e;
}

bool IdleRamp::idleAt(const State& s, const IdleRampSettings& settings, TimePoint now) const
{
    return !s.lastSent || now - *s.lastSent >= settings.idle;
}

bool IdleRamp::ramping(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const
{
    const auto it = m_scopes.find(scope);
    if (it == m_scopes.end()) {
        return true;
    }
    const State& s = it->second;
    return idleAt(s, settings, now) || now - s.rampStart < effective(s, settings).length;
}

TimePoint IdleRamp::notBefore(ScopeId scope, const IdleRampSettings& settings, double perMinute, double burst,
                              TimePoint now) const
{
    if (perMinute <= 0) {
        return now;
    }
    const auto it = m_scopes.find(scope);
    const State fresh;
    const State& s = it == m_scopes.end() ? fresh : it->second;
    const IdleRampSettings e = effective(s, settings);
    const bool starting = idleAt(s, settings, now);
    const TimePoint begin = starting ? now : s.rampStart;
    if (now - begin >= e.length) {
        return now;
    }
    const LinearRamp ramp{perMinute / 60.0, e.start, std::max(1.0, std::floor(burst * e.start)), e.length};
    const double need = (starting ? 0.0 : static_cast<double>(s.sentInRamp)) + 1.0;
    if (need <= ramp.allowed(now - begin) + 1e-9) {
        return now;
    }
    return begin + ramp.timeFor(need);
}

void IdleRamp::onSent(ScopeId scope, const IdleRampSettings& settings, TimePoint now)
{
    State& s = m_scopes[scope];
    if (idleAt(s, settings, now)) {
        s.rampStart = now;
        s.sentInRamp = 0;
    }
    ++s.sentInRamp;
    s.lastSent = now;
}

bool IdleRamp::onRateLimited(ScopeId scope, const IdleRampSettings& settings, TimePoint sentAt)
{
    const auto it = m_scopes.find(scope);
    if (it == m_scopes.end()) {
        return false;
    }
    State& s = it->second;
    // Only the ramp in force then can be to blame: within it, or as long
    // again after it (the provider's own ramp may be the slower one).
    const Duration since = sentAt - s.rampStart;
    if (since < Duration::zero() || since >= 2 * effective(s, settings).length || s.steeperStrikes >= kMaxStrikes) {
        return false;
    }
    ++s.steeperStrikes;
    return true;
}

IdleRamp::Snapshot IdleRamp::snapshot(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const
{
    const auto it = m_scopes.find(scope);
    const State fresh;
    const State& s = it == m_scopes.end() ? fresh : it->second;
    const IdleRampSettings e = effective(s, settings);
    Snapshot out;
    out.start = e.start;
    out.length = e.length;
    out.flattened = s.steeperStrikes;
    out.idle = idleAt(s, settings, now);
    const Duration elapsed = now - s.rampStart;
    out.inRamp = !out.idle && elapsed < e.length;
    if (out.inRamp) {
        out.fraction = e.start + (1.0 - e.start) * std::chrono::duration<double>(elapsed).count() /
                                     std::chrono::duration<double>(e.length).count();
    }
    return out;
}

std::string IdleRamp::describe(ScopeId scope, const IdleRampSettings& settings, TimePoint now) const
{
    const auto it = m_scopes.find(scope);
    if (it == m_scopes.end() || idleAt(it->second, settings, now)) {
        return {};
    }
    const State& s = it->second;
    const IdleRampSettings e = effective(s, settings);
    const Duration elapsed = now - s.rampStart;
    if (elapsed >= e.length) {
        return {};
    }
    const double share = e.start + (1.0 - e.start) * std::chrono::duration<double>(elapsed).count() /
                                       std::chrono::duration<double>(e.length).count();
    char text[128];
    std::snprintf(text, sizeof text, "ramping up after idle: %.0f%% of the request limit, full in %.0f s",
                  share * 100.0, std::ceil(std::chrono::duration<double>(e.length - elapsed).count()));
    return text;
}

}  // namespace sluice
