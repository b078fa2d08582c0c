// Manual pages in roff (the man macros): escaping, inline fonts and the few
// block macros the generated pages use. Shared by sluice-cli --help-man, the
// desktop's --help-man and the Markdown converter for the section 5 pages.
// Thread-safety: a ManPage is a plain value with no shared state.
#pragma once

#include <string>
#include <string_view>

namespace sluice::doc {

// `text` as roff input text: backslashes escaped, hyphens kept literal, and
// no line starting with a control character.
std::string roffText(std::string_view text);
// Escaped `text` in bold / italic, back to roman after it.
std::string bold(std::string_view text);
std::string italic(std::string_view text);
// A reference to another page, "name(section)", kept on one line.
std::string pageRef(std::string_view name, int section);
// An option name ("--config", "-h") in bold, its hyphens as minus signs so
// the page can be searched and copied from.
std::string optionName(std::string_view name);

class ManPage {
public:
    // `title` as in "sluice-cli-batch", `section` 1 or 5; `source` names the
    // program and version ("Sluice 0.1.0").
    ManPage(std::string_view title, int section, std::string_view source, std::string_view manual);

    // The NAME section: "title \- summary".
    void nameSection(std::string_view summary);
    void section(std::string_view heading);
    void subsection(std::string_view heading);
    // A filled paragraph of already-formatted roff text (see roffText).
    void paragraph(std::string_view roff);
    // A hanging-tag entry (.TP): `tag` and `body` already-formatted roff.
    void tagged(std::string_view tag, std::string_view body);
    void bullet(std::string_view roff);
    // Lines shown verbatim in a monospaced, indented block.
    void example(std::string_view verbatim);
    // A line break inside a paragraph or tagged body.
    void lineBreak();

    const std::string& text() const { return m_text; }
    // Writes the page to `path` (through a temporary file renamed into
    // place, so a failure leaves no half page). Throws std::runtime_error
    // naming the file.
    void writeTo(const std::string& path) const;

private:
    void line(std::string_view roff);
    std::string m_title;
    std::string m_text;
};

}  // namespace sluice::doc
