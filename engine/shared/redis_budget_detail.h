// Helpers shared by RedisBudget's two source files (redis_budget.cpp,
// redis_budget_background.cpp); not part of its interface.
#pragma once

#include "core/clock.h"

#include <chrono>
#include <cstdint>

namespace sluice::shared::budget_detail {

inline std::int64_t floorDiv(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

inline std::int64_t toUs(Duration d) noexcept
{
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// The low bits of a Hold's sharedTag: admitted through Redis, or by the
// local_share fallback ledger.
inline constexpr std::uint64_t kRemoteTag = 1;
inline constexpr std::uint64_t kFallbackTag = 2;

}  // namespace sluice::shared::budget_detail
