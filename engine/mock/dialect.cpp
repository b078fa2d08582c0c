#include "mock/dialect.h"

#include "mock/behaviour.h"

#include <nlohmann/json.hpp>

#include <array>
#include <numeric>

namespace sluice::mock {

std::int64_t MockReply::totalOutput() const noexcept
{
    return std::accumulate(outputTokens.begin(), outputTokens.end(), std::int64_t{0});
}

namespace dialect {

namespace {

// Filler prose: each word is one token, roughly as tokenizers count
// common English words.
constexpr std::array<std::string_view, 32> kWords{
    "the",   "limit", "holds", "steady", "while", "tokens", "flow", "through", "a",     "narrow", "gate",
    "and",   "every", "request", "waits", "its",  "turn",   "so",   "nothing", "spills", "over",  "budget",
    "water", "level", "rises",  "slowly", "under", "careful", "watch", "of",     "sluice", "keepers"};

}  // namespace

std::int64_t textTokens(std::string_view text) noexcept
{
    return std::max<std::int64_t>(1, static_cast<std::int64_t>((text.size() + 3) / 4));
}

std::int64_t contentTokens(const nlohmann::json& content)
{
    if (content.is_string()) {
        return textTokens(content.get_ref<const std::string&>());
    }
    std::int64_t n = 0;
    if (content.is_array()) {
        for (const auto& part : content) {
            const auto text = part.is_object() ? part.find("text") : part.end();
            n += (text != part.end() && text->is_string()) ? textTokens(text->get_ref<const std::string&>()) : 85;
        }
    }
    return n;
}

namespace {

void appendToken(std::string& out, std::uint64_t seed, std::int64_t index)
{
    if (index > 0) {
        out.push_back(' ');
    }
    out.append(kWords[(seed + static_cast<std::uint64_t>(index) * 7u) % kWords.size()]);
}

}  // namespace

std::string token(std::uint64_t seed, std::int64_t index)
{
    std::string out;
    out.reserve(9);  // the longest word and its space
    appendToken(out, seed, index);
    return out;
}

std::string text(std::uint64_t seed, std::int64_t tokens)
{
    std::string out;
    out.reserve(static_cast<std::size_t>(tokens) * 7);
    for (std::int64_t i = 0; i < tokens; ++i) {
        appendToken(out, seed, i);  // no string made per word
    }
    return out;
}

std::string randomId(std::string_view prefix, std::uint64_t seed, int digits)
{
    static constexpr char kHex[] = "0123456789abcdef";
    Rng rng(seed, 0x1D);
    std::string out(prefix);
    std::uint64_t bits = 0;
    for (int i = 0; i < digits; ++i) {
        if (i % 16 == 0) {
            bits = rng.next();
        }
        out.push_back(kHex[bits & 0xF]);
        bits >>= 4;
    }
    return out;
}

bool isJsonContentType(std::string_view value) noexcept
{
    const std::string_view type = value.substr(0, value.find(';'));
    std::size_t b = 0;
    std::size_t e = type.size();
    while (b < e && type[b] == ' ') {
        ++b;
    }
    while (e > b && type[e - 1] == ' ') {
        --e;
    }
    return net::headerNameEquals(type.substr(b, e - b), "application/json");
}

Duration ceilMs(Duration d) noexcept
{
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d);
    return ms;
}


}  // namespace dialect

}  // namespace sluice::mock
