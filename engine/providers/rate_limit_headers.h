// What a provider's response headers say about its limits, in one shape for
// both flavours: OpenAI's x-ratelimit-* (Go durations; Azure's -1 and
// x-rate-limit-reset-tokens) and Anthropic's anthropic-ratelimit-* (RFC 3339
// reset times), plus retry-after-ms, retry-after (seconds or HTTP date) and
// x-should-retry. Every header is a hint that may be missing.
//
// Thread-safety: pure functions.
#pragma once

#include "admission/ledger.h"
#include "core/clock.h"
#include "http/http_client.h"

#include <optional>

namespace sluice {

struct RateLimitHeaders {
    ProviderView requests;
    ProviderView tokens;        // OpenAI TPM; Anthropic's most restrictive token limit
    ProviderView inputTokens;   // Anthropic ITPM
    ProviderView outputTokens;  // Anthropic OTPM
    std::optional<Duration> retryAfter;  // retry-after-ms, else retry-after
    std::optional<bool> shouldRetry;     // x-should-retry

    bool any() const noexcept;
};

// `now` converts Anthropic's absolute reset times into time-to-full.
RateLimitHeaders parseRateLimitHeaders(const http::HeaderMap& headers, WallTime now);

}  // namespace sluice
