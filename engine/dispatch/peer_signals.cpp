// The dispatcher's side of PeerSignal: a peer's cool-down, quarantine or
// learned limits applied to this instance's KeyPool and LimitLearner state,
// and this instance's own findings told to DispatcherOptions::peerSignals.
// Applying never tells the observer, so a signal does not echo.
#include "dispatch/dispatch_loop.h"
#include "dispatch/limit_learner.h"

#include <algorithm>

namespace sluice {

void Dispatcher::Impl::apply(PeerSignal& s, TimePoint now)
{
    ProviderRuntime* pr = pool.findProvider(s.provider);
    KeyRuntime* kr = pr != nullptr ? pool.findKey(*pr, s.key) : nullptr;
    if (kr == nullptr) {
        return;  // a provider or key this instance is not configured with
    }
    switch (s.kind) {
    case PeerSignal::Kind::CoolDown: {
        if (s.model.empty()) {
            return;
        }
        ModelState& ms = pool.modelState(*pr, *kr, s.model);
        // The later end wins: a peer's shorter hint must not cut ours.
        ms.coolingUntil = std::max(ms.coolingUntil, clock.fromWall(s.until));
        break;
    }
    case PeerSignal::Kind::Quarantine:
        if (pool.quarantine(*kr, "quarantined by another instance: " + s.reason)) {
            listener.onKeyProblem(pr->cfg->name, kr->cfg->name, "quarantined by another instance: " + s.reason);
        }
        // Lanes whose last usable key this was move on (or dead-letter).
        wakeAllLanes(now);
        break;
    case PeerSignal::Kind::LimitsLearned: {
        if (s.model.empty()) {
            return;
        }
        ModelState& ms = pool.modelState(*pr, *kr, s.model);
        RateLimitHeaders h;
        h.requests.limit = s.requests;
        h.tokens.limit = s.tokens;
        h.inputTokens.limit = s.inputTokens;
        h.outputTokens.limit = s.outputTokens;
        learnLimits(admission, *pr->cfg, ms.scope, ms.limits, h);
        // The limits are known now: no slow-start probe of our own.
        if (ms.probe == ModelState::Probe::Needed && !ms.limits.learned.empty()) {
            ms.probe = ModelState::Probe::Done;
        }
        wakeAllLanes(now);
        break;
    }
    }
}

void Dispatcher::Impl::tellPeersCooled(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                                       TimePoint until)
{
    if (options.peerSignals == nullptr) {
        return;
    }
    PeerSignal s;
    s.kind = PeerSignal::Kind::CoolDown;
    s.provider = pr.cfg->name;
    s.key = kr.cfg->name;
    s.model = model;
    s.until = clock.toWall(until);
    options.peerSignals->onPeerSignal(s);
}

void Dispatcher::Impl::tellPeersQuarantined(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& reason)
{
    if (options.peerSignals == nullptr) {
        return;
    }
    PeerSignal s;
    s.kind = PeerSignal::Kind::Quarantine;
    s.provider = pr.cfg->name;
    s.key = kr.cfg->name;
    s.reason = reason;
    options.peerSignals->onPeerSignal(s);
}

void Dispatcher::Impl::tellPeersLearned(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                                        const RateLimitHeaders& h)
{
    if (options.peerSignals == nullptr) {
        return;
    }
    PeerSignal s;
    s.kind = PeerSignal::Kind::LimitsLearned;
    s.provider = pr.cfg->name;
    s.key = kr.cfg->name;
    s.model = model;
    s.requests = h.requests.limit;
    s.tokens = h.tokens.limit;
    s.inputTokens = h.inputTokens.limit;
    s.outputTokens = h.outputTokens.limit;
    options.peerSignals->onPeerSignal(s);
}

}  // namespace sluice
