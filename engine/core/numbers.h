// Number formatting shared by CLI output, mock messages and reports.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

// 1234567 → "1,234,567"
std::string groupThousands(std::int64_t v);

}  // namespace sluice
