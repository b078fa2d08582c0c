#include "core/json_scan.h"

#include <nlohmann/json.hpp>

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice {

namespace {

constexpr int kMaxDepth = 512;

// Characters a string may hold as they are: everything but the quote, the
// backslash and control characters. Looked up, so the common run of plain
// text costs one load and one branch per byte.
struct PlainTable {
    bool plain[256];
    constexpr PlainTable() : plain()
    {
        for (int c = 0; c < 256; ++c) {
            plain[c] = c >= 0x20 && c != '"' && c != '\\';
        }
    }
};
constexpr PlainTable kPlain;

struct SpaceTable {
    bool set[256];
    constexpr SpaceTable() : set()
    {
        set[static_cast<unsigned char>(' ')] = set[static_cast<unsigned char>('\n')] = true;
        set[static_cast<unsigned char>('\r')] = set[static_cast<unsigned char>('\t')] = true;
    }
};
constexpr SpaceTable kSpace;

// Eight bytes at a time: a mask with the high bit set in each byte that is a
// quote, a backslash or a control character (the classic "has zero byte" bit
// tricks). The lowest flagged byte is always a real one, so its position is
// where plain text ends; runs of plain text are skipped a word at a time.
std::uint64_t specials(const char* p)
{
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHighs = 0x8080808080808080ull;
    std::uint64_t x;
    std::memcpy(&x, p, sizeof x);
    const auto hasZero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
    const std::uint64_t quote = hasZero(x ^ (kOnes * '"'));
    const std::uint64_t backslash = hasZero(x ^ (kOnes * '\\'));
    const std::uint64_t control = (x - kOnes * 0x20) & ~x & kHighs;  // some byte < 0x20
    return quote | backslash | control;
}

#if defined(__SSE2__)
// The same test on sixteen bytes, one bit per byte, where SSE2 is there (on
// every x86-64).
unsigned specials16(const char* p)
{
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    const __m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);  // x <= 0x1f, unsigned
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)));
}
#endif

// Works on pointers into the text and returns the position just past what it
// read, nullptr on an error: the body of every response goes through here, so
// each byte should cost a load, a table lookup and a branch, no more.
class Scanner {
public:
    using OnMember = std::function<void(std::string_view, std::string_view)>;
    using OnElement = std::function<void(std::string_view)>;

    explicit Scanner(std::string_view t, std::string_view nestedKey = {}, const OnMember* onNested = nullptr)
        : m_end(t.data() + t.size()), m_nestedKey(nestedKey), m_onNested(onNested)
    {
    }

    const char* space(const char* p) const
    {
        while (p != m_end && kSpace.set[static_cast<unsigned char>(*p)]) {
            ++p;
        }
        return p;
    }

    // p is at the opening quote.
    const char* string(const char* p) const
    {
        ++p;
        while (true) {
            p = plainRun(p);
            if (p == m_end) {
                return nullptr;
            }
            if (*p == '"') {
                return p + 1;
            }
            if (*p != '\\' || m_end - p < 2) {
                return nullptr;  // a control character, or a text ending in a backslash
            }
            const char e = p[1];
            if (e == 'u') {
                if (m_end - p < 6 || !isHex(p[2]) || !isHex(p[3]) || !isHex(p[4]) || !isHex(p[5])) {
                    return nullptr;
                }
                p += 6;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                return nullptr;
            }
            p += 2;
        }
    }

    // The end of the run of plain string characters starting at p.
    const char* plainRun(const char* p) const
    {
#if defined(__SSE2__)
        while (m_end - p >= 16) {
            if (const unsigned m = specials16(p); m != 0) {
                return p + std::countr_zero(m);
            }
            p += 16;
        }
#endif
        while (m_end - p >= 8) {
            if (const std::uint64_t m = specials(p); m != 0) {
                if constexpr (std::endian::native == std::endian::little) {
                    return p + (std::countr_zero(m) >> 3);
                }
                break;  // elsewhere the exact byte is found one at a time
            }
            p += 8;
        }
        while (p != m_end && kPlain.plain[static_cast<unsigned char>(*p)]) {
            ++p;
        }
        return p;
    }

    const char* digits(const char* p) const
    {
        while (p != m_end && isDigit(*p)) {
            ++p;
        }
        return p;
    }

    const char* number(const char* p) const
    {
        if (p != m_end && *p == '-') {
            ++p;
        }
        if (p == m_end || !isDigit(*p)) {
            return nullptr;
        }
        p = *p == '0' ? p + 1 : digits(p);
        if (p != m_end && *p == '.') {
            ++p;
            if (p == m_end || !isDigit(*p)) {
                return nullptr;
            }
            p = digits(p);
        }
        if (p != m_end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p != m_end && (*p == '+' || *p == '-')) {
                ++p;
            }
            if (p == m_end || !isDigit(*p)) {
                return nullptr;
            }
            p = digits(p);
        }
        return p;
    }

    const char* literal(const char* p, std::string_view word) const
    {
        if (static_cast<std::size_t>(m_end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0) {
            return nullptr;
        }
        return p + word.size();
    }

    // p is at the value's first character (no leading space). Members of the
    // object at depth 0 go to onMember.
    const char* value(const char* p, int depth, const OnMember* onMember) const
    {
        if (p == m_end || depth > kMaxDepth) {
            return nullptr;
        }
        switch (*p) {
        case '"': return string(p);
        case '{': return object(p, depth, onMember);
        case '[': return array(p, depth);
        case 't': return literal(p, "true");
        case 'f': return literal(p, "false");
        case 'n': return literal(p, "null");
        default: return number(p);
        }
    }

    const char* object(const char* p, int depth, const OnMember* onMember) const
    {
        p = space(p + 1);
        if (p != m_end && *p == '}') {
            return p + 1;
        }
        while (p != m_end) {
            if (*p != '"') {
                return nullptr;
            }
            const char* keyEnd = string(p);
            if (keyEnd == nullptr) {
                return nullptr;
            }
            const char* keyBegin = p + 1;
            p = space(keyEnd);
            if (p == m_end || *p != ':') {
                return nullptr;
            }
            p = space(p + 1);
            const std::string_view key(keyBegin, static_cast<std::size_t>(keyEnd - 1 - keyBegin));
            const bool nested = depth == 0 && m_onNested != nullptr && p != m_end && *p == '{' && key == m_nestedKey;
            const char* valueEnd = nested ? object(p, depth + 1, m_onNested) : value(p, depth + 1, nullptr);
            if (valueEnd == nullptr) {
                return nullptr;
            }
            if (onMember != nullptr) {
                (*onMember)(key, std::string_view(p, static_cast<std::size_t>(valueEnd - p)));
            }
            p = space(valueEnd);
            if (p == m_end) {
                return nullptr;
            }
            if (*p == ',') {
                p = space(p + 1);
                continue;
            }
            return *p == '}' ? p + 1 : nullptr;
        }
        return nullptr;
    }

    const char* array(const char* p, int depth, const OnElement* onElement = nullptr) const
    {
        p = space(p + 1);
        if (p != m_end && *p == ']') {
            return p + 1;
        }
        while (p != m_end) {
            const char* element = p;
            p = value(p, depth + 1, nullptr);
            if (p == nullptr) {
                return nullptr;
            }
            if (onElement != nullptr) {
                (*onElement)(std::string_view(element, static_cast<std::size_t>(p - element)));
            }
            p = space(p);
            if (p == m_end) {
                return nullptr;
            }
            if (*p == ',') {
                p = space(p + 1);
                continue;
            }
            return *p == ']' ? p + 1 : nullptr;
        }
        return nullptr;
    }

private:
    static bool isDigit(char c) { return c >= '0' && c <= '9'; }
    static bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

    const char* m_end;
    std::string_view m_nestedKey;
    const OnMember* m_onNested;
};

unsigned hexValue(char c)
{
    return c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

// Four hex digits at p (p + 4 <= end), or a value above 0xFFFF when they
// are not.
unsigned hex4(const char* p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
        const char c = p[i];
        const bool hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        if (!hex) {
            return 0x10000;
        }
        v = v << 4 | hexValue(c);
    }
    return v;
}

void appendUtf8(std::string& out, unsigned cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// The length of the well-formed UTF-8 sequence starting at p (Unicode's
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), 0
// when it is not one.
std::size_t utf8Sequence(const unsigned char* p, const unsigned char* end)
{
    const unsigned char b = p[0];
    const auto in = [&](std::size_t i, unsigned char lo, unsigned char hi) {
        return p + i < end && p[i] >= lo && p[i] <= hi;
    };
    if (b >= 0xC2 && b <= 0xDF) {
        return in(1, 0x80, 0xBF) ? 2 : 0;
    }
    if (b == 0xE0) {
        return in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    }
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b == 0xED) {
        return in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b == 0xF0) {
        return in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (b >= 0xF1 && b <= 0xF3) {
        return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (b == 0xF4) {
        return in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

// nlohmann's parser skips a UTF-8 byte order mark before the value; so do
// the scanner's entry points, so that both take the same texts.
std::string_view withoutBom(std::string_view text)
{
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
    return text;
}

// Builds nlohmann documents on the scanner's lexing. A member function
// returns where it stopped reading, nullptr where nlohmann would refuse the
// text, or where `handOver` is set: nested deeper than the scanner reads,
// or a number that does not fit 64 bits or a double as from_chars reads it
// (nlohmann then decides, with its own rules for those).
class DocumentReader {
public:
    explicit DocumentReader(std::string_view text) : m_scan(text), m_end(text.data() + text.size()) {}

    const char* space(const char* p) const { return m_scan.space(p); }

    const char* value(const char* p, int depth, nlohmann::json& out)
    {
        if (p == m_end) {
            return nullptr;
        }
        if (depth > kMaxDepth) {
            handOver = true;
            return nullptr;
        }
        switch (*p) {
        case '"': return string(p, out);
        case '{': return object(p, depth, out);
        case '[': return array(p, depth, out);
        case 't': out = true; return m_scan.literal(p, "true");
        case 'f': out = false; return m_scan.literal(p, "false");
        case 'n': out = nullptr; return m_scan.literal(p, "null");
        default: return number(p, out);
        }
    }

    bool handOver = false;

private:
    // The decoded text of the string literal at p, and where it ends.
    const char* decoded(const char* p, std::optional<std::string>& text) const
    {
        const char* end = m_scan.string(p);
        if (end == nullptr) {
            return nullptr;
        }
        text = jsonStringValue(std::string_view(p, static_cast<std::size_t>(end - p)));
        return text ? end : nullptr;
    }

    const char* string(const char* p, nlohmann::json& out) const
    {
        std::optional<std::string> text;
        p = decoded(p, text);
        if (p != nullptr) {
            out = std::move(*text);
        }
        return p;
    }

    const char* object(const char* p, int depth, nlohmann::json& out)
    {
        out = nlohmann::json::object();
        auto& members = out.get_ref<nlohmann::json::object_t&>();
        p = m_scan.space(p + 1);
        if (p != m_end && *p == '}') {
            return p + 1;
        }
        while (p != m_end && *p == '"') {
            std::optional<std::string> key;
            p = decoded(p, key);
            if (p == nullptr) {
                return nullptr;
            }
            p = m_scan.space(p);
            if (p == m_end || *p != ':') {
                return nullptr;
            }
            // A repeated key takes the later value, as nlohmann's parser does.
            bool closed = false;
            p = afterItem(value(m_scan.space(p + 1), depth + 1, members[std::move(*key)]), '}', closed);
            if (closed || p == nullptr) {
                return p;
            }
        }
        return nullptr;
    }

    const char* array(const char* p, int depth, nlohmann::json& out)
    {
        out = nlohmann::json::array();
        auto& elements = out.get_ref<nlohmann::json::array_t&>();
        p = m_scan.space(p + 1);
        if (p != m_end && *p == ']') {
            return p + 1;
        }
        while (p != m_end) {
            bool closed = false;
            p = afterItem(value(p, depth + 1, elements.emplace_back()), ']', closed);
            if (closed || p == nullptr) {
                return p;
            }
        }
        return nullptr;
    }

    // What follows a member or an element read up to p (nullptr: it was not
    // read): past `close` with `closed` set, or at the next item after the
    // comma; nullptr for anything else.
    const char* afterItem(const char* p, char close, bool& closed) const
    {
        p = p == nullptr ? nullptr : m_scan.space(p);
        if (p == nullptr || p == m_end) {
            return nullptr;
        }
        if (*p == close) {
            closed = true;
            return p + 1;
        }
        return *p == ',' ? m_scan.space(p + 1) : nullptr;
    }

    // As nlohmann reads numbers: without a fraction or an exponent an integer
    // (signed when negative, unsigned otherwise), else a double.
    const char* number(const char* p, nlohmann::json& out)
    {
        const char* end = m_scan.number(p);
        if (end == nullptr) {
            return nullptr;
        }
        const std::string_view text(p, static_cast<std::size_t>(end - p));
        const auto whole = [end](std::from_chars_result r) { return r.ec == std::errc() && r.ptr == end; };
        if (text.find_first_of(".eE") != std::string_view::npos) {
            double d = 0;
            if (whole(std::from_chars(p, end, d))) {
                out = d;
                return end;
            }
        } else if (text.front() == '-') {
            std::int64_t i = 0;
            if (whole(std::from_chars(p, end, i))) {
                out = i;
                return end;
            }
        } else {
            std::uint64_t u = 0;
            if (whole(std::from_chars(p, end, u))) {
                out = u;
                return end;
            }
        }
        handOver = true;
        return nullptr;
    }

    Scanner m_scan;
    const char* m_end;
};

}  // namespace

bool scanJsonArray(std::string_view text, const std::function<void(std::string_view)>& onElement)
{
    text = withoutBom(text);
    const Scanner s(text);
    const char* p = s.space(text.data());
    if (p == text.data() + text.size() || *p != '[') {
        return false;
    }
    const char* end = s.array(p, 0, onElement ? &onElement : nullptr);
    return end != nullptr && s.space(end) == text.data() + text.size();
}

namespace {

// Printable ASCII but the quote and the backslash: copied as is (a prompt's
// text is almost all of it), sixteen bytes a test where SSE2 is there.
struct PlainAscii {
    bool of[256] = {};
    constexpr PlainAscii()
    {
        for (int c = 0x20; c < 0x80; ++c) {
            of[c] = c != '"' && c != '\\';
        }
    }
};
constexpr PlainAscii kPlainAscii;

// The end of the run of printable ASCII (no quote, no backslash) from p:
// what a string's value copies as it is.
const unsigned char* asciiPlainRun(const unsigned char* p, const unsigned char* end)
{
#if defined(__SSE2__)
    while (end - p >= 16) {
        const char* c = reinterpret_cast<const char*>(p);
        // specials16 and the bytes >= 0x80 (their top bit).
        const unsigned m = specials16(c) | static_cast<unsigned>(_mm_movemask_epi8(
                                               _mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
        if (m != 0) {
            return p + std::countr_zero(m);
        }
        p += 16;
    }
#endif
    while (p != end && kPlainAscii.of[*p]) {
        ++p;
    }
    return p;
}

}  // namespace

std::optional<std::string> jsonStringValue(std::string_view raw)
{
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') {
        return std::nullopt;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data()) + 1;
    const auto* end = reinterpret_cast<const unsigned char*>(raw.data()) + raw.size() - 1;
    std::string out;
    out.reserve(raw.size() - 2);
    while (p != end) {
        const unsigned char c = *p;
        if (kPlainAscii.of[c]) {
            const auto* run = p;
            p = asciiPlainRun(p, end);
            out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
            continue;
        }
        if (c >= 0x80) {
            const std::size_t n = utf8Sequence(p, end);
            if (n == 0) {
                return std::nullopt;
            }
            out.append(reinterpret_cast<const char*>(p), n);
            p += n;
            continue;
        }
        if (c != '\\' || end - p < 2) {
            return std::nullopt;  // a raw control character or quote, or a text ending in a backslash
        }
        switch (p[1]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
            if (end - p < 6) {
                return std::nullopt;
            }
            unsigned cp = hex4(reinterpret_cast<const char*>(p) + 2);
            p += 6;
            if (cp > 0xFFFF || (cp >= 0xDC00 && cp <= 0xDFFF)) {
                return std::nullopt;  // not hex, or a low surrogate first
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                // A high surrogate must be followed by an escaped low one.
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
                    return std::nullopt;
                }
                const unsigned low = hex4(reinterpret_cast<const char*>(p) + 2);
                if (low < 0xDC00 || low > 0xDFFF) {
                    return std::nullopt;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            appendUtf8(out, cp);
            continue;
        }
        default: return std::nullopt;
        }
        p += 2;
    }
    return out;
}

bool scanJson(std::string_view text, const std::function<void(std::string_view, std::string_view)>& onMember)
{
    text = withoutBom(text);
    const Scanner s(text);
    const char* end = s.value(s.space(text.data()), 0, onMember ? &onMember : nullptr);
    return end != nullptr && s.space(end) == text.data() + text.size();
}

bool scanJson(std::string_view text, const std::function<void(std::string_view, std::string_view)>& onMember,
              std::string_view nestedKey, const std::function<void(std::string_view, std::string_view)>& onNestedMember)
{
    text = withoutBom(text);
    const Scanner s(text, nestedKey, onNestedMember ? &onNestedMember : nullptr);
    const char* end = s.value(s.space(text.data()), 0, onMember ? &onMember : nullptr);
    return end != nullptr && s.space(end) == text.data() + text.size();
}

bool readJsonDocument(std::string_view text, nlohmann::json& out)
{
    text = withoutBom(text);
    DocumentReader reader(text);
    nlohmann::json doc;
    const char* end = reader.value(reader.space(text.data()), 0, doc);
    if (end != nullptr && reader.space(end) == text.data() + text.size()) {
        out = std::move(doc);
        return true;
    }
    if (!reader.handOver) {
        return false;
    }
    nlohmann::json reference = nlohmann::json::parse(text, nullptr, false);
    if (reference.is_discarded()) {
        return false;
    }
    out = std::move(reference);
    return true;
}

}  // namespace sluice
