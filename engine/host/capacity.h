// How much a part of the scope tree can carry per minute (or in flight, or
// per day): what a dashboard draws as the limit line. A scope's capacity is
// the smaller of its own limit and what its children can carry together
// (a key limited to 500 RPM with two models of 400 RPM each carries 500;
// with one model, 400). Scopes the caller names as unusable (disabled or
// quarantined keys) carry nothing.
//
// Thread-safety: pure functions over snapshots.
#pragma once

#include "admission/ledger.h"

#include <functional>
#include <optional>
#include <vector>

namespace sluice::host {

enum class CapacityOf : std::uint8_t {
    RequestsPerMinute,
    // Input + output tokens per minute: a TPM limit, or ITPM + OTPM where a
    // scope has those instead (Anthropic).
    TokensPerMinute,
    InFlight,
    SpendPerDayMicroUsd,
};

// nullopt when nothing limits it. `unusable` says which scopes to leave
// out (and everything under them).
std::optional<std::int64_t> capacityOf(const std::vector<ScopeState>& scopes, ScopeId root, CapacityOf what,
                                       const std::function<bool(const ScopeState&)>& unusable = {});

}  // namespace sluice::host
