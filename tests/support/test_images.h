// Images for tests of media in prompts: a PNG's header (all its size
// needs) with `padding` bytes after it, so its base64 would be many tokens
// if it were counted as text; and base64 as the APIs carry it.
#pragma once

#include <QByteArray>

#include <cstdint>
#include <string>

namespace sluice::test {

inline std::string pngHeader(std::uint32_t width, std::uint32_t height, std::size_t padding = 0)
{
    std::string raw("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    for (const std::uint32_t v : {width, height}) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            raw.push_back(static_cast<char>((v >> shift) & 0xFF));
        }
    }
    raw += std::string("\x08\x02\0\0\0", 5);
    return raw + std::string(padding, '\x5a');
}

inline std::string base64Of(const std::string& raw)
{
    return QByteArray::fromStdString(raw).toBase64().toStdString();
}

}  // namespace sluice::test
