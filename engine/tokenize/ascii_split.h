// The split patterns of OpenAI's cl100k_base and o200k_base matched by hand
// where the text is ASCII. PCRE2's JIT spends most of a long English or
// code prompt's count on these patterns (a third of the gateway's CPU on a
// 3 KB prompt); over ASCII their classes are a handful of byte ranges, and
// each alternative's backtracking comes down to "run of a class, then look
// at the next byte". A match whose outcome depends on a byte of 0x80 or
// above (a letter, digit or space outside ASCII could extend or end it) is
// left to the regex: asciiMatch() answers 0 there, and the caller runs
// PCRE2 for that one match.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sluice::tokenize {

// Where a piece of text lies (split_pattern.h's pieces).
struct Piece {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
};

enum class KnownPattern { None, Cl100k, O200k };

// Which of the two patterns jsPattern is, exactly as the rank files spell
// them (JavaScript syntax); None for any other pattern.
KnownPattern knownPattern(std::string_view jsPattern) noexcept;

// The length of the match `pattern` finds starting at text[at] (at <
// text.size()), or 0 when deciding it would take a byte >= 0x80. Every ASCII
// character starts a match of both patterns, so 0 means only "ask the regex".
std::size_t asciiMatch(KnownPattern pattern, std::string_view text, std::size_t at) noexcept;

// Appends the pieces asciiMatch finds from text[at] on, one after another,
// until the end of the text or a match it leaves to the regex; returns
// where it stopped (text.size() at the end).
std::size_t asciiSplit(KnownPattern pattern, std::string_view text, std::size_t at, std::vector<Piece>& out);

}  // namespace sluice::tokenize
