#include "tokenize/language_class.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <utility>

namespace sluice::tokenize {

std::string_view languageClassName(LanguageClass c) noexcept
{
    switch (c) {
    case LanguageClass::Latin:
        return "latin";
    case LanguageClass::Cjk:
        return "cjk";
    case LanguageClass::Other:
        return "other";
    case LanguageClass::Code:
        return "code";
    }
    return "latin";
}

std::optional<LanguageClass> parseLanguageClass(std::string_view name) noexcept
{
    for (const auto c : {LanguageClass::Latin, LanguageClass::Cjk, LanguageClass::Other, LanguageClass::Code}) {
        if (languageClassName(c) == name) {
            return c;
        }
    }
    return std::nullopt;
}

namespace {

bool isCjk(std::uint32_t cp) noexcept
{
    return (cp >= 0x1100 && cp <= 0x11FF)       // Hangul Jamo
           || (cp >= 0x2E80 && cp <= 0x9FFF)    // CJK radicals, kana, CJK ideographs, symbols
           || (cp >= 0xA960 && cp <= 0xA97F)    // Hangul Jamo Extended-A
           || (cp >= 0xAC00 && cp <= 0xD7FF)    // Hangul syllables
           || (cp >= 0xF900 && cp <= 0xFAFF)    // CJK compatibility ideographs
           || (cp >= 0xFF00 && cp <= 0xFFEF)    // half- and full-width forms
           || (cp >= 0x20000 && cp <= 0x3FFFF);  // CJK extensions B and later
}

// What one ASCII byte adds to the tally once a line has begun, packed in
// one word so that a byte costs one read and one add: visible (bits 0-20),
// Latin, i.e. letters and digits (21-41), a code mark (42-62). Spaces and
// tabs add nothing. A line break and any byte >= 0x80 carry kStop instead:
// the run of plain bytes ends there. A run is at most kPackedRun bytes, so
// 21 bits cannot overflow.
constexpr int kLatinShift = 21;
constexpr int kCodeShift = 42;
constexpr std::uint64_t kFieldMask = (std::uint64_t{1} << 21) - 1;
constexpr std::uint64_t kStop = std::uint64_t{1} << 63;
constexpr std::size_t kPackedRun = std::size_t{1} << 20;

struct AsciiTally {
    std::uint64_t add[256] = {};
    constexpr AsciiTally()
    {
        for (int b = 0; b < 256; ++b) {
            const bool blank = b == ' ' || b == '\t';
            const bool latin = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
            add[b] = b >= 0x80 || b == '\n' ? kStop
                                              : (blank ? 0 : 1) | (std::uint64_t{latin ? 1U : 0U} << kLatinShift);
        }
        for (const char c : std::string_view("{}[]();=<>_|\\\"")) {
            add[static_cast<unsigned char>(c)] |= std::uint64_t{1} << kCodeShift;
        }
    }
};
constexpr AsciiTally kAsciiTally;

// One multi-byte sequence at s[i], decoded leniently (classification only):
// the code point and the bytes it takes.
std::pair<std::uint32_t, std::size_t> decodeLenient(std::string_view s, std::size_t i) noexcept
{
    const auto b = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 1;
    if ((b & 0xE0) == 0xC0) {
        cp = b & 0x1F;
        len = 2;
    } else if ((b & 0xF0) == 0xE0) {
        cp = b & 0x0F;
        len = 3;
    } else if ((b & 0xF8) == 0xF0) {
        cp = b & 0x07;
        len = 4;
    }
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    return {cp, len};
}

#if defined(__SSE2__)
// Whole blocks of sixteen ASCII bytes with no line break, from p[i] on (at
// most to stop): what the byte loop below would tally, sixteen at a time.
// Counts gather per byte lane (a compare's 0xFF is -1) for up to 255 blocks,
// then are summed with SAD. Returns where it stopped: stop, or a block with
// a line break or a byte >= 0x80, left to the byte loop.
std::size_t tallyBlocks(const unsigned char* p, std::size_t i, std::size_t stop, std::size_t& visible,
                        std::size_t& latin, std::size_t& codeMarks) noexcept
{
    const __m128i zero = _mm_setzero_si128();
    const auto eq = [](__m128i x, char c) { return _mm_cmpeq_epi8(x, _mm_set1_epi8(c)); };
    // lo <= x <= hi, for x < 0x80 (a signed compare is right there).
    const auto range = [](__m128i x, char lo, char hi) {
        return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                             _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))));
    };
    const auto sum = [&](__m128i lanes) {
        const __m128i s = _mm_sad_epu8(lanes, zero);
        return static_cast<std::size_t>(_mm_cvtsi128_si32(s)) +
               static_cast<std::size_t>(_mm_cvtsi128_si32(_mm_srli_si128(s, 8)));
    };
    bool more = true;
    while (more && stop - i >= 16) {
        __m128i blanks = zero;
        __m128i latins = zero;
        __m128i codes = zero;
        std::size_t blocks = 0;
        for (; blocks < 255 && stop - i >= 16; ++blocks, i += 16) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
            if (_mm_movemask_epi8(_mm_or_si128(x, eq(x, '\n'))) != 0) {
                more = false;
                break;
            }
            blanks = _mm_sub_epi8(blanks, _mm_or_si128(eq(x, ' '), eq(x, '\t')));
            latins = _mm_sub_epi8(latins, _mm_or_si128(range(x, '0', '9'),
                                                       _mm_or_si128(range(x, 'A', 'Z'), range(x, 'a', 'z'))));
            // { } [ ] ( ) ; = < > _ | \ "
            const __m128i marks = _mm_or_si128(
                _mm_or_si128(_mm_or_si128(range(x, '(', ')'), range(x, ';', '>')), range(x, '[', ']')),
                _mm_or_si128(_mm_or_si128(range(x, '{', '}'), eq(x, '_')), eq(x, '"')));
            codes = _mm_sub_epi8(codes, marks);
        }
        visible += blocks * 16 - sum(blanks);
        latin += sum(latins);
        codeMarks += sum(codes);
    }
    return i;
}
#endif

}  // namespace

void LanguageTally::add(std::string_view s) noexcept
{
    // Counted in locals: the members, written through `this` while the
    // text is read through a char pointer (which may alias anything), would
    // be loaded and stored again for every byte.
    std::size_t visible = 0;
    std::size_t latin = 0;
    std::size_t codeMarks = 0;
    std::size_t i = 0;
    bool lineStart = true;
    std::size_t indent = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (!lineStart && (kAsciiTally.add[b] & kStop) == 0) {
            // Prose is mostly this: a run of ASCII within a line, at one
            // table read and one add a byte.
            const std::size_t stop = std::min(s.size(), i + kPackedRun);
#if defined(__SSE2__)
            i = tallyBlocks(reinterpret_cast<const unsigned char*>(s.data()), i, stop, visible, latin, codeMarks);
#endif
            std::uint64_t packed = 0;
            for (; i < stop; ++i) {
                const std::uint64_t v = kAsciiTally.add[static_cast<unsigned char>(s[i])];
                if ((v & kStop) != 0) {
                    break;
                }
                packed += v;
            }
            visible += packed & kFieldMask;
            latin += (packed >> kLatinShift) & kFieldMask;
            codeMarks += (packed >> kCodeShift) & kFieldMask;
            continue;
        }
        if (b < 0x80) {
            ++i;
            if (b == '\n') {
                lineStart = true;
                indent = 0;
                continue;
            }
            if (b == ' ' || b == '\t') {
                if (++indent == 4) {
                    ++codeMarks;  // indented lines: code, mostly
                }
                continue;
            }
            // The line's first visible byte: counted by the run from here.
            lineStart = false;
            --i;
            continue;
        }
        const auto [cp, len] = decodeLenient(s, i);
        i += len;
        lineStart = false;
        if (cp == 0x3000 || cp == 0xA0) {
            continue;  // ideographic and no-break spaces
        }
        ++visible;
        if (isCjk(cp)) {
            ++m_cjk;
        } else if (cp < 0x250 || (cp >= 0x1E00 && cp <= 0x1EFF)) {
            ++latin;
        } else if (cp < 0x2000 || (cp >= 0xA000 && cp < 0xD800)) {
            ++m_other;  // letters of other scripts
        }
        // General punctuation, symbols and emoji count as visible only.
    }
    m_visible += visible;
    m_latin += latin;
    m_codeMarks += codeMarks;
}

LanguageClass LanguageTally::result() const noexcept
{
    if (m_visible == 0) {
        return LanguageClass::Latin;
    }
    if (m_cjk * 5 >= m_visible) {
        return LanguageClass::Cjk;  // a fifth CJK: the CJK characters dominate the token count
    }
    if (m_other * 3 >= m_visible) {
        return LanguageClass::Other;
    }
    if (m_codeMarks * 12 >= m_visible) {
        return LanguageClass::Code;  // prose has a bracket or '=' every few sentences, code every few tokens
    }
    return LanguageClass::Latin;
}

LanguageClass classifyLanguage(std::string_view utf8) noexcept
{
    LanguageTally t;
    t.add(utf8);
    return t.result();
}

}  // namespace sluice::tokenize
