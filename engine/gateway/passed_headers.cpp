#include "gateway/passed_headers.h"

#include <algorithm>
#include <array>
#include <span>
#include <string_view>

namespace sluice::gateway {

namespace {

constexpr std::array<std::string_view, 2> kAnthropic{"anthropic-beta", "anthropic-version"};
constexpr std::array<std::string_view, 1> kOpenAI{"openai-beta"};

bool printable(std::string_view value) noexcept
{
    return std::none_of(value.begin(), value.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

std::string_view trimmed(std::string_view v) noexcept
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

}  // namespace

std::vector<std::string> passedHeaderLines(const net::HttpHeaders& headers, ApiFlavor flavor)
{
    std::vector<std::string> lines;
    const std::span<const std::string_view> names =
        flavor == ApiFlavor::Anthropic ? std::span<const std::string_view>(kAnthropic) : std::span<const std::string_view>(kOpenAI);
    for (const std::string_view name : names) {
        std::string joined;
        for (const auto& [field, value] : headers) {
            const std::string_view v = trimmed(value);
            if (!net::headerNameEquals(field, name) || v.empty() || !printable(v)) {
                continue;
            }
            if (!joined.empty()) {
                joined += ',';
            }
            joined += v;
        }
        if (!joined.empty()) {
            lines.push_back(std::string(name) + ": " + joined);
        }
    }
    return lines;
}

}  // namespace sluice::gateway
