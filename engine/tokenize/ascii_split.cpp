#include "tokenize/ascii_split.h"

namespace sluice::tokenize {

namespace {

// The patterns as the rank files carry them (tiktoken's JavaScript port).
constexpr std::string_view kCl100k =
    R"(('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A byte's class. \s is JavaScript's (TAB, LF, VT, FF, CR, space); every
// other ASCII byte that is no letter or digit, control characters included,
// is in [^\s\p{L}\p{N}]. Bytes >= 0x80 are kHigh (not decided here); index
// 256 stands for the end of the text.
enum : unsigned char {
    kUpper = 1, kLower = 2, kDigit = 4, kSpace = 8, kNewline = 16, kOther = 32, kHigh = 64, kEnd = 128
};
constexpr unsigned char kLetter = kUpper | kLower;

struct Classes {
    unsigned char of[257] = {};
    constexpr Classes()
    {
        for (int b = 0; b < 256; ++b) {
            unsigned char c = kOther;
            if (b >= 0x80) {
                c = kHigh;
            } else if (b >= 'A' && b <= 'Z') {
                c = kUpper;
            } else if (b >= 'a' && b <= 'z') {
                c = kLower;
            } else if (b >= '0' && b <= '9') {
                c = kDigit;
            } else if (b == '\n' || b == '\r') {
                c = kSpace | kNewline;
            } else if (b == '\t' || b == 0x0B || b == 0x0C || b == ' ') {
                c = kSpace;
            }
            of[b] = c;
        }
        of[256] = kEnd;
    }
};
constexpr Classes kClasses;

struct Text {
    const unsigned char* p;
    std::size_t n;
    [[gnu::always_inline]] unsigned byte(std::size_t i) const noexcept { return i < n ? p[i] : 256U; }
    [[gnu::always_inline]] unsigned char cls(std::size_t i) const noexcept { return kClasses.of[byte(i)]; }
    // Where the run of cls that starts at i ends (i when there is none).
    [[gnu::always_inline]] std::size_t runEnd(std::size_t i, unsigned char c) const noexcept
    {
        while (i < n && (kClasses.of[p[i]] & c) != 0) {
            ++i;
        }
        return i;
    }
};

[[gnu::always_inline]] inline unsigned lower(unsigned b) noexcept { return b >= 'A' && b <= 'Z' ? b + 32 : b; }

// ('s|'t|'re|'ve|'m|'ll|'d), any case, at i: its length or 0. Its letters
// are ASCII, so a byte >= 0x80 simply does not match.
[[gnu::always_inline]] inline std::size_t contraction(const Text& t, std::size_t i) noexcept
{
    if (t.byte(i) != '\'') {
        return 0;
    }
    const unsigned c = lower(t.byte(i + 1));
    if (c == 's' || c == 't' || c == 'm' || c == 'd') {
        return 2;
    }
    if (((c == 'r' || c == 'v') && lower(t.byte(i + 2)) == 'e') || (c == 'l' && lower(t.byte(i + 2)) == 'l')) {
        return 3;
    }
    return 0;
}

// A length: 0 is "ask the regex".
constexpr std::size_t kUndecided = 0;
constexpr std::size_t kNoMatch = static_cast<std::size_t>(-1);
// A position (where 0 is a position): "ask the regex".
constexpr std::size_t kUndecidedAt = static_cast<std::size_t>(-2);

// [^\r\n\p{L}\p{N}]? before a letter run: where the run starts (at or
// at + 1), kNoMatch when no letter starts there, kUndecidedAt when a byte
// >= 0x80 would decide.
[[gnu::always_inline]] inline std::size_t letterStart(const Text& t, std::size_t at, unsigned char c) noexcept
{
    if ((c & kLetter) != 0) {
        return at;
    }
    if ((c & (kNewline | kDigit)) != 0) {
        return kNoMatch;
    }
    const unsigned char d = t.cls(at + 1);
    if ((d & kHigh) != 0) {
        return kUndecidedAt;
    }
    return (d & kLetter) != 0 ? at + 1 : kNoMatch;
}

// \p{N}{1,3}
inline std::size_t digits(const Text& t, std::size_t at) noexcept
{
    std::size_t i = at;
    while (i - at < 3 && (t.cls(i) & kDigit) != 0) {
        ++i;
    }
    if (i - at < 3 && (t.cls(i) & kHigh) != 0) {
        return kUndecided;  // a digit of another script would extend it
    }
    return i - at;
}

// " ?[^\s\p{L}\p{N}]+" then [\r\n]* (cl100k) or [\r\n/]* (o200k): the
// length, kNoMatch or kUndecided.
inline std::size_t punctuation(const Text& t, std::size_t at, unsigned char c, bool slash) noexcept
{
    std::size_t i = at;
    if (t.p[at] == ' ') {
        const unsigned char d = t.cls(at + 1);
        if ((d & kHigh) != 0) {
            return kUndecided;
        }
        if ((d & kOther) == 0) {
            return kNoMatch;
        }
        ++i;
    } else if ((c & kOther) == 0) {
        return kNoMatch;
    }
    i = t.runEnd(i, kOther);
    if ((t.cls(i) & kHigh) != 0) {
        return kUndecided;  // punctuation outside ASCII would extend it
    }
    for (unsigned b = t.byte(i); b == '\r' || b == '\n' || (slash && b == '/'); b = t.byte(i)) {
        ++i;
    }
    return i - at;
}

// \s*[\r\n]+ | \s+(?!\S) | \s+ at a space.
inline std::size_t spaces(const Text& t, std::size_t at) noexcept
{
    const std::size_t end = t.runEnd(at, kSpace);
    if ((t.cls(end) & kHigh) != 0) {
        return kUndecided;  // a space outside ASCII (NBSP, LS) would extend it
    }
    // \s* is greedy and gives back until [\r\n]+ can match: up to the last
    // line break of the run.
    for (std::size_t i = end; i > at; --i) {
        if ((t.cls(i - 1) & kNewline) != 0) {
            return i - at;
        }
    }
    if (end == t.n) {
        return end - at;
    }
    // (?!\S): all but the last space, which stays with what follows.
    return end - at >= 2 ? end - at - 1 : 1;
}

[[gnu::always_inline]] inline std::size_t o200k(const Text& t, std::size_t at, unsigned char c) noexcept
{
    // [^\r\n\p{L}\p{N}]?[\p{Lu}...]*[\p{Ll}...]+('s|...)? and, when no
    // lower-case letter follows the capitals, [^\r\n\p{L}\p{N}]?[\p{Lu}...]+[\p{Ll}...]*('s|...)?
    const std::size_t start = letterStart(t, at, c);
    if (start == kUndecidedAt) {
        return kUndecided;
    }
    if (start != kNoMatch) {
        const std::size_t upperEnd = t.runEnd(start, kUpper);
        const std::size_t end = t.runEnd(upperEnd, kLower);
        if ((t.cls(end) & kHigh) != 0) {
            return kUndecided;  // a letter or mark outside ASCII would extend it
        }
        return end - at + contraction(t, end);
    }
    if ((c & kDigit) != 0) {
        return digits(t, at);
    }
    if (const std::size_t n = punctuation(t, at, c, true); n != kNoMatch) {
        return n;
    }
    return spaces(t, at);
}

[[gnu::always_inline]] inline std::size_t cl100k(const Text& t, std::size_t at, unsigned char c) noexcept
{
    if (const std::size_t n = contraction(t, at); n != 0) {
        return n;
    }
    const std::size_t start = letterStart(t, at, c);
    if (start == kUndecidedAt) {
        return kUndecided;
    }
    if (start != kNoMatch) {
        const std::size_t end = t.runEnd(start, kLetter);
        return (t.cls(end) & kHigh) != 0 ? kUndecided : end - at;
    }
    if ((c & kDigit) != 0) {
        return digits(t, at);
    }
    if (const std::size_t n = punctuation(t, at, c, false); n != kNoMatch) {
        return n;
    }
    return spaces(t, at);
}

}  // namespace

KnownPattern knownPattern(std::string_view jsPattern) noexcept
{
    if (jsPattern == kO200k) {
        return KnownPattern::O200k;
    }
    if (jsPattern == kCl100k) {
        return KnownPattern::Cl100k;
    }
    return KnownPattern::None;
}

namespace {

template <KnownPattern P>
[[gnu::always_inline]] inline std::size_t matchAt(const Text& t, std::size_t at) noexcept
{
    const unsigned char c = t.cls(at);
    if ((c & (kHigh | kEnd)) != 0) {
        return kUndecided;
    }
    return P == KnownPattern::O200k ? o200k(t, at, c) : cl100k(t, at, c);
}

template <KnownPattern P>
std::size_t splitFrom(const Text& t, std::size_t at, std::vector<Piece>& out)
{
    while (at < t.n) {
        const std::size_t n = matchAt<P>(t, at);
        if (n == kUndecided) {
            break;
        }
        out.push_back(Piece{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(n)});
        at += n;
    }
    return at;
}

}  // namespace

std::size_t asciiMatch(KnownPattern pattern, std::string_view text, std::size_t at) noexcept
{
    const Text t{reinterpret_cast<const unsigned char*>(text.data()), text.size()};
    switch (pattern) {
    case KnownPattern::O200k:
        return matchAt<KnownPattern::O200k>(t, at);
    case KnownPattern::Cl100k:
        return matchAt<KnownPattern::Cl100k>(t, at);
    case KnownPattern::None:
        break;
    }
    return kUndecided;
}

std::size_t asciiSplit(KnownPattern pattern, std::string_view text, std::size_t at, std::vector<Piece>& out)
{
    const Text t{reinterpret_cast<const unsigned char*>(text.data()), text.size()};
    switch (pattern) {
    case KnownPattern::O200k:
        return splitFrom<KnownPattern::O200k>(t, at, out);
    case KnownPattern::Cl100k:
        return splitFrom<KnownPattern::Cl100k>(t, at, out);
    case KnownPattern::None:
        break;
    }
    return at;
}

}  // namespace sluice::tokenize
