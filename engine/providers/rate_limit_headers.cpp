#include "providers/rate_limit_headers.h"

#include "core/timefmt.h"

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
    return std::max(Duration::zero(), *t - now);
}

void openAiBucket(const http::HeaderMap& h, std::string_view what, ProviderView& out)
{
    const std::string w(what);
    out.limit = count(h, "x-ratelimit-limit-" + w);
    out.remaining = count(h, "x-ratelimit-remaining-" + w);
    out.timeToFull = goReset(h, "x-ratelimit-reset-" + w);
    if (!out.timeToFull) {
        out.timeToFull = goReset(h, "x-rate-limit-reset-" + w);  // Azure's spelling
    }
    // Azure sends limit/remaining -1 with reset 0: nothing is known then.
    if (!out.limit && !out.remaining) {
        out.timeToFull.reset();
    }
}

void anthropicBucket(const http::HeaderMap& h, std::string_view what, WallTime now, ProviderView& out)
{
    const std::string base = "anthropic-ratelimit-" + std::string(what);
    out.limit = count(h, base + "-limit");
    out.remaining = count(h, base + "-remaining");
    out.timeToFull = rfcReset(h, base + "-reset", now);
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
    openAiBucket(h, "requests", r.requests);
    openAiBucket(h, "tokens", r.tokens);
    if (!known(r.requests)) {
        anthropicBucket(h, "requests", now, r.requests);
    }
    if (!known(r.tokens)) {
        anthropicBucket(h, "tokens", now, r.tokens);
    }
    anthropicBucket(h, "input-tokens", now, r.inputTokens);
    anthropicBucket(h, "output-tokens", now, r.outputTokens);

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
                r.retryAfter = std::max(Duration::zero(), *t - now);
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
