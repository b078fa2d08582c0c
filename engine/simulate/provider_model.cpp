#include "simulate/provider_model.h"

#include "core/json_source.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sluice::simulate {

namespace {

using namespace std::chrono_literals;

// The provider's limit for one measure, from the scope's specs.
void applySpecs(mock::RateLimits& out, const std::vector<LimitSpec>& specs)
{
    for (const LimitSpec& s : specs) {
        if (s.window != Window::Rolling || s.limit <= 0) {
            continue;
        }
        if (s.period == 1min) {
            if (s.burst > 0 && s.burst < s.limit) {
                // A burst stands for how finely the provider enforces.
                out.granularity = std::max<Duration>(1ms, Duration(1min) * s.burst / s.limit);
            }
            switch (s.measure) {
            case Measure::Requests: out.requestsPerMinute = s.limit; break;
            case Measure::TotalTokens: out.tokensPerMinute = s.limit; break;
            case Measure::InputTokens: out.inputTokensPerMinute = s.limit; break;
            case Measure::OutputTokens: out.outputTokensPerMinute = s.limit; break;
            default: break;
            }
        } else if (s.period == std::chrono::hours(24) && s.measure == Measure::Requests) {
            out.requestsPerDay = s.limit;
        }
    }
}

mock::RateLimits limitsOf(const std::vector<LimitSpec>& specs)
{
    mock::RateLimits r;
    r.granularity = 1s;
    applySpecs(r, specs);
    return r;
}

mock::LimitOverride overrideOf(const mock::RateLimits& r)
{
    mock::LimitOverride o;
    o.requestsPerMinute = r.requestsPerMinute;
    o.tokensPerMinute = r.tokensPerMinute;
    o.inputTokensPerMinute = r.inputTokensPerMinute;
    o.outputTokensPerMinute = r.outputTokensPerMinute;
    o.requestsPerDay = r.requestsPerDay;
    o.granularity = r.granularity;
    return o;
}

}  // namespace

std::string standInKey(const std::string& env)
{
    return "sim-" + env;
}

Config loadSimConfig(const JsonSource& source)
{
    const EnvLookup standIn = [](const std::string& name) { return std::optional<std::string>(standInKey(name)); };
    const nlohmann::json& doc = source.root();
    if (doc.is_object() && doc.contains("config") && !doc.contains("providers")) {
        // A workspace's settings file: its configuration is under "config".
        return loadConfig(JsonSource(source.name(), doc["config"].dump(2)), standIn);
    }
    return loadConfig(source, standIn);
}

Config loadSimConfigFile(const std::string& path)
{
    return loadSimConfig(JsonSource::fromFile(path));
}

mock::MockConfig providerModel(const ProviderModelInput& input)
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.keys.clear();
    m.models.clear();
    m.seed = input.seed;
    m.rateLimitHeaders = true;
    const Config& current = *input.current;
    for (const ProviderConfig& p : current.providers) {
        const mock::Flavour flavour = p.flavor == ApiFlavor::Anthropic ? mock::Flavour::Anthropic : mock::Flavour::OpenAI;
        // Limits set on the provider or its keys as a whole stand for each
        // key+model's when the model names none of its own.
        const mock::RateLimits fallback = limitsOf(p.limits);
        for (const ModelConfig& model : p.models) {
            if (m.models.count(model.name) != 0) {
                continue;
            }
            mock::MockModel mc;
            mc.flavour = flavour;
            mc.limits = model.limits.empty() ? fallback : limitsOf(model.limits);
            mc.maxOutputTokens = std::max<std::int64_t>(model.defaultMaxTokens, 1);
            m.models.emplace(model.name, mc);
        }
        for (const KeyConfig& k : p.keys) {
            mock::MockKey kc;
            for (const auto& [model, specs] : k.modelLimits) {
                kc.limits.emplace(model, overrideOf(limitsOf(specs)));
            }
            m.keys.emplace(standInKey(k.envVar), std::move(kc));
        }
    }
    if (input.proposed != nullptr) {
        for (const ProviderConfig& p : input.proposed->providers) {
            for (const KeyConfig& k : p.keys) {
                m.keys.try_emplace(standInKey(k.envVar));
            }
        }
    }
    // Models the traffic uses that no provider lists (a provider that
    // serves any model): the provider's own limits, when it has any.
    for (const auto& [name, flavor] : input.models) {
        if (m.models.count(name) != 0) {
            continue;
        }
        mock::MockModel mc;
        mc.flavour = flavor == ApiFlavor::Anthropic ? mock::Flavour::Anthropic : mock::Flavour::OpenAI;
        for (const ProviderConfig& p : current.providers) {
            if (p.flavor == flavor && p.serves(name)) {
                mc.limits = limitsOf(p.limits);
                break;
            }
        }
        m.models.emplace(name, mc);
    }
    // Latency: the mock's shape (a base plus a time per output token),
    // scaled so its mean is the recorded mean.
    m.latency.jitter = mock::DistributionKind::LogNormal;
    m.latency.spread = 0.25;
    if (input.meanLatency && input.meanOutputTokens > 0) {
        const double meanMs = std::chrono::duration<double, std::milli>(*input.meanLatency).count();
        const double tokensMs = m.latency.perOutputTokenMs * static_cast<double>(input.meanOutputTokens);
        if (meanMs > tokensMs + 1) {
            m.latency.baseMs = meanMs - tokensMs;
        } else {
            m.latency.baseMs = meanMs * 0.2;
            m.latency.perOutputTokenMs = meanMs * 0.8 / static_cast<double>(input.meanOutputTokens);
        }
    }
    return m;
}

std::vector<ProviderWideLimit> providerWideLimits(const Config& current, const Config* proposed)
{
    std::vector<ProviderWideLimit> out;
    for (const ProviderConfig& p : current.providers) {
        const mock::RateLimits limits = limitsOf(p.limits);
        if (limits.requestsPerMinute <= 0 && limits.tokensPerMinute <= 0 && limits.inputTokensPerMinute <= 0 &&
            limits.outputTokensPerMinute <= 0 && limits.requestsPerDay <= 0) {
            continue;
        }
        ProviderWideLimit w;
        w.provider = p.name;
        w.limits = limits;
        for (const KeyConfig& k : p.keys) {
            w.keys.insert(standInKey(k.envVar));
        }
        // A key the proposal adds to this provider is in its organisation too.
        if (proposed != nullptr) {
            if (const ProviderConfig* q = proposed->provider(p.name)) {
                for (const KeyConfig& k : q->keys) {
                    w.keys.insert(standInKey(k.envVar));
                }
            }
        }
        out.push_back(std::move(w));
    }
    return out;
}

}  // namespace sluice::simulate
