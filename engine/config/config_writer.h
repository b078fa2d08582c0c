// The configuration format written: the counterpart of loadConfig
// (config.h), kept beside it so the two change together. configToJson
// gives the document loadConfig reads back as the same Config; the
// workspace file (host/workspace.*) writes its limits objects through
// limitsToJson.
//
// Secrets are never written: a key is written as the environment variable
// (or "keychain:PROVIDER/KEY" entry) it was read from, "env", and the Redis
// password as "password_env"; never their values.
//
// Thread-safety: pure functions.
#pragma once

#include "admission/limits.h"
#include "config/config.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace sluice {

// The fields of a limits object the console edits, as the configuration
// names them.
enum class LimitField : std::uint8_t { Concurrency, Rpm, Tpm, Itpm, Otpm, Rpd, Tpd, SpendPerDayUsd };
inline constexpr int kLimitFieldCount = 8;
std::string_view limitFieldName(LimitField f) noexcept;  // "rpm", "spend_per_day_usd", ...
// The field a spec is written as; nullopt for a shape the file cannot say
// (a per-hour rate, say) or one the console does not edit (spend per minute).
std::optional<LimitField> limitFieldOf(const LimitSpec& spec) noexcept;
// The value the file holds for a spec: units, or US dollars for spend.
double limitFieldValue(const LimitSpec& spec) noexcept;

// A limits object for `specs` (granularity from the first per-minute burst
// that is not the default one). With `autoConcurrency`, "concurrency" is
// written as "auto" (its start and ceiling) instead of the spec's number.
nlohmann::json limitsToJson(const std::vector<LimitSpec>& specs,
                            const std::optional<AutoConcurrency>& autoConcurrency = std::nullopt);

// The whole configuration, as loadConfig reads it ("gateway", read by the
// gateway's own loader, is not part of Config and not written).
nlohmann::json configToJson(const Config& config);

}  // namespace sluice
