// Fuzzes the allocation-free JSON scanner (core/json_scan.h) against
// nlohmann::json as the reference: they agree on what is one well-formed
// value, every member the scanner hands back is itself well-formed, and the
// "usage" reader built on it accepts anything it is given, a string
// literal decodes (jsonStringValue) to nlohmann's value, and the document
// reader (readJsonDocument) builds nlohmann's document, number kinds and
// all, or refuses what nlohmann refuses.
#include "core/json_scan.h"
#include "providers/protocol.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

bool validUtf8(std::string_view s)
{
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        }
        const std::uint32_t least[] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

// Escaped surrogates ("\ud800") are grammatical JSON that nlohmann rejects
// when unpaired; texts with them are compared in one direction only.
bool hasSurrogateEscape(std::string_view s)
{
    for (std::size_t at = s.find("\\u"); at != std::string_view::npos; at = s.find("\\u", at + 1)) {
        if (at + 2 < s.size() && (s[at + 2] == 'd' || s[at + 2] == 'D')) {
            return true;
        }
    }
    return false;
}

std::size_t openings(std::string_view s)
{
    std::size_t n = 0;
    for (const char c : s) {
        n += (c == '[' || c == '{') ? 1 : 0;
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    sluice::UsageReader usage;
    bool membersOk = true;
    const bool scanned = sluice::scanJson(
        text, [&](std::string_view, std::string_view value) { membersOk = membersOk && sluice::scanJson(value); }, "usage",
        [&](std::string_view key, std::string_view value) { usage.member(key, value); });
    if (scanned && !membersOk) {
        std::abort();
    }
    (void)usage.result(sluice::ApiFlavor::OpenAI);
    (void)usage.result(sluice::ApiFlavor::Anthropic);
    (void)sluice::usageFromText(sluice::ApiFlavor::OpenAI, text);
    (void)sluice::usageFromText(sluice::ApiFlavor::Anthropic, text);
    // The reference: nlohmann's parser, which also checks UTF-8 and has no
    // depth limit, so texts nested deeper than the scanner's limit are not
    // compared, and invalid UTF-8 only one way. It also takes a NUL byte for
    // the end of the input (accepting "1\0x"), and refuses numbers too large
    // for a double ("1e999", grammatical JSON), so those are not compared.
    if (openings(text) >= 500 || text.find('\0') != std::string_view::npos) {
        return 0;
    }
    bool reference = false;
    try {
        (void)nlohmann::json::parse(text);
        reference = true;
    } catch (const nlohmann::json::out_of_range&) {
        return 0;  // a number out of a double's range
    } catch (const nlohmann::json::parse_error&) {
        reference = false;
    }
    if (reference && !scanned) {
        std::abort();
    }
    {
        nlohmann::json doc;
        const bool read = sluice::readJsonDocument(text, doc);
        const nlohmann::json ref = nlohmann::json::parse(text, nullptr, false);
        if (read != !ref.is_discarded()) {
            std::abort();
        }
        // dump() tells an unsigned 5 from a float 5.0, not from an integer
        // 5; equal documents that dump alike are the same document here.
        if (read && (doc != ref || doc.dump() != ref.dump())) {
            std::abort();
        }
    }
    if (scanned && !reference && validUtf8(text) && !hasSurrogateEscape(text)) {
        std::abort();
    }
    // A string literal decodes to exactly nlohmann's value, and whatever
    // nlohmann refuses (bad UTF-8, a lone surrogate) is refused.
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (scanned && first != std::string_view::npos && text[first] == '"') {
        const std::size_t last = text.find_last_not_of(" \t\r\n");
        const std::optional<std::string> decoded = sluice::jsonStringValue(text.substr(first, last - first + 1));
        if (reference ? !decoded || *decoded != nlohmann::json::parse(text).get<std::string>() : decoded.has_value()) {
            std::abort();
        }
    }
    return 0;
}
