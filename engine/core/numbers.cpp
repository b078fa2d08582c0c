#include "core/numbers.h"

#include <cmath>
#include <cstdio>

namespace sluice {

namespace {

std::string groupDigits(std::uint64_t magnitude)
{
    const std::string digits = std::to_string(magnitude);
    std::string out;
    out.reserve(digits.size() + digits.size() / 3);
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out.push_back(',');
        }
        out.push_back(digits[i]);
    }
    return out;
}

// The magnitude without overflow for the most negative value.
std::uint64_t magnitudeOf(std::int64_t v)
{
    return v < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
}

}  // namespace

std::string groupThousands(std::int64_t v)
{
    return (v < 0 ? "-" : "") + groupDigits(magnitudeOf(v));
}

std::string formatUsd(std::int64_t microUsd)
{
    const std::uint64_t micro = magnitudeOf(microUsd);
    // Four decimals while the amount, so rounded, stays below a dollar.
    const bool subDollar = micro != 0 && micro < 999'950;
    const std::uint64_t step = subDollar ? 100 : 10'000;  // micro-dollars per last digit
    const std::uint64_t units = micro / step + (micro % step >= step / 2 ? 1 : 0);
    const std::uint64_t perDollar = 1'000'000 / step;
    std::string fraction = std::to_string(units % perDollar);
    fraction.insert(0, (subDollar ? 4 : 2) - fraction.size(), '0');
    return std::string(microUsd < 0 && units != 0 ? "-$" : "$") + groupDigits(units / perDollar) + "." + fraction;
}

std::string formatUsd(double usd)
{
    if (!std::isfinite(usd)) {
        return "$?";
    }
    // Within ±9 trillion dollars the micro-dollar path is exact to the
    // digits shown; beyond it there is nothing to group sensibly anyway.
    if (std::abs(usd) < 9e12) {
        return formatUsd(static_cast<std::int64_t>(std::llround(usd * 1e6)));
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s$%.2f", usd < 0 ? "-" : "", std::abs(usd));
    return buf;
}

}  // namespace sluice
