#include "loadtest/summary.h"

#include "core/timefmt.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sluice::loadtest {

using nlohmann::json;

Percentiles percentiles(std::vector<Duration> samples)
{
    Percentiles p;
    p.count = samples.size();
    if (samples.empty()) {
        return p;
    }
    std::sort(samples.begin(), samples.end());
    const auto rank = [&](double q) {
        const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
        return samples[std::clamp<std::size_t>(i, 1, samples.size()) - 1];
    };
    p.p50 = rank(0.50);
    p.p90 = rank(0.90);
    p.p95 = rank(0.95);
    p.p99 = rank(0.99);
    p.max = samples.back();
    const Duration total = std::accumulate(samples.begin(), samples.end(), Duration::zero());
    p.mean = total / static_cast<std::int64_t>(samples.size());
    return p;
}

std::string_view rateLimitKindName(RateLimitKind k) noexcept
{
    switch (k) {
    case RateLimitKind::Requests: return "requests";
    case RateLimitKind::Tokens: return "tokens";
    case RateLimitKind::InputTokens: return "input_tokens";
    case RateLimitKind::OutputTokens: return "output_tokens";
    case RateLimitKind::RequestsPerDay: return "requests_per_day";
    case RateLimitKind::TooLarge: return "too_large";
    case RateLimitKind::Quota: return "quota";
    case RateLimitKind::Other: return "other";
    }
    return "other";
}

RateLimitKind classifyRateLimit(FailureClass cls, std::string_view msg)
{
    if (cls == FailureClass::QuotaExhausted) {
        return RateLimitKind::Quota;
    }
    if (cls == FailureClass::RequestTooLarge) {
        return RateLimitKind::TooLarge;
    }
    const auto has = [&](std::string_view s) { return msg.find(s) != std::string_view::npos; };
    // The specific names first: "input tokens per min" also contains "tokens per min".
    if (has("(RPD)") || has("requests per day")) {
        return RateLimitKind::RequestsPerDay;
    }
    if (has("(ITPM)") || has("input tokens per")) {
        return RateLimitKind::InputTokens;
    }
    if (has("(OTPM)") || has("output tokens per")) {
        return RateLimitKind::OutputTokens;
    }
    if (has("(RPM)") || has("requests per min")) {
        return RateLimitKind::Requests;
    }
    if (has("(TPM)") || has("tokens per min")) {
        return RateLimitKind::Tokens;
    }
    return RateLimitKind::Other;
}

namespace {

using Limit = std::optional<std::int64_t>;  // nullopt: unlimited

Limit minOf(Limit a, Limit b)
{
    if (!a) {
        return b;
    }
    return b ? std::min(*a, *b) : a;
}

Limit perMinuteOf(const std::vector<LimitSpec>& specs, Measure m)
{
    Limit out;
    for (const LimitSpec& s : specs) {
        if (s.measure == m && s.window == Window::Rolling && s.period == std::chrono::minutes(1)) {
            out = minOf(out, s.limit);
        }
    }
    return out;
}

// Sums limits; one unlimited part makes the whole unlimited.
struct LimitSum {
    Limit total = 0;
    void add(Limit part) { total = total && part ? Limit(*total + *part) : std::nullopt; }
};

Limit configuredLimit(const Config& config, const std::vector<std::pair<std::string, std::string>>& pairs, Measure m)
{
    LimitSum providers;
    bool any = false;
    for (const ProviderConfig& pc : config.providers) {
        std::vector<std::string> models;
        for (const auto& [provider, model] : pairs) {
            if (provider == pc.name && std::find(models.begin(), models.end(), model) == models.end()) {
                models.push_back(model);
            }
        }
        if (models.empty()) {
            continue;
        }
        any = true;
        LimitSum keys;
        for (const KeyConfig& kc : pc.keys) {
            if (!kc.enabled) {
                continue;
            }
            LimitSum perModel;
            for (const std::string& model : models) {
                const auto own = kc.modelLimits.find(model);
                const ModelConfig* mc = pc.model(model);
                perModel.add(own != kc.modelLimits.end() ? perMinuteOf(own->second, m)
                                                         : mc != nullptr ? perMinuteOf(mc->limits, m) : Limit());
            }
            keys.add(minOf(perModel.total, perMinuteOf(kc.limits, m)));
        }
        providers.add(minOf(keys.total, perMinuteOf(pc.limits, m)));
    }
    return any ? minOf(providers.total, perMinuteOf(config.globalLimits, m)) : perMinuteOf(config.globalLimits, m);
}

double seconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

json optionalNumber(const std::optional<std::int64_t>& v)
{
    return v ? json(*v) : json(nullptr);
}

json groupJson(const GroupSummary& g)
{
    return {{"name", g.name},
            {"completed", g.completed},
            {"failed", g.failed},
            {"latency_s", toJson(g.latency)},
            {"queue_time_s", toJson(g.queueTime)}};
}

}  // namespace

LimitFigures configuredLimits(const Config& config, const std::vector<std::pair<std::string, std::string>>& pairs)
{
    LimitFigures l;
    l.rpm = configuredLimit(config, pairs, Measure::Requests);
    l.tpm = configuredLimit(config, pairs, Measure::TotalTokens);
    l.itpm = configuredLimit(config, pairs, Measure::InputTokens);
    l.otpm = configuredLimit(config, pairs, Measure::OutputTokens);
    return l;
}

std::string_view loadTestStateName(LoadTestState s) noexcept
{
    switch (s) {
    case LoadTestState::Ready: return "ready";
    case LoadTestState::Running: return "running";
    case LoadTestState::Ending: return "ending";
    case LoadTestState::Finished: return "finished";
    }
    return "ready";
}

std::uint64_t LoadTestSummary::rateLimitedTotal() const
{
    return std::accumulate(rateLimited.begin(), rateLimited.end(), std::uint64_t{0});
}

double LoadTestSummary::rateLimitedShare() const
{
    return attempts == 0 ? 0.0 : static_cast<double>(rateLimitedTotal()) / static_cast<double>(attempts);
}

json toJson(const Percentiles& p)
{
    return {{"count", p.count},  {"mean", seconds(p.mean)}, {"p50", seconds(p.p50)}, {"p90", seconds(p.p90)},
            {"p95", seconds(p.p95)}, {"p99", seconds(p.p99)},  {"max", seconds(p.max)}};
}

json toJson(const LimitFigures& l)
{
    return {{"rpm", optionalNumber(l.rpm)},
            {"tpm", optionalNumber(l.tpm)},
            {"itpm", optionalNumber(l.itpm)},
            {"otpm", optionalNumber(l.otpm)}};
}

void rateAgainstLimits(LaneSummary& lane, double minutes)
{
    minutes = std::max(minutes, 1e-9);
    lane.requestsPerMinute = static_cast<double>(lane.completed) / minutes;
    lane.tokensPerMinute = static_cast<double>(lane.inputTokens + lane.outputTokens) / minutes;
    const auto consider = [&](const char* name, const std::optional<std::int64_t>& limit, double rate) {
        if (limit && *limit > 0 && rate / static_cast<double>(*limit) > lane.limitUtilisation) {
            lane.limitUtilisation = rate / static_cast<double>(*limit);
            lane.bindingLimit = name;
        }
    };
    consider("rpm", lane.limits.rpm, lane.requestsPerMinute);
    consider("tpm", lane.limits.tpm, lane.tokensPerMinute);
    consider("itpm", lane.limits.itpm, static_cast<double>(lane.inputTokens) / minutes);
    consider("otpm", lane.limits.otpm, static_cast<double>(lane.outputTokens) / minutes);
}

namespace {

// The per-second series.
json seriesJson(const std::vector<SecondSample>& samples)
{
    json series = json::array();
    for (const SecondSample& x : samples) {
        series.push_back({{"t", x.second},
                          {"arrivals", x.arrivals},
                          {"completed", x.completed},
                          {"failed", x.failed},
                          {"attempts", x.attempts},
                          {"rate_limited", x.rateLimited},
                          {"tokens", x.tokens},
                          {"mean_latency_s", x.completed ? seconds(x.latencySum) / static_cast<double>(x.completed)
                                                         : 0.0}});
    }
    return series;
}

// Each provider/model lane's throughput against its limits.
json lanesJson(const std::vector<LaneSummary>& all)
{
    json lanes = json::array();
    for (const LaneSummary& l : all) {
        lanes.push_back({{"provider", l.provider},
                         {"model", l.model},
                         {"completed", l.completed},
                         {"input_tokens", l.inputTokens},
                         {"output_tokens", l.outputTokens},
                         {"requests_per_min", l.requestsPerMinute},
                         {"tokens_per_min", l.tokensPerMinute},
                         {"limits", toJson(l.limits)},
                         {"binding_limit", l.bindingLimit.empty() ? json(nullptr) : json(l.bindingLimit)},
                         {"limit_utilisation", l.bindingLimit.empty() ? json(nullptr) : json(l.limitUtilisation)}});
    }
    return lanes;
}

}  // namespace

json toJson(const LoadTestSummary& s)
{
    json rateLimited = json::object();
    for (std::size_t k = 0; k < kRateLimitKinds; ++k) {
        rateLimited[std::string(rateLimitKindName(static_cast<RateLimitKind>(k)))] = s.rateLimited[k];
    }
    const json series = seriesJson(s.series);
    json stages = json::array();
    for (const GroupSummary& g : s.stages) {
        stages.push_back(groupJson(g));
    }
    const json lanes = lanesJson(s.lanes);
    json tenants = json::array();
    for (const GroupSummary& g : s.tenants) {
        tenants.push_back(groupJson(g));
    }
    json out = {
        {"label", s.label},
        {"target", s.target},
        {"workload", s.workload},
        {"started_at", formatRfc3339(s.startedAt, 3)},
        {"planned_s", seconds(s.planned)},
        {"elapsed_s", seconds(s.elapsed)},
        {"stopped_early", s.stoppedEarly},
        {"arrivals", s.arrivals},
        {"requests",
         {{"submitted", s.requests},
          {"completed", s.completed},
          {"failed", s.failed},
          {"cancelled", s.cancelled},
          {"not_sent", s.notSent},
          {"failed_by_class", s.failedByClass}}},
        {"attempts",
         {{"sent", s.attempts},
          {"retries", s.retries},
          {"rate_limited", s.rateLimitedTotal()},
          {"rate_limited_share", s.rateLimitedShare()},
          {"rate_limited_by_limit", rateLimited},
          {"failed_by_class", s.failedAttemptsByClass}}},
        {"tokens", {{"input", s.inputTokens}, {"output", s.outputTokens}}},
        {"throughput",
         {{"requests_per_min", s.requestsPerMinute},
          {"tokens_per_min", s.tokensPerMinute},
          {"input_tokens_per_min", s.inputTokensPerMinute},
          {"output_tokens_per_min", s.outputTokensPerMinute}}},
        {"limits", toJson(s.limits)},
        {"lanes", lanes},
        {"binding_limit", s.bindingLimit.empty() ? json(nullptr) : json(s.bindingLimit)},
        {"limit_utilisation", s.bindingLimit.empty() ? json(nullptr) : json(s.limitUtilisation)},
        {"latency_s", toJson(s.latency)},
        {"queue_time_s", toJson(s.queueTime)},
        {"time_to_first_token_s", toJson(s.timeToFirstToken)},
        {"spend_usd", static_cast<double>(s.spendMicroUsd) / 1e6},
        {"unpriced_responses", s.unpricedResponses},
        {"tenants", tenants},
        {"series", series},
    };
    if (s.pipelinesStarted > 0) {
        out["pipelines"] = {{"started", s.pipelinesStarted},
                            {"completed", s.pipelinesCompleted},
                            {"failed", s.pipelinesFailed},
                            {"latency_s", toJson(s.pipelineLatency)},
                            {"stages", stages}};
    }
    return out;
}

}  // namespace sluice::loadtest
