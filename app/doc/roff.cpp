#include "doc/roff.h"

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace sluice::doc {

namespace {

// Characters the docs use that have portable roff names, so the pages render
// the same on terminals that are not UTF-8.
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kSpecial{{
    {"\u2014", "\\(em"},
    {"\u2013", "\\(en"},
    {"\u2192", "\\(->"},
    {"\u00d7", "\\(mu"},
    {"\u2026", "..."},
    {"\u2264", "\\(<="},
    {"\u2265", "\\(>="},
    {"\u2019", "'"},
    {"\u00b5", "\\(mc"},
}};

std::string upper(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

}  // namespace

namespace {

std::string escape(std::string_view text, bool keepIndent)
{
    std::string out;
    out.reserve(text.size() + 8);
    bool lineStart = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (lineStart && !keepIndent && (c == ' ' || c == '\t')) {
            continue;  // a leading blank would force a break in filled text
        }
        if (lineStart && (c == '.' || c == '\'')) {
            out += "\\&";
        }
        lineStart = c == '\n';
        if (c == '\\') {
            out += "\\e";
            continue;
        }
        bool replaced = false;
        for (const auto& [from, to] : kSpecial) {
            if (text.substr(i, from.size()) == from) {
                out += to;
                i += from.size() - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string roffText(std::string_view text)
{
    return escape(text, false);
}

std::string bold(std::string_view text)
{
    return "\\fB" + roffText(text) + "\\fR";
}

std::string italic(std::string_view text)
{
    return "\\fI" + roffText(text) + "\\fR";
}

std::string pageRef(std::string_view name, int section)
{
    // \% stops groff from breaking the name at its hyphens.
    return "\\fB\\%" + roffText(name) + "\\fR(" + std::to_string(section) + ")";
}

std::string optionName(std::string_view name)
{
    std::string out = "\\fB";
    for (const char c : name) {
        if (c == '-') {
            out += "\\-";
        } else {
            out += roffText(std::string_view(&c, 1));
        }
    }
    return out + "\\fR";
}

ManPage::ManPage(std::string_view title, int section, std::string_view source, std::string_view manual)
{
    // The date is left empty: the pages are generated at build time and a
    // build date would make the packages unreproducible.
    line(".TH \"" + upper(title) + "\" \"" + std::to_string(section) + "\" \"\" \"" + roffText(source) + "\" \"" +
         roffText(manual) + "\"");
    m_title = std::string(title);
    // Ragged right and no hyphenation: option names, file names and JSON
    // fields must read as written.
    line(".ad l");
    line(".nh");
}

void ManPage::nameSection(std::string_view summary)
{
    section("NAME");
    line(roffText(m_title) + " \\- " + roffText(summary));
}

void ManPage::section(std::string_view heading)
{
    line(".SH \"" + roffText(upper(heading)) + "\"");
}

void ManPage::subsection(std::string_view heading)
{
    line(".SS \"" + roffText(heading) + "\"");
}

void ManPage::paragraph(std::string_view roff)
{
    line(".PP");
    line(roff);
}

void ManPage::tagged(std::string_view tag, std::string_view body)
{
    line(".TP");
    line(tag);
    line(body);
}

void ManPage::bullet(std::string_view roff)
{
    line(".IP \\(bu 2");
    line(roff);
}

void ManPage::example(std::string_view verbatim)
{
    line(".PP");
    line(".RS 4");
    line(".nf");
    line(escape(verbatim, true));
    line(".fi");
    line(".RE");
}

void ManPage::lineBreak()
{
    line(".br");
}

void ManPage::line(std::string_view roff)
{
    m_text += roff;
    if (m_text.empty() || m_text.back() != '\n') {
        m_text += '\n';
    }
}

void ManPage::writeTo(const std::string& path) const
{
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << m_text;
        out.close();
        if (!out) {
            std::remove(tmp.c_str());
            throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp.c_str());
        throw std::runtime_error(path + ": cannot write: " + why);
    }
}

}  // namespace sluice::doc
