#include "loadtest/mock_setup.h"

#include <algorithm>

namespace sluice::loadtest {

namespace {

mock::Flavour toMock(ApiFlavor f)
{
    return f == ApiFlavor::Anthropic ? mock::Flavour::Anthropic : mock::Flavour::OpenAI;
}

// The mock's view of a scope's limits: per-minute rates, requests per day,
// and how finely they are enforced (the finest burst any of them allows).
struct MockLimits {
    mock::LimitOverride values;
    bool any = false;
};

MockLimits mockLimits(const std::vector<LimitSpec>& specs)
{
    MockLimits out;
    Duration granularity = std::chrono::minutes(1);
    for (const LimitSpec& s : specs) {
        if (s.window == Window::Fixed && s.measure == Measure::Requests) {
            out.values.requestsPerDay = s.limit;
            out.any = true;
            continue;
        }
        if (s.window != Window::Rolling || s.period != std::chrono::minutes(1)) {
            continue;
        }
        std::optional<std::int64_t>* field = nullptr;
        switch (s.measure) {
        case Measure::Requests: field = &out.values.requestsPerMinute; break;
        case Measure::TotalTokens: field = &out.values.tokensPerMinute; break;
        case Measure::InputTokens: field = &out.values.inputTokensPerMinute; break;
        case Measure::OutputTokens: field = &out.values.outputTokensPerMinute; break;
        default: break;
        }
        if (field == nullptr) {
            continue;
        }
        *field = s.limit;
        out.any = true;
        if (s.burst > 0 && s.limit > 0) {
            granularity = std::min(granularity, Duration(std::chrono::minutes(1)) * s.burst / s.limit);
        }
    }
    if (out.any) {
        out.values.granularity = std::clamp(granularity, Duration(std::chrono::milliseconds(1)),
                                            Duration(std::chrono::minutes(1)));
    }
    return out;
}

std::int64_t largestMaxTokens(const RequestMix& mix)
{
    return mix.maxTokens.upperBound();
}

}  // namespace

EnvLookup mockKeyLookup()
{
    return [](const std::string& name) -> std::optional<std::string> { return "sk-mock-" + name; };
}

mock::MockConfig mockFor(const Config& config, const Workload& workload, mock::MockConfig m, bool configWins)
{
    std::int64_t maxTokens = largestMaxTokens(workload.mix);
    if (workload.pipeline) {
        for (const Stage& s : workload.pipeline->stages) {
            maxTokens = std::max(maxTokens, largestMaxTokens(s.mix));
        }
    }
    const auto ensureModel = [&](const std::string& name, ApiFlavor flavor) -> mock::MockModel& {
        auto [it, added] = m.models.try_emplace(name);
        if (added) {
            it->second.flavour = toMock(flavor);
        }
        it->second.maxOutputTokens = std::max(it->second.maxOutputTokens, maxTokens);
        return it->second;
    };
    for (const ProviderConfig& pc : config.providers) {
        for (const ModelConfig& mc : pc.models) {
            const bool known = m.models.count(mc.name) > 0;
            mock::MockModel& model = ensureModel(mc.name, pc.flavor);
            const MockLimits limits = mockLimits(mc.limits);
            if (limits.any && (configWins || !known)) {
                model.flavour = toMock(pc.flavor);
                model.limits = limits.values.applyTo(mock::RateLimits{});
            }
        }
        for (const KeyConfig& kc : pc.keys) {
            auto [it, added] = m.keys.try_emplace(std::string(kc.value.view()));
            for (const auto& [model, specs] : kc.modelLimits) {
                const MockLimits limits = mockLimits(specs);
                if (limits.any && (configWins || added || it->second.limits.count(model) == 0)) {
                    it->second.limits[model] = limits.values;
                }
            }
        }
    }
    const auto addMix = [&](const RequestMix& mix) {
        for (const ModelChoice& c : mix.models) {
            if (c.flavor) {
                ensureModel(c.model, *c.flavor);
            }
        }
    };
    addMix(workload.mix);
    if (workload.pipeline) {
        for (const Stage& s : workload.pipeline->stages) {
            addMix(s.mix);
        }
    }
    if (workload.replay) {
        for (const ReplayEntry& e : workload.replay->entries) {
            if (e.job) {
                ensureModel(e.job->body.value("model", ""), e.job->flavor);
            } else if (e.model.flavor) {
                ensureModel(e.model.model, *e.model.flavor);
                maxTokens = std::max(maxTokens, e.outputTokens);
            }
        }
        for (auto& [name, model] : m.models) {
            model.maxOutputTokens = std::max(model.maxOutputTokens, maxTokens);
        }
    }
    return m;
}

Config pointedAt(Config config, const std::string& baseUrl)
{
    for (ProviderConfig& p : config.providers) {
        p.baseUrl = baseUrl;
    }
    return config;
}

bool isLoopbackUrl(std::string_view url)
{
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return false;
    }
    std::string_view rest = url.substr(scheme + 3);
    if (const auto at = rest.find('@'); at != std::string_view::npos && at < rest.find('/')) {
        rest = rest.substr(at + 1);
    }
    std::string_view host;
    if (!rest.empty() && rest.front() == '[') {
        host = rest.substr(1, rest.find(']') - 1);
    } else {
        host = rest.substr(0, rest.find_first_of(":/?#"));
    }
    const bool dottedQuad = !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
    return host == "localhost" || host == "::1" || (dottedQuad && host.rfind("127.", 0) == 0);
}

}  // namespace sluice::loadtest
