#include "core/json_write.h"

#include <array>

namespace sluice {

namespace {

// What each byte becomes inside a string: 0 kept as it is, 1 a
// two-character escape, 2 a \u00xx escape.
struct EscapeTable {
    std::array<char, 256> kind{};
    std::array<char, 256> shortForm{};
    constexpr EscapeTable()
    {
        for (int c = 0; c < 0x20; ++c) {
            kind[static_cast<std::size_t>(c)] = 2;
        }
        const auto two = [this](char c, char form) {
            kind[static_cast<unsigned char>(c)] = 1;
            shortForm[static_cast<unsigned char>(c)] = form;
        };
        two('"', '"');
        two('\\', '\\');
        two('\b', 'b');
        two('\f', 'f');
        two('\n', 'n');
        two('\r', 'r');
        two('\t', 't');
    }
};
constexpr EscapeTable kEscapes;

}  // namespace

void appendJsonString(std::string& out, std::string_view text)
{
    static constexpr char kHex[] = "0123456789abcdef";
    out.reserve(out.size() + text.size() + 2);
    out.push_back('"');
    std::size_t run = 0;  // start of the bytes kept as they are, not yet copied
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const char kind = kEscapes.kind[c];
        if (kind == 0) {
            continue;
        }
        out.append(text.data() + run, i - run);
        run = i + 1;
        if (kind == 1) {
            const char pair[2] = {'\\', kEscapes.shortForm[c]};
            out.append(pair, 2);
        } else {
            const char unicode[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
            out.append(unicode, 6);
        }
    }
    out.append(text.data() + run, text.size() - run);
    out.push_back('"');
}

}  // namespace sluice
