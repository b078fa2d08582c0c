// Number formatting shared by CLI output, mock messages, reports and the
// console: the one place that groups thousands and writes an amount of
// money, so every front end shows the same figure the same way.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

// 1234567 → "1,234,567"; -1234 → "-1,234".
std::string groupThousands(std::int64_t v);

// US dollars for people to read: four decimals below a dollar (per-request
// prices are fractions of a cent), two from a dollar up, thousands grouped:
// "$0.0123", "$12.34", "$1,234,567.89", "-$0.5000", "$0.00". Rounded half
// away from zero; an amount that rounds to a dollar shows as "$1.00".
std::string formatUsd(std::int64_t microUsd);
std::string formatUsd(double usd);  // not finite: "$?"

}  // namespace sluice
