#include "dispatch/config_edits.h"

#include <algorithm>

namespace sluice::edits {

namespace {

ProviderConfig* liveProvider(Config& c, std::string_view name)
{
    for (ProviderConfig& p : c.providers) {
        if (p.name == name && !p.removed) {
            return &p;
        }
    }
    return nullptr;
}

ProviderConfig& requireProvider(Config& c, const std::string& name)
{
    ProviderConfig* p = liveProvider(c, name);
    if (p == nullptr) {
        throw InputError("provider: no provider \"" + name + "\"");
    }
    return *p;
}

}  // namespace

void checkLimits(const std::vector<LimitSpec>& limits)
{
    if (limits.size() > static_cast<std::size_t>(Ledger::kMaxDimensions)) {
        throw InputError("limits: at most " + std::to_string(Ledger::kMaxDimensions) + " per scope");
    }
    for (const LimitSpec& l : limits) {
        if (auto problem = l.validate(); !problem.empty()) {
            throw InputError(std::string(measureName(l.measure)) + " " + problem);
        }
    }
}

Config addProvider(const Config& c, const ProviderConfig& provider)
{
    if (provider.name.empty()) {
        throw InputError("name: required");
    }
    checkLimits(provider.limits);
    for (const auto& m : provider.models) {
        checkLimits(m.limits);
    }
    Config next = c;
    if (liveProvider(next, provider.name) != nullptr) {
        throw InputError("name: a provider \"" + provider.name + "\" already exists");
    }
    next.providers.push_back(provider);
    return next;
}

Config removeProvider(const Config& c, const std::string& provider)
{
    Config next = c;
    requireProvider(next, provider).removed = true;
    return next;
}

Config addKey(const Config& c, const std::string& provider, const KeyConfig& key)
{
    if (key.name.empty()) {
        throw InputError("key name: required");
    }
    if (key.value.empty()) {
        throw InputError("key " + key.name + ": no value");
    }
    checkLimits(key.limits);
    Config next = c;
    ProviderConfig& p = requireProvider(next, provider);
    for (const KeyConfig& k : p.keys) {
        if (k.name == key.name) {
            throw InputError("key name: provider " + provider + " already has a key \"" + key.name + "\"");
        }
    }
    p.keys.push_back(key);
    return next;
}

Config removeKey(const Config& c, const std::string& provider, const std::string& key)
{
    Config next = c;
    ProviderConfig* p = liveProvider(next, provider);
    const auto it = p == nullptr ? std::vector<KeyConfig>::iterator()
                                 : std::find_if(p->keys.begin(), p->keys.end(),
                                                [&](const KeyConfig& k) { return k.name == key; });
    if (p == nullptr || it == p->keys.end()) {
        throw InputError("key: provider " + provider + " has no key \"" + key + "\"");
    }
    p->keys.erase(it);
    return next;
}

Config setLimits(const Config& c, const LimitTarget& target, const std::vector<LimitSpec>& limits)
{
    checkLimits(limits);
    Config next = c;
    if (target.provider.empty()) {
        next.globalLimits = limits;
        return next;
    }
    ProviderConfig& p = requireProvider(next, target.provider);
    KeyConfig* k = nullptr;
    if (!target.key.empty()) {
        for (KeyConfig& kc : p.keys) {
            k = kc.name == target.key ? &kc : k;
        }
        if (k == nullptr) {
            throw InputError("key: provider " + target.provider + " has no key \"" + target.key + "\"");
        }
    }
    if (target.model.empty()) {
        (k != nullptr ? k->limits : p.limits) = limits;
    } else if (k != nullptr) {
        k->modelLimits[target.model] = limits;
    } else {
        // Keys added later inherit the model's limits from here.
        auto it = std::find_if(p.models.begin(), p.models.end(),
                               [&](const ModelConfig& m) { return m.name == target.model; });
        if (it == p.models.end()) {
            p.models.push_back(ModelConfig{target.model, limits, 4096});
        } else {
            it->limits = limits;
        }
    }
    return next;
}

Config setKeyEnabled(const Config& c, const std::string& provider, const std::string& key, bool enabled)
{
    Config next = c;
    if (ProviderConfig* p = liveProvider(next, provider)) {
        for (KeyConfig& k : p->keys) {
            if (k.name == key) {
                k.enabled = enabled;
            }
        }
    }
    return next;
}

}  // namespace sluice::edits
