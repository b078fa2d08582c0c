// Header text as both upstream clients read it: names lower-cased, values
// without the blanks and line endings around them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::http {

inline std::string_view trimHeaderText(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// ASCII only, as header names and URL schemes are: the locale's tolower is
// a call per character, on every header of every response.
inline char lowerAsciiChar(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Eight characters at a time: the names of a provider's two dozen headers
// pass through here on every response.
inline std::string lowerAscii(std::string_view s)
{
    std::string out(s);
    std::size_t i = 0;
    for (; i + 8 <= out.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, out.data() + i, 8);
        // 0x80 in each byte that is 'A'..'Z' (a byte with its high bit set is
        // left alone), then 0x20 added to exactly those bytes.
        const std::uint64_t ascii = ~w & 0x8080808080808080ULL;
        const std::uint64_t fromA = (w & 0x7f7f7f7f7f7f7f7fULL) + 0x3f3f3f3f3f3f3f3fULL;  // >= 'A': high bit
        const std::uint64_t pastZ = (w & 0x7f7f7f7f7f7f7f7fULL) + 0x2525252525252525ULL;  // > 'Z': high bit
        const std::uint64_t upper = fromA & ~pastZ & ascii;
        w |= upper >> 2;
        std::memcpy(out.data() + i, &w, 8);
    }
    for (; i < out.size(); ++i) {
        out[i] = lowerAsciiChar(out[i]);
    }
    return out;
}

}  // namespace sluice::http
