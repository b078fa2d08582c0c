// Fuzzes the rate-limit header reader (providers/rate_limit_headers.h):
// "name: value" lines become a response's headers; every value is a hint
// that may be anything, and nothing it says may crash, overflow or come out
// negative.
#include "providers/rate_limit_headers.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Integers are never negative (Azure's -1 means "unknown", so nothing) and
// times to full are never in the past.
void checkView(const sluice::ProviderView& v)
{
    if ((v.limit && *v.limit < 0) || (v.remaining && *v.remaining < 0) ||
        (v.timeToFull && *v.timeToFull < sluice::Duration::zero())) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    sluice::http::HeaderMap headers;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        const std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        headers[std::string(line.substr(0, colon))] = std::string(value);
    }
    // A fixed "now", so a crash reproduces from its input alone.
    const sluice::WallTime now{std::chrono::seconds(1'790'000'000)};
    const sluice::RateLimitHeaders h = sluice::parseRateLimitHeaders(headers, now);
    if (h.retryAfter && *h.retryAfter < sluice::Duration::zero()) {
        std::abort();
    }
    checkView(h.requests);
    checkView(h.tokens);
    checkView(h.inputTokens);
    checkView(h.outputTokens);
    (void)h.any();
    return 0;
}
