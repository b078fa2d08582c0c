// The mock provider's configuration: API keys, models and their limits, the
// behaviour model (latency, output length) and fault rates. The CLI reads it
// from a JSON file and flags, POST /mock/config patches it live, and tests
// build it in code. Errors name the source, the field and the problem.
//
// Thread-safety: plain values; the free functions are pure.
#pragma once

#include "core/clock.h"
#include "mock/acceleration.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::mock {

enum class Flavour : std::uint8_t { OpenAI, Anthropic };
std::string_view flavourName(Flavour f) noexcept;  // "openai", "anthropic"

// How output tokens are charged against an output-tokens-per-minute limit.
// Anthropic's older documentation charges max_tokens up front and corrects
// at the end; the newer counts only the output actually produced.
enum class OutputCharging : std::uint8_t { ReserveThenCorrect, ActualOnly };

// How a tokens-per-minute limit is charged: the prompt plus max_tokens × n
// on arrival, kept (what OpenAI documents), or the same on arrival with
// the output the answer did not use given back when it ends (providers
// that count what was really produced; whether OpenAI does is not
// documented), or the prompt alone on arrival and the output produced when
// the answer ends (a provider that admits on what it knows; a request that
// states no max_tokens then holds nothing of its output in flight).
enum class TokenCharging : std::uint8_t { OnArrival, Refunded, OnCompletion };

// How a per-minute limit is enforced within its granularity: a token bucket
// refilling continuously (OpenAI, Anthropic), a sliding window holding at
// most a granularity's worth (stricter after idle; some gateways and clouds),
// or fixed windows of the granularity, each counting from zero (simple
// gateways). The order is LimitTable's Meter's.
enum class Enforcement : std::uint8_t { Bucket, SlidingWindow, FixedWindow };

// Limits of one API key on one model. Zero means "not enforced".
struct RateLimits {
    std::int64_t requestsPerMinute = 0;
    // OpenAI's TPM: the prompt estimate plus max_tokens × n, charged on
    // arrival and not corrected.
    std::int64_t tokensPerMinute = 0;
    std::int64_t inputTokensPerMinute = 0;   // Anthropic's ITPM
    std::int64_t outputTokensPerMinute = 0;  // Anthropic's OTPM
    // A rolling day (continuous refill over 24 h), whole-day capacity.
    std::int64_t requestsPerDay = 0;
    // How finely per-minute limits are enforced: a bucket holds
    // limit × granularity / 1 min, so 600 RPM at 1s allows 10 at once and
    // one more every 100 ms.
    Duration granularity = std::chrono::minutes(1);
    OutputCharging outputCharging = OutputCharging::ReserveThenCorrect;
    Enforcement enforcement = Enforcement::Bucket;
    // Anthropic's acceleration limits on requests (off unless configured).
    Acceleration acceleration;
    TokenCharging tokenCharging = TokenCharging::OnArrival;

    bool operator==(const RateLimits&) const = default;
};

// A key's own limits on one model; a field left unset takes the model's.
struct LimitOverride {
    std::optional<std::int64_t> requestsPerMinute, tokensPerMinute, inputTokensPerMinute, outputTokensPerMinute,
        requestsPerDay;
    std::optional<Duration> granularity;
    std::optional<OutputCharging> outputCharging;
    std::optional<Enforcement> enforcement;
    std::optional<Acceleration> acceleration;
    std::optional<TokenCharging> tokenCharging;

    RateLimits applyTo(RateLimits base) const;
    bool operator==(const LimitOverride&) const = default;
};

// How the mock counts a request's prompt tokens, for its limits and the
// usage it reports: characters ÷ 4 (the default, also Sluice's own rule of
// thumb), or a real tokenizer (see prompt_counter.h).
enum class PromptCounting : std::uint8_t { Estimate, O200kBase, Cl100kBase };
std::string_view promptCountingName(PromptCounting c) noexcept;  // "chars/4", "o200k_base", "cl100k_base"

struct MockModel {
    Flavour flavour = Flavour::OpenAI;
    PromptCounting promptCounting = PromptCounting::Estimate;
    RateLimits limits;
    // The most output one choice may have; also what OpenAI charges for a
    // request that names no max_tokens.
    std::int64_t maxOutputTokens = 4096;

    bool operator==(const MockModel&) const = default;
};

struct MockKey {
    bool disabled = false;        // answered 401, like a revoked key
    bool quotaExhausted = false;  // OpenAI insufficient_quota; Anthropic spend cap
    // Tokens the key may be charged in total before it runs out of quota;
    // 0 is unlimited.
    std::int64_t quotaTokens = 0;
    // Models the key may use; empty allows all. Others are answered 403.
    std::vector<std::string> models;
    std::map<std::string, LimitOverride> limits;  // by model name

    bool operator==(const MockKey&) const = default;
};

enum class DistributionKind : std::uint8_t { Fixed, Uniform, LogNormal };
std::string_view distributionName(DistributionKind k) noexcept;

// Delays. Each request draws one factor from `jitter` that multiplies all
// of its delays: fixed (1), uniform in [1 − spread, 1 + spread], or
// lognormal with sigma = spread (median 1).
struct LatencyModel {
    double baseMs = 200;            // non-streaming: before the whole body
    double perOutputTokenMs = 10;   // both: per output token
    double firstTokenMs = 250;      // streaming: before the first token
    DistributionKind jitter = DistributionKind::Fixed;
    double spread = 0;
    // Like a GPU batch server: each answer in flight beyond `inFlight`
    // (this one included) adds `perExtraMs` before the body or the first
    // token. inFlight 0: no knee.
    struct Knee {
        std::int64_t inFlight = 0;
        double perExtraMs = 0;
        bool operator==(const Knee&) const = default;
    };
    Knee knee;

    bool operator==(const LatencyModel&) const = default;
};

// Output length per choice, drawn then capped by the request's max_tokens:
// fixed at `mean`; uniform in [min, max]; lognormal with median `mean` and
// shape `sigma`, clamped to [min, max].
struct OutputModel {
    DistributionKind distribution = DistributionKind::Uniform;
    std::int64_t min = 20;
    std::int64_t max = 400;
    double mean = 150;
    double sigma = 0.5;

    bool operator==(const OutputModel&) const = default;
};

// Faults, injected into admitted requests with these probabilities (their
// sum at most 1). Stream-only faults do nothing to non-streaming requests.
enum class Fault : std::uint8_t {
    None,
    Http500,
    Http503,
    Http529,
    ConnectionReset,          // reset mid-body
    Stall,                    // no answer at all, until the client gives up
    MalformedJson,            // 200 with a body cut off mid-JSON
    SseError,                 // streams: an error event after HTTP 200
    StreamCut,                // streams: the connection ends before the usage
    MissingRateLimitHeaders,  // a normal answer without rate-limit headers
    AzureMinusOne             // a normal answer with Azure's -1 header values
};
inline constexpr std::size_t kFaultCount = 11;
std::string_view faultName(Fault f) noexcept;  // its JSON field: "http500", "connectionReset", ...

struct FaultRates {
    std::array<double, kFaultCount> rate{};  // by Fault; rate[None] is unused

    double& operator[](Fault f) noexcept { return rate[static_cast<std::size_t>(f)]; }
    double operator[](Fault f) const noexcept { return rate[static_cast<std::size_t>(f)]; }
    bool operator==(const FaultRates&) const = default;
};

struct MockConfig {
    // Where to listen; loopback unless told otherwise. Fixed once started.
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    int ioThreads = 1;
    std::size_t maxBodyBytes = 4u << 20;

    std::uint64_t seed = 1;
    std::string organization = "org-mock";
    bool limitsEnabled = true;
    // 429s also carry retry-after-ms, as Azure OpenAI sends.
    bool retryAfterMs = false;
    // Whether responses carry x-ratelimit-* / anthropic-ratelimit-* headers:
    // off, the limits are hidden (self-hosted servers, some clouds) and a
    // client learns them only from 429s.
    bool rateLimitHeaders = true;

    std::map<std::string, MockKey> keys;      // by API key
    std::map<std::string, MockModel> models;  // by model name
    LatencyModel latency;
    OutputModel output;
    FaultRates faults;

    // The stock setup: key "sk-mock"; gpt-4o and gpt-4o-mini (OpenAI tier 1
    // limits), claude-sonnet-4-5 and claude-haiku-4-5 (Anthropic tier 1).
    static MockConfig defaults();
    // The limits for `key` on `model`, or nullopt when either is unknown.
    std::optional<RateLimits> limitsFor(const std::string& key, const std::string& model) const;

    bool operator==(const MockConfig&) const = default;
};

// Already formatted as "where: what".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads a configuration document onto MockConfig::defaults(): a field left
// out keeps its default, and "keys" or "models", when present, replace the
// stock ones. Unknown fields are errors. `source` names the document in
// messages, with the line: "mock.json:4: /models/gpt-4o/limits/rpm: must be
// a whole number from 0 to ... (got -5)".
MockConfig parseMockConfig(std::string_view json, std::string_view source);

// Applies a JSON merge patch (RFC 7396) to `base`: objects merge field by
// field, null removes (a key, a model), anything else replaces. Messages
// name `source` and the field, without a line.
MockConfig patchMockConfig(const MockConfig& base, std::string_view patch, std::string_view source);

// The document parseMockConfig reads back into an equal configuration.
std::string toJson(const MockConfig& config, int indent = -1);

// "HOST:PORT" or "[V6]:PORT"; throws ConfigError naming `field`.
void parseListenAddress(std::string_view text, std::string_view field, std::string& host, std::uint16_t& port);
// The same check, returning what is wrong instead of throwing.
std::optional<std::string> listenProblem(std::string_view text, std::string& host, std::uint16_t& port);

}  // namespace sluice::mock
