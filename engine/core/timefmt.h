// Text forms of time that providers use in headers and bodies: Go-style
// durations (OpenAI's x-ratelimit-reset-*, "Please try again in 1.574s"),
// RFC 3339 timestamps (Anthropic's *-reset), HTTP dates (Retry-After).
//
// Thread-safety: pure functions.
#pragma once

#include "core/clock.h"

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// Go's time.Duration.String(): "20ms", "1.574s", "6m0s", "1h23m31s", "0s".
std::string formatGoDuration(Duration d);
// Accepts what Go's time.ParseDuration accepts: one or more decimal numbers
// with units ns, us, µs, ms, s, m, h, run together ("1m30.5s"), an optional
// sign. A bare number is not a duration.
std::optional<Duration> parseGoDuration(std::string_view text);

// "2025-08-21T12:40:59Z"; with fractionDigits > 0, ".123" etc. before Z.
std::string formatRfc3339(WallTime t, int fractionDigits = 0);
// Accepts "Z" or a numeric offset, optional fractional seconds, 'T' or 't'.
std::optional<WallTime> parseRfc3339(std::string_view text);

// IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110).
std::string formatHttpDate(WallTime t);
std::optional<WallTime> parseHttpDate(std::string_view text);

// Seconds as a decimal number ("1", "0.5", "12.25"): Retry-After's usual form.
std::optional<Duration> parseDecimalSeconds(std::string_view text);

}  // namespace sluice
