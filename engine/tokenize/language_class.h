// A coarse class of a prompt's text, for calibrating token estimates: how
// many characters make a token differs by script and between prose and
// source code far more than between models.
//
// Thread-safety: LanguageTally belongs to one caller; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::tokenize {

enum class LanguageClass : std::uint8_t {
    Latin,  // prose in Latin-script languages (and anything unclassified)
    Cjk,    // Chinese, Japanese, Korean
    Other,  // other scripts: Cyrillic, Greek, Arabic, Hebrew, Indic, Thai, ...
    Code,   // source code, markup, JSON
};
inline constexpr std::size_t kLanguageClassCount = 4;

std::string_view languageClassName(LanguageClass c) noexcept;
std::optional<LanguageClass> parseLanguageClass(std::string_view name) noexcept;

// Counts code points by kind over any number of texts, then names the class.
class LanguageTally {
public:
    void add(std::string_view utf8) noexcept;
    LanguageClass result() const noexcept;

private:
    std::size_t m_latin = 0;  // ASCII letters and digits, Latin-1 and Latin Extended letters
    std::size_t m_cjk = 0;
    std::size_t m_other = 0;  // other non-ASCII code points (letters of other scripts, mostly)
    std::size_t m_codeMarks = 0;  // { } [ ] ( ) ; = < > _ | \ and indentation runs
    std::size_t m_visible = 0;    // non-space code points
};

LanguageClass classifyLanguage(std::string_view utf8) noexcept;

}  // namespace sluice::tokenize
