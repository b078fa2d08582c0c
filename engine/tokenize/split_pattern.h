// The pre-tokenisation step of a BPE tokenizer: a regular expression, written
// as tiktoken's JavaScript port runs it, that cuts text into pieces before
// byte-pair merging. Run with PCRE2 (UTF + UCP, JIT-compiled when the
// platform allows) so Unicode categories (\p{L}, \p{N}, ...) match as in
// JavaScript. JavaScript's \s is not PCRE2's: the pattern is rewritten so
// that \s means exactly ECMAScript's WhiteSpace and LineTerminator set.
//
// Thread-safety: immutable after construction; split() may run on any number
// of threads at once.
#pragma once

#include "tokenize/ascii_split.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenize {

// A problem with a tokenizer's inputs (a rank file, a pattern), formatted as
// "where: what".
class TokenizerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class SplitPattern {
public:
    // Regex: every match by PCRE2 (the reference, for tests). Fastest: the
    // cl100k and o200k patterns matched by hand over ASCII (ascii_split.h),
    // PCRE2 for the rest and for any other pattern.
    enum class Matcher { Fastest, Regex };

    // Compiles a JavaScript (flags "u") pattern. Throws TokenizerError naming
    // the offset and PCRE2's reason when it does not compile.
    explicit SplitPattern(std::string_view jsPattern, Matcher matcher = Matcher::Fastest);
    ~SplitPattern();
    SplitPattern(const SplitPattern&) = delete;
    SplitPattern& operator=(const SplitPattern&) = delete;

    // Appends the pieces of text, in order, exactly as JavaScript's
    // text.matchAll(pattern) finds them (characters no alternative matches
    // are skipped, as there). text must be valid UTF-8 (see sanitizeUtf8);
    // at most 4 GiB.
    void split(std::string_view text, std::vector<Piece>& out) const;

    // The pattern as PCRE2 compiled it (after the \s rewrite).
    const std::string& compiledPattern() const noexcept { return m_pcrePattern; }

    // The JavaScript pattern rewritten for PCRE2 (exposed for tests).
    static std::string translate(std::string_view jsPattern);

private:
    struct Code;
    KnownPattern m_known = KnownPattern::None;
    std::string m_pcrePattern;
    std::unique_ptr<Code> m_code;
};

// True when text is well-formed UTF-8 (no overlong forms, surrogates, or
// code points above U+10FFFF).
bool isValidUtf8(std::string_view text) noexcept;
// text with every ill-formed sequence replaced by U+FFFD, as a JavaScript
// TextDecoder reads it (one replacement per maximal invalid subpart).
std::string sanitizeUtf8(std::string_view text);

}  // namespace sluice::tokenize
