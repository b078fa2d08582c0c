// Header text as both upstream clients read it: names lower-cased, values
// without the blanks and line endings around them.
//
// Thread-safety: pure functions.
#pragma once

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

inline std::string lowerAscii(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        c = lowerAsciiChar(c);
    }
    return out;
}

}  // namespace sluice::http
