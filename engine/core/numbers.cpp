#include "core/numbers.h"

namespace sluice {

std::string groupThousands(std::int64_t v)
{
    const std::string digits = std::to_string(v < 0 ? -v : v);
    std::string out;
    if (v < 0) {
        out.push_back('-');
    }
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out.push_back(',');
        }
        out.push_back(digits[i]);
    }
    return out;
}

}  // namespace sluice
