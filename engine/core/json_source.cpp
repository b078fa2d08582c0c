#include "core/json_source.h"

#include <fstream>
#include <sstream>

namespace sluice {

namespace {

// Walks JSON text that nlohmann has already accepted and records where each
// value starts, keyed by JSON pointer. Only positions are computed here; the
// values come from nlohmann.
class PositionScanner {
public:
    PositionScanner(std::string_view text, std::map<std::string, SourcePosition, std::less<>>& out)
        : m_text(text), m_out(out)
    {
    }

    void run()
    {
        skipSpace();
        value("");
    }

private:
    void skipSpace()
    {
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (c == '\n') {
                ++m_line;
                m_lineStart = m_pos + 1;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                return;
            }
            ++m_pos;
        }
    }

    std::string readString()
    {
        std::string s;
        ++m_pos;  // opening quote
        while (m_pos < m_text.size() && m_text[m_pos] != '"') {
            if (m_text[m_pos] == '\\' && m_pos + 1 < m_text.size()) {
                const char e = m_text[m_pos + 1];
                if (e == 'u') {
                    // Keys with escapes are rare in configs; keep the escape
                    // verbatim, positions are still right.
                    s.append(m_text.substr(m_pos, 6));
                    m_pos += 6;
                    continue;
                }
                s.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
                m_pos += 2;
                continue;
            }
            s.push_back(m_text[m_pos++]);
        }
        ++m_pos;  // closing quote
        return s;
    }

    void value(const std::string& pointer)
    {
        m_out[pointer] = SourcePosition{m_line, static_cast<int>(m_pos - m_lineStart) + 1};
        if (m_pos >= m_text.size()) {
            return;
        }
        const char c = m_text[m_pos];
        if (c == '{') {
            ++m_pos;
            skipSpace();
            while (m_pos < m_text.size() && m_text[m_pos] != '}') {
                const std::string key = readString();
                skipSpace();
                ++m_pos;  // ':'
                skipSpace();
                value(jsonPointerAppend(pointer, key));
                skipSpace();
                if (m_pos < m_text.size() && m_text[m_pos] == ',') {
                    ++m_pos;
                    skipSpace();
                }
            }
            ++m_pos;
        } else if (c == '[') {
            ++m_pos;
            skipSpace();
            std::size_t index = 0;
            while (m_pos < m_text.size() && m_text[m_pos] != ']') {
                value(jsonPointerAppend(pointer, index++));
                skipSpace();
                if (m_pos < m_text.size() && m_text[m_pos] == ',') {
                    ++m_pos;
                    skipSpace();
                }
            }
            ++m_pos;
        } else if (c == '"') {
            readString();
        } else {
            while (m_pos < m_text.size() && m_text[m_pos] != ',' && m_text[m_pos] != '}' &&
                   m_text[m_pos] != ']' && m_text[m_pos] != ' ' && m_text[m_pos] != '\n' &&
                   m_text[m_pos] != '\r' && m_text[m_pos] != '\t') {
                ++m_pos;
            }
        }
    }

    std::string_view m_text;
    std::map<std::string, SourcePosition, std::less<>>& m_out;
    std::size_t m_pos = 0;
    std::size_t m_lineStart = 0;
    int m_line = 1;
};

}  // namespace

SourcePosition positionOfOffset(std::string_view text, std::size_t offset)
{
    SourcePosition p{1, 1};
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++p.line;
            p.column = 1;
        } else {
            ++p.column;
        }
    }
    return p;
}

std::string jsonPointerAppend(std::string_view pointer, std::string_view token)
{
    std::string out(pointer);
    out.push_back('/');
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string jsonPointerAppend(std::string_view pointer, std::size_t index)
{
    return jsonPointerAppend(pointer, std::to_string(index));
}

JsonSource::JsonSource(std::string name, std::string text) : m_name(std::move(name))
{
    try {
        m_root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        // nlohmann's byte is 1-based and points just past the offending token.
        const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
        const SourcePosition p = positionOfOffset(text, at);
        std::string what = e.what();
        // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix.
        if (const auto colon = what.find(": ", what.find("column")); colon != std::string::npos) {
            what = what.substr(colon + 2);
        }
        throw InputError(m_name + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) +
                         ": invalid JSON: " + what);
    } catch (const nlohmann::json::out_of_range& e) {
        // A number beyond a double's range ("1e999"): nlohmann names the
        // number but not where it is, so the first place it is written is it.
        std::string what = e.what();
        std::string where = m_name;
        if (const auto q = what.find('\''); q != std::string::npos) {
            const std::string number = what.substr(q + 1, what.find('\'', q + 1) - q - 1);
            if (const auto at = text.find(number); !number.empty() && at != std::string::npos) {
                const SourcePosition p = positionOfOffset(text, at);
                where += ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
            }
        }
        if (const auto bracket = what.find("] "); bracket != std::string::npos) {
            what = what.substr(bracket + 2);
        }
        throw InputError(where + ": invalid JSON: " + what);
    }
    PositionScanner(text, m_positions).run();
}

JsonSource JsonSource::fromFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path + ": cannot open for reading");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw InputError(path + ": read failed");
    }
    return JsonSource(path, text.str());
}

SourcePosition JsonSource::positionOf(std::string_view pointer) const
{
    std::string p(pointer);
    while (true) {
        if (const auto it = m_positions.find(p); it != m_positions.end()) {
            return it->second;
        }
        const auto slash = p.rfind('/');
        if (slash == std::string::npos) {
            return {};
        }
        p.resize(slash);
    }
}

std::string JsonSource::describe(std::string_view pointer, std::string_view message) const
{
    const SourcePosition pos = positionOf(pointer);
    std::string out = m_name;
    if (pos.line > 0) {
        out += ":" + std::to_string(pos.line);
    }
    out += ": ";
    out += pointer.empty() ? std::string_view("(top level)") : pointer;
    out += ": ";
    out += message;
    return out;
}

}  // namespace sluice
