#include "config/config_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice {

using nlohmann::json;

namespace {

// The granularities, in whole milliseconds, for which the reader gives a
// spec its burst (burstFor is monotonic in the granularity): [lo, hi].
std::pair<std::int64_t, std::int64_t> granularityRange(const LimitSpec& s)
{
    const auto burstAt = [&s](std::int64_t ms) { return burstFor(s.limit, std::chrono::milliseconds(ms)); };
    // The first granularity in [1, 60000] whose burst is at least `burst`
    // (60000 when none is, and for burst 0: a whole minute).
    const auto firstReaching = [&burstAt](std::int64_t burst) {
        std::int64_t lo = 1;
        std::int64_t hi = 60000;
        while (lo < hi) {
            const std::int64_t mid = lo + (hi - lo) / 2;
            const std::int64_t b = burstAt(mid);
            if (b >= burst || b == 0) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    };
    if (s.burst <= 0) {
        return {60000, 60000};
    }
    const std::int64_t lo = firstReaching(s.burst);
    const std::int64_t hi = std::max(lo, firstReaching(s.burst + 1) - 1);
    return {lo, hi};
}

// The roundest granularity in [lo, hi] ms: whole seconds, then tenths, ...
double roundest(std::int64_t lo, std::int64_t hi)
{
    for (const std::int64_t step : {1000, 100, 10, 1}) {
        const std::int64_t v = (lo + step - 1) / step * step;
        if (v <= hi) {
            return static_cast<double>(v) / 1000.0;
        }
    }
    return static_cast<double>(lo) / 1000.0;
}

double seconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

bool isSpendPerMinute(const LimitSpec& s)
{
    return s.measure == Measure::SpendMicroUsd && s.window == Window::Rolling && s.period == std::chrono::minutes(1);
}

// Only what differs from what the loader assumes, so a written file reads
// like one written by hand.
void limitsMember(json& parent, const std::vector<LimitSpec>& specs,
                  const std::optional<AutoConcurrency>& autoConcurrency = std::nullopt)
{
    if (!specs.empty() || autoConcurrency) {
        parent["limits"] = limitsToJson(specs, autoConcurrency);
    }
}

json providerToJson(const ProviderConfig& p)
{
    const ProviderConfig defaults;
    json out = {{"name", p.name}, {"flavor", p.flavor == ApiFlavor::Anthropic ? "anthropic" : "openai"},
                {"base_url", p.baseUrl}};
    if (!p.headers.empty()) {
        json headers = json::object();
        for (const std::string& h : p.headers) {
            const std::size_t colon = h.find(": ");
            headers[h.substr(0, colon)] = colon == std::string::npos ? std::string() : h.substr(colon + 2);
        }
        out["headers"] = headers;
    }
    if (p.anthropicVersion != defaults.anthropicVersion) {
        out["anthropic_version"] = p.anthropicVersion;
    }
    if (p.connectTimeout != defaults.connectTimeout || p.totalTimeout != defaults.totalTimeout) {
        out["timeouts"] = {{"connect_s", seconds(p.connectTimeout)}, {"total_s", seconds(p.totalTimeout)}};
    }
    if (!p.http2) {
        out["http2"] = false;
    }
    if (!p.learnLimits) {
        out["learn_limits"] = false;
    }
    if (p.learnedGranularity != defaults.learnedGranularity) {
        out["learned_granularity_s"] = seconds(p.learnedGranularity);
    }
    if (p.tokenAccounting != defaultTokenAccounting(p.flavor)) {
        out["token_accounting"] = p.tokenAccounting == TokenAccounting::Actual   ? "actual"
                                  : p.tokenAccounting == TokenAccounting::Learn ? "learn"
                                                                                : "estimate";
    }
    const std::optional<IdleRampSettings> rampDefault =
        p.flavor == ApiFlavor::Anthropic ? std::optional<IdleRampSettings>(IdleRampSettings{}) : std::nullopt;
    if (p.rampAfterIdle != rampDefault) {
        if (!p.rampAfterIdle) {
            out["ramp_after_idle"] = false;
        } else {
            out["ramp_after_idle"] = {{"idle_s", seconds(p.rampAfterIdle->idle)},
                                      {"length_s", seconds(p.rampAfterIdle->length)},
                                      {"start", p.rampAfterIdle->start}};
        }
    }
    limitsMember(out, p.limits, p.autoConcurrency);
    if (!p.models.empty()) {
        json models = json::object();
        for (const ModelConfig& m : p.models) {
            json one = json::object();
            limitsMember(one, m.limits);
            if (m.defaultMaxTokens != ModelConfig{}.defaultMaxTokens) {
                one["default_max_tokens"] = m.defaultMaxTokens;
            }
            models[m.name] = one;
        }
        out["models"] = models;
    }
    json keys = json::array();
    for (const KeyConfig& k : p.keys) {
        // The variable it came from, never the value.
        json one = {{"name", k.name}, {"env", k.envVar}};
        if (!k.enabled) {
            one["enabled"] = false;
        }
        limitsMember(one, k.limits, k.autoConcurrency);
        if (!k.modelLimits.empty()) {
            json models = json::object();
            for (const auto& [model, limits] : k.modelLimits) {
                json m = json::object();
                m["limits"] = limitsToJson(limits);
                models[model] = m;
            }
            one["models"] = models;
        }
        keys.push_back(one);
    }
    out["keys"] = keys;
    return out;
}

json sharedToJson(const SharedConfig& s)
{
    const bool v6 = s.host.find(':') != std::string::npos;
    json out = {{"redis", "redis://" + (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port) + "/" +
                              std::to_string(s.db)},
                {"namespace", s.ns}};
    if (s.whenUnavailable == WhenUnavailable::Stop) {
        out["when_unavailable"] = "stop";
    }
    if (!s.passwordEnv.empty()) {
        out["password_env"] = s.passwordEnv;  // the variable, never the password
    }
    if (s.queueLease != SharedConfig{}.queueLease) {
        out["queue_lease_s"] = seconds(s.queueLease);
    }
    return out;
}

// The models whose prices differ from the built-in table's, and the
// overrides' date: what the file added to the built-in table.
std::optional<json> pricingToJson(const PricingTable& pricing)
{
    const PricingTable builtIn = PricingTable::builtIn();
    json models = json::object();
    for (const auto& [name, price] : pricing.models()) {
        const auto known = builtIn.models().find(name);
        if (known != builtIn.models().end() && known->second.inputPerMillion == price.inputPerMillion &&
            known->second.outputPerMillion == price.outputPerMillion &&
            known->second.cachedInputPerMillion == price.cachedInputPerMillion &&
            known->second.cacheWritePerMillion == price.cacheWritePerMillion) {
            continue;
        }
        models[name] = {{"input", price.inputPerMillion},
                        {"output", price.outputPerMillion},
                        {"cached_input", price.cachedInputPerMillion},
                        {"cache_write", price.cacheWritePerMillion}};
    }
    const std::string marker = builtIn.asOf() + ", overrides ";
    const bool dated = pricing.asOf().rfind(marker, 0) == 0;
    if (models.empty() && !dated) {
        return std::nullopt;
    }
    json out = {{"models", models}};
    if (dated) {
        out["as_of"] = pricing.asOf().substr(marker.size());
    }
    return out;
}

}  // namespace

std::string_view limitFieldName(LimitField f) noexcept
{
    switch (f) {
    case LimitField::Concurrency: return "concurrency";
    case LimitField::Rpm: return "rpm";
    case LimitField::Tpm: return "tpm";
    case LimitField::Itpm: return "itpm";
    case LimitField::Otpm: return "otpm";
    case LimitField::Rpd: return "rpd";
    case LimitField::Tpd: return "tpd";
    case LimitField::SpendPerDayUsd: return "spend_per_day_usd";
    }
    return "";
}

std::optional<LimitField> limitFieldOf(const LimitSpec& s) noexcept
{
    if (s.measure == Measure::Concurrency) {
        return LimitField::Concurrency;
    }
    const bool perMinute = s.window == Window::Rolling && s.period == std::chrono::minutes(1);
    const bool perDay = s.window == Window::Fixed && s.period == std::chrono::hours(24);
    if (perMinute) {
        switch (s.measure) {
        case Measure::Requests: return LimitField::Rpm;
        case Measure::TotalTokens: return LimitField::Tpm;
        case Measure::InputTokens: return LimitField::Itpm;
        case Measure::OutputTokens: return LimitField::Otpm;
        default: return std::nullopt;
        }
    }
    if (perDay) {
        switch (s.measure) {
        case Measure::Requests: return LimitField::Rpd;
        case Measure::TotalTokens: return LimitField::Tpd;
        case Measure::SpendMicroUsd: return LimitField::SpendPerDayUsd;
        default: return std::nullopt;
        }
    }
    return std::nullopt;
}

double limitFieldValue(const LimitSpec& s) noexcept
{
    if (s.measure == Measure::SpendMicroUsd) {
        return static_cast<double>(s.limit) / 1e6;
    }
    return static_cast<double>(s.limit);
}

json limitsToJson(const std::vector<LimitSpec>& specs, const std::optional<AutoConcurrency>& autoConcurrency)
{
    json out = json::object();
    // One granularity_s for the object: one that gives every per-minute
    // limit its burst back when there is one (a file written by hand has
    // it), else the first limit's whose burst is not the default.
    std::optional<std::pair<std::int64_t, std::int64_t>> common;
    std::optional<std::pair<std::int64_t, std::int64_t>> first;
    bool allDefault = true;
    bool disjoint = false;
    for (const LimitSpec& s : specs) {
        if (s.window != Window::Rolling || s.measure == Measure::Concurrency || isSpendPerMinute(s) ||
            !limitFieldOf(s)) {
            continue;
        }
        const auto range = granularityRange(s);
        if (s.burst != burstFor(s.limit, kDefaultGranularity)) {
            allDefault = false;
            if (!first) {
                first = range;
            }
        }
        if (!common) {
            common = range;
        } else {
            common = std::pair{std::max(common->first, range.first), std::min(common->second, range.second)};
            disjoint = disjoint || common->first > common->second;
        }
    }
    std::optional<double> granularity;
    if (!allDefault) {
        const auto& chosen = disjoint ? *first : *common;
        granularity = roundest(chosen.first, chosen.second);
    }
    for (const LimitSpec& s : specs) {
        if (isSpendPerMinute(s)) {
            out["spend_per_minute_usd"] = limitFieldValue(s);
            continue;
        }
        const auto field = limitFieldOf(s);
        if (!field) {
            continue;
        }
        if (*field == LimitField::SpendPerDayUsd) {
            out[std::string(limitFieldName(*field))] = limitFieldValue(s);
        } else {
            out[std::string(limitFieldName(*field))] = s.limit;
        }
        if (s.window == Window::Fixed && s.utcOffset != Duration::zero() && !out.contains("day_utc_offset")) {
            const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(s.utcOffset).count();
            const auto a = std::abs(minutes);
            char buf[48];  // room for any long long pair (gcc -O0 checks the worst case)
            std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", minutes < 0 ? '-' : '+', static_cast<long long>(a / 60),
                          static_cast<long long>(a % 60));
            out["day_utc_offset"] = buf;
        }
    }
    if (granularity) {
        out["granularity_s"] = *granularity;
    }
    if (autoConcurrency) {
        out["concurrency"] = {{"auto", {{"initial", autoConcurrency->initial}, {"max", autoConcurrency->max}}}};
    }
    return out;
}

json configToJson(const Config& config)
{
    json out = json::object();
    if (!config.globalLimits.empty()) {
        out["global"] = json::object();
        limitsMember(out["global"], config.globalLimits);
    }
    json providers = json::array();
    for (const ProviderConfig& p : config.providers) {
        if (!p.removed) {
            providers.push_back(providerToJson(p));
        }
    }
    out["providers"] = providers;
    const RetryConfig retry;
    if (config.retry.maxAttempts != retry.maxAttempts || config.retry.baseDelay != retry.baseDelay ||
        config.retry.maxDelay != retry.maxDelay || config.retry.maxRateLimitRetries != retry.maxRateLimitRetries ||
        config.retry.maxRetryAfter != retry.maxRetryAfter) {
        out["retry"] = {{"max_attempts", config.retry.maxAttempts},
                        {"base_delay_s", seconds(config.retry.baseDelay)},
                        {"max_delay_s", seconds(config.retry.maxDelay)},
                        {"max_rate_limit_retries", config.retry.maxRateLimitRetries},
                        {"max_retry_after_s", seconds(config.retry.maxRetryAfter)}};
    }
    const Defaults defaults;
    if (config.defaults.tenant != defaults.tenant || config.defaults.priority != defaults.priority ||
        config.defaults.deadline) {
        json d = {{"tenant", config.defaults.tenant}, {"priority", config.defaults.priority}};
        if (config.defaults.deadline) {
            d["deadline_s"] = seconds(*config.defaults.deadline);
        }
        out["defaults"] = d;
    }
    if (!config.tenantWeights.empty()) {
        json tenants = json::object();
        for (const auto& [name, weight] : config.tenantWeights) {
            tenants[name] = {{"weight", weight}};
        }
        out["tenants"] = tenants;
    }
    if (config.shared) {
        out["shared"] = sharedToJson(*config.shared);
    }
    if (auto pricing = pricingToJson(config.pricing)) {
        out["pricing"] = std::move(*pricing);
    }
    return out;
}

}  // namespace sluice
