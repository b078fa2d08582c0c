// Config: everything Sluice needs to talk to providers within their limits,
// read from one JSON file (schema: docs/configuration.md). Loading validates
// the whole file and reports every problem with file, line and JSON path;
// API keys are read from the environment variables the file names, never
// from the file itself.
//
// Thread-safety: a value; immutable after loading.
#pragma once

#include "admission/limits.h"
#include "core/json_source.h"
#include "core/secret.h"
#include "pricing/pricing.h"
#include "providers/protocol.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

// "concurrency": "auto": the scope's concurrency limit starts at `initial`
// and an AdaptiveConcurrencyController moves it within [1, max] from what
// the provider's answers show (429s, latency).
struct AutoConcurrency {
    std::int64_t initial = 4;
    std::int64_t max = 256;
    friend bool operator==(const AutoConcurrency&, const AutoConcurrency&) = default;
};

// "ramp_after_idle": after `idle` with nothing sent to a model, its
// request rate starts at `start` × the limit and reaches the whole limit
// over `length` (IdleRamp), for providers with acceleration limits.
struct IdleRampSettings {
    Duration idle = std::chrono::seconds(60);
    Duration length = std::chrono::seconds(10);
    double start = 0.5;
    friend bool operator==(const IdleRampSettings&, const IdleRampSettings&) = default;
};

struct KeyConfig {
    std::string name;    // a label, safe to show
    std::string envVar;  // where the value came from
    Secret value;
    bool enabled = true;
    std::vector<LimitSpec> limits;                                // the key's own scope
    std::optional<AutoConcurrency> autoConcurrency;               // its concurrency limit is found at run time
    std::map<std::string, std::vector<LimitSpec>, std::less<>> modelLimits;  // per model, overriding the provider's
};

struct ModelConfig {
    std::string name;
    std::vector<LimitSpec> limits;  // per key and model unless a key overrides them
    std::int64_t defaultMaxTokens = 4096;
};

// How a provider counts tokens against its per-minute limits.
enum class TokenAccounting : std::uint8_t {
    // Charged on arrival, prompt estimate + max_tokens × n, never corrected
    // (OpenAI and compatible APIs).
    Estimate,
    // Corrected to what the response really used (Anthropic).
    Actual,
    // Estimate, until the provider is found to give back unused output
    // (RefundProbe): the default for OpenAI and compatible APIs, which do
    // not document it.
    Learn
};

// Anthropic documents correcting its output charge; OpenAI does not say.
constexpr TokenAccounting defaultTokenAccounting(ApiFlavor flavor) noexcept
{
    return flavor == ApiFlavor::Anthropic ? TokenAccounting::Actual : TokenAccounting::Learn;
}

struct ProviderConfig {
    std::string name;
    ApiFlavor flavor = ApiFlavor::OpenAI;
    std::string baseUrl;
    std::vector<std::string> headers;  // "Name: value", sent with every request
    std::string anthropicVersion = "2023-06-01";
    Duration connectTimeout = std::chrono::seconds(10);
    Duration totalTimeout = std::chrono::minutes(10);
    bool http2 = true;
    // Adopt limits the provider announces in its headers for dimensions the
    // config does not set.
    bool learnLimits = true;
    TokenAccounting tokenAccounting = TokenAccounting::Learn;
    // How finely the provider is assumed to enforce a learned per-minute
    // limit: the burst is limit × granularity / 60 s.
    Duration learnedGranularity = std::chrono::seconds(1);
    std::vector<LimitSpec> limits;   // the provider scope
    std::optional<AutoConcurrency> autoConcurrency;  // its concurrency limit is found at run time
    // Ramp up after idle; on by default for Anthropic, whose acceleration
    // limits refuse a sharp rise from idle.
    std::optional<IdleRampSettings> rampAfterIdle;
    std::vector<ModelConfig> models;  // empty: serves any model
    std::vector<KeyConfig> keys;
    // Removed at run time; kept so positions stay valid. Routing skips it.
    bool removed = false;

    const ModelConfig* model(std::string_view name) const;
    bool serves(std::string_view model) const { return models.empty() || this->model(model) != nullptr; }
};

struct RetryConfig {
    int maxAttempts = 5;               // attempts that fail with server errors, timeouts, resets
    Duration baseDelay = std::chrono::milliseconds(500);
    Duration maxDelay = std::chrono::seconds(8);
    int maxRateLimitRetries = 100;     // 429s do not burn attempts, but do not loop forever
    Duration maxRetryAfter = std::chrono::minutes(10);  // a longer hint is capped
};

struct Defaults {
    std::string tenant = "default";
    int priority = 0;
    std::optional<Duration> deadline;  // per job, from when it is queued
};

// "shared": budgets shared with other instances through Redis (engine/shared/).
enum class WhenUnavailable : std::uint8_t { LocalShare, Stop };

struct SharedConfig {
    std::string host;
    int port = 6379;
    int db = 0;
    std::string ns;  // "namespace": instances with the same one share budgets
    WhenUnavailable whenUnavailable = WhenUnavailable::LocalShare;
    std::string passwordEnv;  // where the password came from
    Secret password;
    // --queue shared: a leased job another instance may take over after
    // its holder stopped renewing it this long.
    Duration queueLease = std::chrono::seconds(30);
};

struct Config {
    std::string source;  // file name, for messages
    std::optional<SharedConfig> shared;  // absent: nothing is shared
    std::vector<LimitSpec> globalLimits;
    std::vector<ProviderConfig> providers;
    RetryConfig retry;
    Defaults defaults;
    std::map<std::string, double, std::less<>> tenantWeights;  // default 1
    PricingTable pricing;

    const ProviderConfig* provider(std::string_view name) const;
    // The provider for a request: the named one, or the first of the right
    // flavour that serves the model.
    const ProviderConfig* route(ApiFlavor flavor, std::string_view model, std::string_view providerName = {}) const;
    double tenantWeight(std::string_view tenant) const;
};

// The burst Sluice allows itself for a per-minute limit that the provider
// enforces in buckets of `granularity` (600 RPM as 10 per second): the
// provider's bucket, limit × granularity / 1 min, less what
// kArrivalJitterAllowance of rate would add, so requests that reach the
// provider closer together than they left still fit its bucket. The steady
// rate is unchanged; only the burst shrinks. Returns 0 (the whole limit) for
// a granularity of a minute or more. (kArrivalJitterAllowance: in
// admission/limits.h, where the ledger adds it back to a window's span.)
// What a per-minute limit's granularity is when the configuration does not
// say: providers document per-minute limits but enforce them in short
// buckets (600 RPM as 10 per second), so a minute's worth sent at once at
// start meets a burst of 429s. A second's worth is safe against those and
// costs nothing in steady throughput; only the burst after idle is smaller.
inline constexpr Duration kDefaultGranularity = std::chrono::seconds(1);
std::int64_t burstFor(std::int64_t limitPerMinute, Duration granularity);

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnvironment();

// Throws InputError listing every problem, one per line, each as
// "file:line: /json/pointer: problem".
Config loadConfig(const JsonSource& source, const EnvLookup& env);
Config loadConfigFile(const std::string& path, const EnvLookup& env);

// Parses a "limits" object ({"rpm": 500, "tpm": 30000, ...}); used by the
// config loader and by live edits.
std::vector<LimitSpec> parseLimits(const JsonSource& source, std::string_view pointer, std::vector<std::string>& problems);

}  // namespace sluice
