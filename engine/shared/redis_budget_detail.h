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

// A remote hold's tag: the generation it was admitted in (from bit 40), the
// window-log entry it was logged as (0: none), and kRemoteTag.
inline constexpr std::uint64_t kEntryMask = (std::uint64_t{1} << 38) - 1;
inline std::uint64_t remoteTag(std::uint64_t generation, std::uint64_t entry) noexcept
{
    return (generation << 40) | ((entry & kEntryMask) << 2) | kRemoteTag;
}
inline std::uint64_t tagGeneration(std::uint64_t tag) noexcept
{
    return tag >> 40;
}
inline std::uint64_t tagEntry(std::uint64_t tag) noexcept
{
    return (tag >> 2) & kEntryMask;
}

}  // namespace sluice::shared::budget_detail
