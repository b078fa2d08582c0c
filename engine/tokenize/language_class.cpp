#include "tokenize/language_class.h"

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

}  // namespace

void LanguageTally::add(std::string_view s) noexcept
{
    std::size_t i = 0;
    bool lineStart = true;
    std::size_t indent = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            if (b == '\n') {
                lineStart = true;
                indent = 0;
                continue;
            }
            if (b == ' ' || b == '\t') {
                if (lineStart && ++indent == 4) {
                    ++m_codeMarks;  // indented lines: code, mostly
                }
                continue;
            }
            lineStart = false;
            ++m_visible;
            if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')) {
                ++m_latin;
            } else {
                switch (b) {
                case '{': case '}': case '[': case ']': case '(': case ')': case ';': case '=':
                case '<': case '>': case '_': case '|': case '\\': case '"':
                    ++m_codeMarks;
                    break;
                default:
                    break;
                }
            }
            continue;
        }
        // Decode one multi-byte sequence leniently (classification only).
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
        i += len;
        lineStart = false;
        if (cp == 0x3000 || cp == 0xA0) {
            continue;  // ideographic and no-break spaces
        }
        ++m_visible;
        if (isCjk(cp)) {
            ++m_cjk;
        } else if (cp < 0x250 || (cp >= 0x1E00 && cp <= 0x1EFF)) {
            ++m_latin;
        } else if (cp < 0x2000 || (cp >= 0xA000 && cp < 0xD800)) {
            ++m_other;  // letters of other scripts
        }
        // General punctuation, symbols and emoji count as visible only.
    }
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
