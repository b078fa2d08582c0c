#include "core/json_scan.h"

#include <cstddef>

namespace sluice {

namespace {

constexpr int kMaxDepth = 512;
constexpr std::size_t kFail = std::string_view::npos;

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

class Scanner {
public:
    explicit Scanner(std::string_view t) : m_t(t) {}

    std::size_t space(std::size_t i) const
    {
        while (i < m_t.size() && (m_t[i] == ' ' || m_t[i] == '\n' || m_t[i] == '\r' || m_t[i] == '\t')) {
            ++i;
        }
        return i;
    }

    // Returns the index just past the string that starts at i (a quote).
    std::size_t string(std::size_t i) const
    {
        ++i;
        const char* data = m_t.data();
        const std::size_t n = m_t.size();
        while (i < n) {
            while (i < n && kPlain.plain[static_cast<unsigned char>(data[i])]) {
                ++i;
            }
            if (i >= n) {
                return kFail;
            }
            const auto c = static_cast<unsigned char>(data[i]);
            if (c == '"') {
                return i + 1;
            }
            if (c < 0x20) {
                return kFail;
            }
            if (c == '\\') {
                if (i + 1 >= m_t.size()) {
                    return kFail;
                }
                const char e = m_t[i + 1];
                if (e == 'u') {
                    for (std::size_t k = 2; k < 6; ++k) {
                        if (i + k >= m_t.size() || !isHex(m_t[i + k])) {
                            return kFail;
                        }
                    }
                    i += 6;
                    continue;
                }
                if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                    return kFail;
                }
                i += 2;
                continue;
            }
            ++i;
        }
        return kFail;
    }

    std::size_t number(std::size_t i) const
    {
        if (i < m_t.size() && m_t[i] == '-') {
            ++i;
        }
        if (i >= m_t.size() || !isDigit(m_t[i])) {
            return kFail;
        }
        if (m_t[i] == '0') {
            ++i;
        } else {
            while (i < m_t.size() && isDigit(m_t[i])) {
                ++i;
            }
        }
        if (i < m_t.size() && m_t[i] == '.') {
            ++i;
            if (i >= m_t.size() || !isDigit(m_t[i])) {
                return kFail;
            }
            while (i < m_t.size() && isDigit(m_t[i])) {
                ++i;
            }
        }
        if (i < m_t.size() && (m_t[i] == 'e' || m_t[i] == 'E')) {
            ++i;
            if (i < m_t.size() && (m_t[i] == '+' || m_t[i] == '-')) {
                ++i;
            }
            if (i >= m_t.size() || !isDigit(m_t[i])) {
                return kFail;
            }
            while (i < m_t.size() && isDigit(m_t[i])) {
                ++i;
            }
        }
        return i;
    }

    std::size_t literal(std::size_t i, std::string_view word) const
    {
        return m_t.substr(i, word.size()) == word ? i + word.size() : kFail;
    }

    // Returns the index just past the value that starts at i (no leading
    // space). Top-level object members go to onMember when depth is 0.
    std::size_t value(std::size_t i, int depth,
                      const std::function<void(std::string_view, std::string_view)>* onMember) const
    {
        if (i >= m_t.size() || depth > kMaxDepth) {
            return kFail;
        }
        switch (m_t[i]) {
        case '"': return string(i);
        case '{': return object(i, depth, onMember);
        case '[': return array(i, depth);
        case 't': return literal(i, "true");
        case 'f': return literal(i, "false");
        case 'n': return literal(i, "null");
        default: return number(i);
        }
    }

    std::size_t object(std::size_t i, int depth,
                       const std::function<void(std::string_view, std::string_view)>* onMember) const
    {
        i = space(i + 1);
        if (i < m_t.size() && m_t[i] == '}') {
            return i + 1;
        }
        while (i < m_t.size()) {
            if (m_t[i] != '"') {
                return kFail;
            }
            const std::size_t keyEnd = string(i);
            if (keyEnd == kFail) {
                return kFail;
            }
            const std::string_view key = m_t.substr(i + 1, keyEnd - i - 2);
            i = space(keyEnd);
            if (i >= m_t.size() || m_t[i] != ':') {
                return kFail;
            }
            i = space(i + 1);
            const std::size_t valueEnd = value(i, depth + 1, nullptr);
            if (valueEnd == kFail) {
                return kFail;
            }
            if (onMember != nullptr && *onMember) {
                (*onMember)(key, m_t.substr(i, valueEnd - i));
            }
            i = space(valueEnd);
            if (i < m_t.size() && m_t[i] == ',') {
                i = space(i + 1);
                continue;
            }
            if (i < m_t.size() && m_t[i] == '}') {
                return i + 1;
            }
            return kFail;
        }
        return kFail;
    }

    std::size_t array(std::size_t i, int depth) const
    {
        i = space(i + 1);
        if (i < m_t.size() && m_t[i] == ']') {
            return i + 1;
        }
        while (i < m_t.size()) {
            const std::size_t end = value(i, depth + 1, nullptr);
            if (end == kFail) {
                return kFail;
            }
            i = space(end);
            if (i < m_t.size() && m_t[i] == ',') {
                i = space(i + 1);
                continue;
            }
            if (i < m_t.size() && m_t[i] == ']') {
                return i + 1;
            }
            return kFail;
        }
        return kFail;
    }

private:
    static bool isDigit(char c) { return c >= '0' && c <= '9'; }
    static bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

    std::string_view m_t;
};

}  // namespace

bool scanJson(std::string_view text, const std::function<void(std::string_view, std::string_view)>& onMember)
{
    const Scanner s(text);
    const std::size_t start = s.space(0);
    const std::size_t end = s.value(start, 0, &onMember);
    return end != kFail && s.space(end) == text.size();
}

}  // namespace sluice
