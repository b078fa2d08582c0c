// Fuzzes how a provider's error answer is read (providers/triage.h): the
// body of an error response in either flavour, with any status and retry
// headers, and the retry hint inside its message. Every answer gets a class;
// a retry hint is never negative.
#include "providers/triage.h"

#include "fuzz_input.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    sluice::fuzz::FuzzInput in(data, size);
    const std::uint8_t flags = in.byte();
    const long status = 100 + static_cast<long>(in.byte()) * 2 + (flags >> 7);
    const std::string_view retryAfter = in.part();
    const std::string_view body = in.rest();
    const sluice::ApiFlavor flavor = (flags & 1) != 0 ? sluice::ApiFlavor::Anthropic : sluice::ApiFlavor::OpenAI;

    sluice::http::HeaderMap headers;
    if ((flags & 2) != 0) {
        headers["retry-after"] = std::string(retryAfter);
    }
    if ((flags & 4) != 0) {
        headers["retry-after-ms"] = std::string(retryAfter);
    }
    if ((flags & 8) != 0) {
        headers["x-should-retry"] = std::string(retryAfter);
    }
    const sluice::WallTime now{std::chrono::seconds(1'790'000'000)};
    const sluice::RateLimitHeaders parsed = sluice::parseRateLimitHeaders(headers, now);

    const sluice::Triage t = sluice::triageResponse(flavor, status, body, parsed);
    if (t.retryAfter && *t.retryAfter < sluice::Duration::zero()) {
        std::abort();
    }
    (void)sluice::failureClassName(t.cls);
    if (const auto hint = sluice::retryHintFromMessage(body); hint && *hint < sluice::Duration::zero()) {
        std::abort();
    }
    const auto transport = static_cast<sluice::http::TransportError>(flags % 7);
    (void)sluice::triageTransport(transport, body);
    return 0;
}
