#include "tokenize/split_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits>
#include <new>

namespace sluice::tokenize {

namespace {

struct CodeFree {
    void operator()(pcre2_code* c) const noexcept { pcre2_code_free(c); }
};
struct MatchDataFree {
    void operator()(pcre2_match_data* m) const noexcept { pcre2_match_data_free(m); }
};

// ECMAScript's \s: WhiteSpace (TAB, VT, FF, ZWNBSP, any Zs) and
// LineTerminator (LF, CR, LS, PS). PCRE2's \s under UCP differs (it leaves
// out U+FEFF and takes in U+0085), so the JavaScript meaning is spelt out.
constexpr std::string_view kJsSpaceSet = "\\t\\n\\x{0B}\\f\\r\\x{FEFF}\\x{2028}\\x{2029}\\p{Zs}";

std::string pcreMessage(int code)
{
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(code, buf, sizeof buf) < 0) {
        return "PCRE2 error " + std::to_string(code);
    }
    return std::string(reinterpret_cast<const char*>(buf));
}

}  // namespace

struct SplitPattern::Code {
    std::unique_ptr<pcre2_code, CodeFree> code;
    bool jit = false;
};

std::string SplitPattern::translate(std::string_view js)
{
    std::string out;
    out.reserve(js.size() + 64);
    bool inClass = false;
    for (std::size_t i = 0; i < js.size(); ++i) {
        const char c = js[i];
        if (c == '\\' && i + 1 < js.size()) {
            const char e = js[++i];
            if (e == 's') {
                if (inClass) {
                    out += kJsSpaceSet;
                } else {
                    out += '[';
                    out += kJsSpaceSet;
                    out += ']';
                }
            } else if (e == 'S') {
                if (inClass) {
                    throw TokenizerError("pattern offset " + std::to_string(i - 1) +
                                         ": \\S inside a character class is not supported");
                }
                out += "[^";
                out += kJsSpaceSet;
                out += ']';
            } else {
                out += c;
                out += e;
            }
            continue;
        }
        if (c == '[' && !inClass) {
            inClass = true;
        } else if (c == ']' && inClass) {
            inClass = false;
        }
        out += c;
    }
    return out;
}

SplitPattern::SplitPattern(std::string_view jsPattern, Matcher matcher)
    : m_known(matcher == Matcher::Fastest ? knownPattern(jsPattern) : KnownPattern::None),
      m_pcrePattern(translate(jsPattern)),
      m_code(std::make_unique<Code>())
{
    int err = 0;
    PCRE2_SIZE errOffset = 0;
    m_code->code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(m_pcrePattern.data()), m_pcrePattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &errOffset, nullptr));
    if (!m_code->code) {
        throw TokenizerError("pattern offset " + std::to_string(errOffset) + ": " + pcreMessage(err));
    }
    // Without JIT (a platform PCRE2 does not support) pcre2_match interprets:
    // slower, same results.
    m_code->jit = pcre2_jit_compile(m_code->code.get(), PCRE2_JIT_COMPLETE) == 0;
}

SplitPattern::~SplitPattern() = default;

void SplitPattern::split(std::string_view text, std::vector<Piece>& out) const
{
    if (text.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw TokenizerError("text: longer than 4 GiB");
    }
    // One match block per thread, made on its first split.
    thread_local const std::unique_ptr<pcre2_match_data, MatchDataFree> md(pcre2_match_data_create(1, nullptr));
    if (!md) {
        throw std::bad_alloc();
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    PCRE2_SIZE offset = 0;
    // PCRE2 validates the UTF-8 on the first call only: checking again at
    // every offset would make the split quadratic.
    std::uint32_t options = 0;
    while (offset < text.size()) {
        if (m_known != KnownPattern::None) {
            // As far as ASCII decides; then one match by the regex.
            offset = asciiSplit(m_known, text, offset, out);
            if (offset >= text.size()) {
                break;
            }
        }
        // After the first match (which checked the UTF-8) the JIT code is
        // called directly: pcre2_match's own checks on every piece cost as
        // much as matching a short word.
        const int rc = options != 0 && m_code->jit
                           ? pcre2_jit_match(m_code->code.get(), subject, text.size(), offset, options, md.get(), nullptr)
                           : pcre2_match(m_code->code.get(), subject, text.size(), offset, options, md.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) {
            break;
        }
        // rc == 0 means only that the ovector holds fewer pairs than the
        // pattern has groups; the whole match (pair 0) is there.
        if (rc < 0) {
            throw TokenizerError("text offset " + std::to_string(offset) + ": " + pcreMessage(rc));
        }
        options = PCRE2_NO_UTF_CHECK;
        const PCRE2_SIZE start = ov[0];
        const PCRE2_SIZE end = ov[1];
        if (end == start) {
            // No tokenizer pattern matches the empty string; should one, step
            // over one code point as JavaScript's matchAll does.
            offset = end + 1;
            while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) {
                ++offset;
            }
            continue;
        }
        out.push_back(Piece{static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(end - start)});
        offset = end;
    }
}

namespace {

// One step of the WHATWG UTF-8 decoder: the length of the well-formed
// sequence at text[i], or 0 when the maximal ill-formed subpart there is
// *bad bytes long.
std::size_t sequenceAt(std::string_view text, std::size_t i, std::size_t* bad) noexcept
{
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
        return 1;
    }
    std::size_t needed = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        lower = b == 0xE0 ? 0xA0 : 0x80;
        upper = b == 0xED ? 0x9F : 0xBF;
        needed = 2;
    } else if (b >= 0xF0 && b <= 0xF4) {
        lower = b == 0xF0 ? 0x90 : 0x80;
        upper = b == 0xF4 ? 0x8F : 0xBF;
        needed = 3;
    } else {
        *bad = 1;
        return 0;
    }
    std::size_t j = i + 1;
    for (std::size_t seen = 0; seen < needed; ++seen, ++j) {
        if (j >= text.size()) {
            *bad = j - i;
            return 0;
        }
        const auto c = static_cast<unsigned char>(text[j]);
        if (c < lower || c > upper) {
            *bad = j - i;
            return 0;
        }
        lower = 0x80;
        upper = 0xBF;
    }
    return j - i;
}

}  // namespace

bool isValidUtf8(std::string_view text) noexcept
{
    std::size_t i = 0;
    while (i < text.size()) {
        // ASCII runs are the common case: skip them eight at a time.
        while (i + 8 <= text.size()) {
            std::uint64_t w;
            __builtin_memcpy(&w, text.data() + i, 8);
            if ((w & 0x8080808080808080ULL) != 0) {
                break;
            }
            i += 8;
        }
        if (i >= text.size()) {
            break;
        }
        std::size_t bad = 0;
        const std::size_t len = sequenceAt(text, i, &bad);
        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

std::string sanitizeUtf8(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 8);
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t bad = 0;
        const std::size_t len = sequenceAt(text, i, &bad);
        if (len > 0) {
            out.append(text.substr(i, len));
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            i += bad;
        }
    }
    return out;
}

}  // namespace sluice::tokenize
