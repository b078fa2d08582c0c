// Limits as JSON for what instances tell each other (an operator's limit
// change, kept in Redis and sent as a signal): every field of LimitSpec,
// exactly, in a form a later version can still read. Not the configuration
// file's format, which is made for people (rpm, tpm, …).
//
// Thread-safety: pure functions.
#pragma once

#include "admission/limits.h"
#include "dispatch/dispatch_types.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::shared {

std::string encodeLimits(const std::vector<LimitSpec>& limits);
// nullopt when the text is not a valid list of limits (each one validated).
std::optional<std::vector<LimitSpec>> decodeLimits(std::string_view text);

// A limit target as one string (a Redis hash field), and back.
std::string encodeTarget(const LimitTarget& target);
std::optional<LimitTarget> decodeTarget(std::string_view text);

}  // namespace sluice::shared
