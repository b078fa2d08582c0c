#include "dispatch/key_pool.h"

#include "dispatch/timeline.h"

#include <algorithm>

namespace sluice {

KeyPool::KeyPool(Admission& admission, std::shared_ptr<const Config> config, std::int64_t defaultGlobalConcurrency)
    : m_admission(admission)
{
    std::vector<LimitSpec> global = config->globalLimits;
    const bool hasConcurrency = std::any_of(global.begin(), global.end(),
                                            [](const LimitSpec& s) { return s.measure == Measure::Concurrency; });
    if (!hasConcurrency) {
        global.push_back(concurrency(defaultGlobalConcurrency));
    }
    m_admission.setLimits(Admission::root(), global);
    nameScope(Admission::root(), "global");
    adopt(std::move(config));
}

void KeyPool::adopt(std::shared_ptr<const Config> config)
{
    for (std::size_t i = 0; i < config->providers.size(); ++i) {
        // Aliasing: the provider's settings keep the whole snapshot alive.
        std::shared_ptr<const ProviderConfig> cfg(config, &config->providers[i]);
        if (i < m_providers.size()) {
            ProviderRuntime& pr = m_providers[i];
            // Another endpoint, or told how it counts: what was learned of
            // its refunds no longer holds.
            if (pr.cfg->baseUrl != cfg->baseUrl || pr.cfg->tokenAccounting != cfg->tokenAccounting) {
                pr.refunds = RefundProbe();
                pr.unstated = UnstatedOutputProbe();
            }
            pr.cfg = std::move(cfg);
        } else {
            addProvider(std::move(cfg));
        }
    }
}

void KeyPool::addProvider(std::shared_ptr<const ProviderConfig> cfg)
{
    ProviderRuntime pr;
    pr.cfg = std::move(cfg);
    pr.scope = scopeFor(Admission::root(), pr.cfg->name, pr.cfg->limits);
    pr.removed = pr.cfg->removed;
    nameScope(pr.scope, "provider " + pr.cfg->name);
    m_providers.push_back(std::move(pr));
    ProviderRuntime& added = m_providers.back();
    for (const KeyConfig& kc : added.cfg->keys) {
        addKey(added, kc);
    }
}

void KeyPool::addKey(ProviderRuntime& pr, const KeyConfig& kc)
{
    KeyRuntime kr;
    kr.cfg = std::make_shared<const KeyConfig>(kc);
    kr.disabled = !kc.enabled;
    kr.scope = scopeFor(pr.scope, kc.name, kc.limits);
    nameScope(kr.scope, "key " + pr.cfg->name + "/" + kc.name);
    for (const ModelConfig& mc : pr.cfg->models) {
        modelState(pr, kr, mc.name);
    }
    pr.keys.push_back(std::move(kr));
}

ProviderRuntime* KeyPool::findProvider(std::string_view name)
{
    for (ProviderRuntime& pr : m_providers) {
        if (pr.cfg->name == name && !pr.removed) {
            return &pr;
        }
    }
    return nullptr;
}

KeyRuntime* KeyPool::findKey(ProviderRuntime& pr, std::string_view name)
{
    for (KeyRuntime& kr : pr.keys) {
        if (kr.cfg->name == name && !kr.removed) {
            return &kr;
        }
    }
    return nullptr;
}

void KeyPool::removeProvider(ProviderRuntime& pr)
{
    pr.removed = true;
    for (KeyRuntime& kr : pr.keys) {
        kr.removed = true;
    }
    m_admission.removeScope(pr.scope);
}

void KeyPool::removeKey(KeyRuntime& kr)
{
    kr.removed = true;
    m_admission.removeScope(kr.scope);
}

void KeyPool::setKeyEnabled(std::string_view provider, std::string_view key, bool enabled)
{
    for (ProviderRuntime& pr : m_providers) {
        if (pr.cfg->name != provider) {
            continue;
        }
        for (KeyRuntime& kr : pr.keys) {
            if (kr.cfg->name == key) {
                kr.disabled = !enabled;
                if (enabled) {
                    kr.quarantined = false;
                    kr.reason.clear();
                }
            }
        }
    }
}

bool KeyPool::quarantine(KeyRuntime& kr, const std::string& reason)
{
    if (kr.quarantined) {
        return false;
    }
    kr.quarantined = true;
    kr.reason = reason;
    return true;
}

void KeyPool::setLimits(const LimitTarget& t, const std::vector<LimitSpec>& limits)
{
    if (t.provider.empty()) {
        m_admission.setLimits(Admission::root(), limits);
        return;
    }
    ProviderRuntime* pr = findProvider(t.provider);
    if (pr == nullptr) {
        return;
    }
    const auto setModel = [&](KeyRuntime& kr) {
        ModelState& ms = modelState(*pr, kr, t.model);
        m_admission.setLimits(ms.scope, limits);
        // Set by hand now: headers only lower them from here on.
        ms.limits.reset();
        if (ms.probe != ModelState::Probe::InFlight) {
            ms.probe = ModelState::Probe::Done;
        }
    };
    if (t.key.empty() && t.model.empty()) {
        m_admission.setLimits(pr->scope, limits);
    } else if (t.key.empty()) {
        // Every key's model scope; keys added later read the configuration.
        for (KeyRuntime& kr : pr->keys) {
            if (!kr.removed) {
                setModel(kr);
            }
        }
    } else if (KeyRuntime* kr = findKey(*pr, t.key)) {
        if (t.model.empty()) {
            m_admission.setLimits(kr->scope, limits);
        } else {
            setModel(*kr);
        }
    }
}

ScopeId KeyPool::scopeFor(ScopeId parent, const std::string& name, const std::vector<LimitSpec>& limits)
{
    if (auto existing = m_admission.findScope(parent, name)) {
        m_admission.setLimits(*existing, limits);
        return *existing;
    }
    return m_admission.addScope(parent, name, limits);
}

void KeyPool::nameScope(ScopeId id, std::string name)
{
    if (m_scopeNames.size() <= id) {
        m_scopeNames.resize(id + 1);
    }
    m_scopeNames[id] = std::move(name);
}

ModelState& KeyPool::modelState(const ProviderRuntime& pr, KeyRuntime& kr, const std::string& model)
{
    if (const auto it = kr.models.find(model); it != kr.models.end()) {
        return it->second;
    }
    std::vector<LimitSpec> limits;
    if (const auto it = kr.cfg->modelLimits.find(model); it != kr.cfg->modelLimits.end()) {
        limits = it->second;
    } else if (const ModelConfig* mc = pr.cfg->model(model)) {
        limits = mc->limits;
    }
    ModelState ms;
    ms.scope = scopeFor(kr.scope, model, limits);
    ms.path = m_admission.pathTo(ms.scope);
    ms.probe = pr.cfg->learnLimits && limits.empty() ? ModelState::Probe::Needed : ModelState::Probe::Done;
    nameScope(ms.scope, "model " + pr.cfg->name + "/" + kr.cfg->name + "/" + model);
    return kr.models.emplace(model, std::move(ms)).first->second;
}

bool KeyPool::mayUse(ProviderRuntime& pr, const std::string& model, TimePoint now, std::string_view only)
{
    for (KeyRuntime& kr : pr.keys) {
        if (!kr.disabled && !kr.removed && !kr.quarantined && (only.empty() || kr.cfg->name == only) &&
            modelState(pr, kr, model).deniedUntil <= now) {
            return true;
        }
    }
    return false;
}

std::string KeyPool::describe(const Binding& b) const
{
    return describeBinding(b, m_scopeNames);
}

namespace {

// What one key's check says about the choice so far.
struct ChoiceState {
    KeyChoice choice;
    bool usable = false;
    bool allNever = true;
    double bestHeadroom = -1;
};

}  // namespace

KeyChoice KeyPool::choose(ProviderRuntime& pr, const std::string& model, const Cost& cost, TimePoint now,
                          std::string_view only)
{
    ChoiceState s;
    KeyChoice& choice = s.choice;
    for (std::size_t k = 0; k < pr.keys.size(); ++k) {
        KeyRuntime& kr = pr.keys[k];
        if (kr.disabled || kr.removed || kr.quarantined || (!only.empty() && kr.cfg->name != only)) {
            continue;
        }
        ModelState& ms = modelState(pr, kr, model);
        if (ms.deniedUntil > now) {
            choice.denied = true;
            choice.why = "the provider refused key " + kr.cfg->name + " model " + model + ": " + ms.deniedReason;
            continue;
        }
        s.usable = true;
        if (ms.coolingUntil > now) {
            s.allNever = false;
            if (ms.coolingUntil < choice.until) {
                choice.until = ms.coolingUntil;
                choice.why = "key " + kr.cfg->name + " cooling down after a 429";
                choice.binding = Binding{};
            }
            continue;
        }
        if (ms.probe == ModelState::Probe::InFlight) {
            s.allNever = false;
            choice.waitsForRelease = true;
            if (choice.why.empty()) {
                choice.why = "the first response from key " + kr.cfg->name + " (learning its limits)";
            }
            continue;
        }
        const Check check = m_admission.check(ms.path, cost);
        if (check.verdict == Verdict::Admit) {
            s.allNever = false;
            if (check.headroom > s.bestHeadroom) {
                s.bestHeadroom = check.headroom;
                choice.kind = KeyChoice::Kind::Admit;
                choice.key = k;
                choice.path = ms.path;
            }
        } else if (check.verdict == Verdict::Never) {
            if (choice.why.empty() || s.allNever) {
                choice.why = describe(check.binding) + describeExcess(check.binding);
            }
        } else {
            s.allNever = false;
            if (check.waitsForRelease) {
                choice.waitsForRelease = true;
                if (choice.until == TimePoint::max()) {
                    choice.why = describe(check.releaseBinding);
                }
            } else if (check.notBefore < choice.until) {
                choice.until = check.notBefore;
                choice.why = describe(check.binding);
                choice.binding = check.binding;
            }
        }
    }
    if (choice.kind == KeyChoice::Kind::Admit) {
        return choice;
    }
    choice.denied = choice.denied && !s.usable;
    if (!s.usable) {
        choice.kind = KeyChoice::Kind::NoUsableKey;
    } else if (s.allNever) {
        choice.kind = KeyChoice::Kind::Never;
    } else {
        choice.kind = KeyChoice::Kind::Wait;
        // A time-bound wait wins over a release wait when both exist.
        if (choice.until != TimePoint::max()) {
            choice.waitsForRelease = false;
        }
    }
    return choice;
}

std::vector<ProviderStatus> KeyPool::providerStatuses(TimePoint now) const
{
    std::vector<ProviderStatus> out;
    for (const ProviderRuntime& pr : m_providers) {
        if (pr.removed) {
            continue;
        }
        ProviderStatus ps;
        ps.provider = pr.cfg->name;
        if (pr.unreachable) {
            ps.state = ProviderStatus::State::Unreachable;
            ps.reason = pr.unreachableReason;
            ps.until = pr.backoffUntil;
        } else if (pr.backoffUntil > now) {
            ps.state = ProviderStatus::State::BackingOff;
            ps.reason = "overloaded";
            ps.until = pr.backoffUntil;
        }
        out.push_back(std::move(ps));
    }
    return out;
}

std::vector<KeyStatus> KeyPool::statuses(TimePoint now) const
{
    std::vector<KeyStatus> keys;
    for (const ProviderRuntime& pr : m_providers) {
        if (pr.removed) {
            continue;
        }
        for (const KeyRuntime& kr : pr.keys) {
            if (kr.removed) {
                continue;
            }
            KeyStatus ks;
            ks.provider = pr.cfg->name;
            ks.key = kr.cfg->name;
            ks.fingerprint = kr.cfg->value.fingerprint();
            if (kr.disabled) {
                ks.state = KeyStatus::State::Disabled;
            } else if (kr.quarantined) {
                ks.state = KeyStatus::State::Quarantined;
                ks.reason = kr.reason;
            } else {
                for (const auto& [model, ms] : kr.models) {
                    if (ms.coolingUntil > now && ms.coolingUntil > ks.until) {
                        ks.state = KeyStatus::State::CoolingDown;
                        ks.until = ms.coolingUntil;
                        ks.reason = "429 on " + model;
                    }
                }
            }
            keys.push_back(std::move(ks));
        }
    }
    return keys;
}

}  // namespace sluice
