// What a load test measures: live (LoadTestSnapshot, for a progress line or
// the console's panel) and at the end (LoadTestSummary, for reports and
// comparisons), with the helpers that compute them: percentiles, 429s by the
// limit the provider named, and the per-minute limits a config sets.
//
// Thread-safety: plain values; the free functions are pure.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "providers/triage.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::loadtest {

struct Percentiles {
    std::size_t count = 0;
    Duration mean{};
    Duration p50{};
    Duration p90{};
    Duration p95{};
    Duration p99{};
    Duration max{};
};

// Nearest-rank percentiles of the samples.
Percentiles percentiles(std::vector<Duration> samples);

// A 429 by what the provider said ran out.
enum class RateLimitKind : std::uint8_t {
    Requests,        // RPM
    Tokens,          // TPM
    InputTokens,     // ITPM
    OutputTokens,    // OTPM
    RequestsPerDay,  // RPD
    TooLarge,        // more than the whole limit: never fits
    Quota,           // insufficient_quota, spend cap
    Other            // a 429 that names no limit
};
inline constexpr std::size_t kRateLimitKinds = 8;
std::string_view rateLimitKindName(RateLimitKind k) noexcept;  // "requests", "tokens", ..., "quota", "other"
// Reads both providers' messages ("… on tokens per min (TPM) …", "… 8,000
// output tokens per minute …").
RateLimitKind classifyRateLimit(FailureClass cls, std::string_view message);

// Per-minute limits; nullopt: none set.
struct LimitFigures {
    std::optional<std::int64_t> rpm;
    std::optional<std::int64_t> tpm;
    std::optional<std::int64_t> itpm;
    std::optional<std::int64_t> otpm;
};

// The per-minute limits `config` sets on the traffic to these (provider,
// model) pairs: per key and model, summed over each provider's enabled keys,
// each level capped by the key, provider and global scopes above it.
LimitFigures configuredLimits(const Config& config,
                              const std::vector<std::pair<std::string, std::string>>& providerModels);

// One second of a run.
struct SecondSample {
    std::int64_t second = 0;  // since the run started
    std::uint64_t arrivals = 0;
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    std::uint64_t attempts = 0;
    std::uint64_t rateLimited = 0;  // 429 answers
    std::int64_t tokens = 0;        // input + output of completed requests
    Duration latencySum{};          // of completed requests, for a mean
};

enum class LoadTestState : std::uint8_t { Ready, Running, Ending, Finished };
std::string_view loadTestStateName(LoadTestState s) noexcept;

struct LoadTestSnapshot {
    LoadTestState state = LoadTestState::Ready;
    Duration elapsed{};
    Duration planned{};  // the arrivals' duration
    double progress = 0;  // 0..1: time while arrivals run, then the share of requests finished
    std::uint64_t arrivals = 0;
    std::uint64_t submitted = 0;
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t inFlight = 0;  // the target's view
    std::uint64_t queued = 0;
    std::uint64_t attempts = 0;
    std::uint64_t rateLimited = 0;
    std::uint64_t pipelinesStarted = 0;
    std::uint64_t pipelinesCompleted = 0;
    std::uint64_t pipelinesFailed = 0;
    // Over the last 10 seconds.
    double requestsPerMinute = 0;
    double tokensPerMinute = 0;
    LimitFigures limits;  // what the config sets, for "tokens/min of …"
    // Over the last 1,024 completions.
    Duration recentLatencyP50{};
    Duration recentLatencyP95{};
    Duration recentQueueP95{};
    std::int64_t spendMicroUsd = 0;
    std::vector<SecondSample> series;  // from the second asked for on
};

struct GroupSummary {
    std::string name;
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    Percentiles latency;
    Percentiles queueTime;
};

// The traffic to one model of one provider, against that model's limits.
struct LaneSummary {
    std::string provider;
    std::string model;
    std::uint64_t completed = 0;
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    double requestsPerMinute = 0;
    double tokensPerMinute = 0;
    LimitFigures limits;
    std::string bindingLimit;  // "rpm", "tpm", "itpm" or "otpm": the one closest to full
    double limitUtilisation = 0;
};

struct LoadTestSummary {
    std::string label;   // names the run in a comparison
    std::string target;  // "sluice" or "naive"
    std::string workload;
    WallTime startedAt{};
    Duration planned{};  // the arrivals' duration
    Duration elapsed{};  // from the start to the last request's end
    bool stoppedEarly = false;

    std::uint64_t arrivals = 0;
    std::uint64_t requests = 0;  // submitted
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;     // dead-lettered
    std::uint64_t cancelled = 0;  // still waiting when the run was cut
    std::uint64_t notSent = 0;    // pipeline calls never submitted (an earlier stage failed, or the run ended)
    std::map<std::string, std::uint64_t> failedByClass;

    std::uint64_t attempts = 0;  // HTTP requests sent
    std::uint64_t retries = 0;
    std::array<std::uint64_t, kRateLimitKinds> rateLimited{};  // 429 answers by limit
    std::map<std::string, std::uint64_t> failedAttemptsByClass;

    std::int64_t inputTokens = 0;  // of completed requests, as the provider reported
    std::int64_t outputTokens = 0;
    std::int64_t spendMicroUsd = 0;
    std::uint64_t unpricedResponses = 0;

    // Completed requests over `elapsed`.
    double requestsPerMinute = 0;
    double tokensPerMinute = 0;
    double inputTokensPerMinute = 0;
    double outputTokensPerMinute = 0;
    LimitFigures limits;          // of every lane together
    std::vector<LaneSummary> lanes;
    // The lane whose limit is closest to full, and how full: the goodput of
    // a run that pushes against its limits, as a share of them.
    std::string bindingLimit;     // "tpm of openai/gpt-4o"
    double limitUtilisation = 0;  // 1 is exactly at the limit

    Percentiles latency;           // submission to the end, retries and waits included
    Percentiles queueTime;         // submission to the first send: the admission (or semaphore) wait
    Percentiles timeToFirstToken;  // streams: from the successful attempt's send

    std::uint64_t pipelinesStarted = 0;
    std::uint64_t pipelinesCompleted = 0;
    std::uint64_t pipelinesFailed = 0;
    Percentiles pipelineLatency;  // arrival to the last call's end
    std::vector<GroupSummary> stages;
    std::vector<GroupSummary> tenants;

    std::vector<SecondSample> series;

    std::uint64_t rateLimitedTotal() const;
    double rateLimitedShare() const;  // of attempts
};

nlohmann::json toJson(const Percentiles& p);
nlohmann::json toJson(const LimitFigures& l);
// Fills the lane's binding limit and utilisation from its rates over `minutes`.
void rateAgainstLimits(LaneSummary& lane, double minutes);
nlohmann::json toJson(const LoadTestSummary& s);

}  // namespace sluice::loadtest
