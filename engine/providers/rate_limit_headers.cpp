#include "providers/rate_limit_headers.h"

#include "core/timefmt.h"

#include <algorithm>
#include <charconv>

namespace sluice {

namespace {

const std::string* header(const http::HeaderMap& h, std::string_view name)
{
    const auto it = h.find(name);
    return it == h.end() ? nullptr : &it->second;
}

// Integer header; -1 (Azure's "unknown") and garbage give nothing.
std::optional<std::int64_t> count(const http::HeaderMap& h, std::string_view name)
{
    const std::string* v = header(h, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    std::int64_t out = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc() || end != v->data() + v->size() || out < 0) {
        return std::nullopt;
    }
    return out;
}

std::optional<Duration> goReset(const http::HeaderMap& h, std::string_view name)
{
    const std::string* v = header(h, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (auto d = parseGoDuration(*v); d && *d >= Duration::zero()) {
        return d;
    }
    // Some compatible servers send plain seconds.
    return parseDecimalSeconds(*v);
}

// How long from `now` until `t`, zero when past. Both are dates from outside
// (a header, a clock): their difference can exceed the nanosecond range
// (1700 to 2200 spans more than it holds), so it saturates.
Duration untilOrZero(WallTime t, WallTime now) noexcept
{
    if (t <= now) {
        return Duration::zero();
    }
    __extension__ typedef __int128 Int128;
    const Int128 d = Int128{t.time_since_epoch().count()} - Int128{now.time_since_epoch().count()};
    return d > Int128{Duration::max().count()} ? Duration::max() : Duration(static_cast<Duration::rep>(d));
}

std::optional<Duration> rfcReset(const http::HeaderMap& h, std::string_view name, WallTime now)
{
    const std::string* v = header(h, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    const auto t = parseRfc3339(*v);
    if (!t) {
        return std::nullopt;
    }
    return untilOrZero(*t, now);
}

// Header names spelled out (not concatenated) so parsing a response
// allocates nothing.
struct BucketNames {
    std::string_view limit;
    std::string_view remaining;
    std::string_view reset;
    std::string_view azureReset;  // OpenAI flavour only
};

constexpr BucketNames kOpenAiRequests{"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                                      "x-ratelimit-reset-requests", "x-rate-limit-reset-requests"};
constexpr BucketNames kOpenAiTokens{"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                                    "x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens"};
constexpr BucketNames kAnthropicRequests{"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
                                         "anthropic-ratelimit-requests-reset", {}};
constexpr BucketNames kAnthropicTokens{"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining",
                                       "anthropic-ratelimit-tokens-reset", {}};
constexpr BucketNames kAnthropicInput{"anthropic-ratelimit-input-tokens-limit",
                                      "anthropic-ratelimit-input-tokens-remaining",
                                      "anthropic-ratelimit-input-tokens-reset", {}};
constexpr BucketNames kAnthropicOutput{"anthropic-ratelimit-output-tokens-limit",
                                       "anthropic-ratelimit-output-tokens-remaining",
                                       "anthropic-ratelimit-output-tokens-reset", {}};

void openAiBucket(const http::HeaderMap& h, const BucketNames& n, ProviderView& out)
{
    out.limit = count(h, n.limit);
    out.remaining = count(h, n.remaining);
    out.timeToFull = goReset(h, n.reset);
    if (!out.timeToFull) {
        out.timeToFull = goReset(h, n.azureReset);  // Azure's spelling
    }
    // Azure sends limit/remaining -1 with reset 0: nothing is known then.
    if (!out.limit && !out.remaining) {
        out.timeToFull.reset();
    }
}

void anthropicBucket(const http::HeaderMap& h, const BucketNames& n, WallTime now, ProviderView& out)
{
    out.limit = count(h, n.limit);
    out.remaining = count(h, n.remaining);
    out.timeToFull = rfcReset(h, n.reset, now);
}

bool known(const ProviderView& v)
{
    return v.limit || v.remaining || v.timeToFull;
}

}  // namespace

bool RateLimitHeaders::any() const noexcept
{
    return known(requests) || known(tokens) || known(inputTokens) || known(outputTokens) || retryAfter ||
           shouldRetry;
}

RateLimitHeaders parseRateLimitHeaders(const http::HeaderMap& h, WallTime now)
{
    RateLimitHeaders r;
    // Most responses of a server without limit headers carry none of these
    // prefixes: one pass over the names answers that before fourteen lookups.
    const bool any = std::any_of(h.begin(), h.end(), [](const http::HeaderMap::value_type& header) {
        const std::string_view name = header.first;
        return name.starts_with("x-rate") || name.starts_with("anthropic-ratelimit-") ||
               name.starts_with("retry-after") || name.starts_with("x-should-retry");
    });
    if (!any) {
        return r;
    }
    openAiBucket(h, kOpenAiRequests, r.requests);
    openAiBucket(h, kOpenAiTokens, r.tokens);
    if (!known(r.requests)) {
        anthropicBucket(h, kAnthropicRequests, now, r.requests);
    }
    if (!known(r.tokens)) {
        anthropicBucket(h, kAnthropicTokens, now, r.tokens);
    }
    anthropicBucket(h, kAnthropicInput, now, r.inputTokens);
    anthropicBucket(h, kAnthropicOutput, now, r.outputTokens);

    // The SDKs' order: retry-after-ms, then retry-after as seconds, then as
    // an HTTP date.
    if (const std::string* ms = header(h, "retry-after-ms")) {
        if (auto d = parseDecimalSeconds(*ms)) {
            r.retryAfter = Duration(d->count() / 1000);
        }
    }
    if (!r.retryAfter) {
        if (const std::string* ra = header(h, "retry-after")) {
            if (auto d = parseDecimalSeconds(*ra)) {
                r.retryAfter = d;
            } else if (auto t = parseHttpDate(*ra)) {
                r.retryAfter = untilOrZero(*t, now);
            }
        }
    }
    if (const std::string* s = header(h, "x-should-retry")) {
        if (*s == "true") {
            r.shouldRetry = true;
        } else if (*s == "false") {
            r.shouldRetry = false;
        }
    }
    return r;
}

}  // namespace sluice
