// sluice-md2man: turns one of docs/*.md into a section 5 manual page at build
// time, so sluice-config(5) and sluice-workload(5) say what the documents say.
// Handles the Markdown the docs use: headings, paragraphs, fenced code,
// "- " lists, pipe tables, `code`, **bold**, *emphasis* and [links](url).
//
//   sluice-md2man INPUT.md OUTPUT NAME SECTION SUMMARY VERSION [HEADING...]
//
// With HEADINGs, only those "## " sections are kept (the introduction always).
#include "doc/roff.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using sluice::doc::ManPage;

std::string trim(const std::string& s)
{
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Replaces a delimited span (`x`, **x**, *x*) with roff fonts.
std::string replaceSpans(const std::string& text, const std::string& mark, const std::string& font)
{
    std::string out;
    std::size_t pos = 0;
    while (true) {
        const auto open = text.find(mark, pos);
        const auto close = open == std::string::npos ? open : text.find(mark, open + mark.size());
        if (close == std::string::npos) {
            out += text.substr(pos);
            return out;
        }
        out += text.substr(pos, open - pos) + "\\f" + font + text.substr(open + mark.size(), close - open - mark.size()) +
               "\\fR";
        pos = close + mark.size();
    }
}

std::string dropLinks(const std::string& text)
{
    std::string out;
    std::size_t pos = 0;
    while (true) {
        const auto open = text.find('[', pos);
        const auto mid = open == std::string::npos ? open : text.find("](", open);
        const auto close = mid == std::string::npos ? mid : text.find(')', mid);
        if (close == std::string::npos) {
            out += text.substr(pos);
            return out;
        }
        out += text.substr(pos, open - pos) + text.substr(open + 1, mid - open - 1);
        pos = close + 1;
    }
}

// Inline Markdown to roff. The text is escaped first: escaping leaves the
// Markdown marks alone, and the fonts added after must not be escaped.
std::string inlineRoff(const std::string& markdown)
{
    std::string text = sluice::doc::roffText(markdown);
    text = replaceSpans(text, "`", "B");
    text = replaceSpans(text, "**", "B");
    text = replaceSpans(text, "*", "I");
    return dropLinks(text);
}

std::vector<std::string> cells(const std::string& row)
{
    std::vector<std::string> out;
    std::string t = trim(row);
    if (!t.empty() && t.front() == '|') {
        t.erase(0, 1);
    }
    if (!t.empty() && t.back() == '|') {
        t.pop_back();
    }
    std::size_t start = 0;
    while (true) {
        const auto bar = t.find('|', start);
        out.push_back(trim(t.substr(start, bar == std::string::npos ? std::string::npos : bar - start)));
        if (bar == std::string::npos) {
            return out;
        }
        start = bar + 1;
    }
}

class Converter {
public:
    Converter(ManPage& page, std::set<std::string> keep) : m_page(page), m_keep(std::move(keep)) {}

    void feed(const std::vector<std::string>& lines)
    {
        for (const std::string& line : lines) {
            if (m_inCode) {
                if (line.rfind("```", 0) == 0) {
                    m_inCode = false;
                    if (m_including) {
                        m_page.example(m_code);
                    }
                    m_code.clear();
                } else {
                    m_code += (m_code.empty() ? "" : "\n") + line;
                }
                continue;
            }
            if (line.rfind("```", 0) == 0) {
                flush();
                m_inCode = true;
                continue;
            }
            if (line.rfind("# ", 0) == 0) {
                flush();
                continue;  // the document title: the page has its own NAME
            }
            if (line.rfind("## ", 0) == 0) {
                flush();
                const std::string heading = trim(line.substr(3));
                m_including = m_keep.empty() || m_keep.count(heading) > 0;
                if (m_including) {
                    m_page.section(heading);
                }
                continue;
            }
            if (line.rfind("### ", 0) == 0) {
                flush();
                if (m_including) {
                    m_page.subsection(trim(line.substr(4)));
                }
                continue;
            }
            const std::string t = trim(line);
            if (t.empty()) {
                flush();
            } else if (t.front() == '|') {
                if (m_kind != Kind::Table) {
                    flush();
                    m_kind = Kind::Table;
                }
                m_table.push_back(cells(t));
            } else if (t.rfind("- ", 0) == 0) {
                flush();
                m_kind = Kind::Item;
                m_text = t.substr(2);
            } else {
                if (m_kind == Kind::Table) {
                    flush();
                }
                if (m_kind == Kind::None) {
                    m_kind = Kind::Paragraph;
                }
                m_text += (m_text.empty() ? "" : " ") + t;
            }
        }
        flush();
    }

private:
    enum class Kind { None, Paragraph, Item, Table };

    void flush()
    {
        if (m_including) {
            if (m_kind == Kind::Paragraph) {
                m_page.paragraph(inlineRoff(m_text));
            } else if (m_kind == Kind::Item) {
                m_page.bullet(inlineRoff(m_text));
            } else if (m_kind == Kind::Table) {
                writeTable();
            }
        }
        m_kind = Kind::None;
        m_text.clear();
        m_table.clear();
    }

    // A header row, a |---| row, then one tagged entry per row: the first
    // cell is the tag; with more than two columns each cell is labelled with
    // its header.
    void writeTable()
    {
        if (m_table.size() < 3) {
            return;
        }
        const auto& header = m_table[0];
        for (std::size_t r = 2; r < m_table.size(); ++r) {
            const auto& row = m_table[r];
            std::string body;
            for (std::size_t c = 1; c < row.size(); ++c) {
                if (!body.empty()) {
                    body += "\n.br\n";
                }
                if (header.size() > 2 && c < header.size()) {
                    body += "\\fI" + sluice::doc::roffText(header[c]) + "\\fR: ";
                }
                body += inlineRoff(row[c]);
            }
            m_page.tagged(inlineRoff(row.empty() ? std::string() : row[0]), body);
        }
    }

    ManPage& m_page;
    std::set<std::string> m_keep;
    bool m_including = true;
    bool m_inCode = false;
    std::string m_code;
    Kind m_kind = Kind::None;
    std::string m_text;
    std::vector<std::vector<std::string>> m_table;
};

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 7) {
        std::fprintf(stderr, "usage: sluice-md2man INPUT.md OUTPUT NAME SECTION SUMMARY VERSION [HEADING...]\n");
        return 2;
    }
    try {
        const std::string input = argv[1];
        std::ifstream in(input);
        if (!in) {
            throw std::runtime_error(input + ": cannot read");
        }
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) {
            lines.push_back(line);
        }
        const std::string name = argv[3];
        ManPage page(name, std::stoi(argv[4]), std::string("Sluice ") + argv[6], "Sluice Manual");
        page.nameSection(argv[5]);
        page.section("Description");
        Converter(page, std::set<std::string>(argv + 7, argv + argc)).feed(lines);
        page.section("See also");
        page.paragraph(sluice::doc::pageRef("sluice-cli", 1) + ", " + sluice::doc::pageRef("sluice", 1));
        page.writeTo(argv[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-md2man: %s\n", e.what());
        return 1;
    }
    return 0;
}
