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

}  // namespace

std::vector<std::string> passedHeaderLines(const net::HttpHeaders& headers, ApiFlavor flavor)
{
    std::vector<std::string> lines;
    const std::span<const std::string_view> names =
        flavor == ApiFlavor::Anthropic ? std::span<const std::string_view>(kAnthropic) : std::span<const std::string_view>(kOpenAI);
    for (const std::string_view name : names) {
        // Reset per name: `line` points into `lines`, which grows only here.
        std::string* line = nullptr;
        for (const auto& [field, value] : headers) {
            // The size first: most of a request's headers end here, without a call.
            if (field.size() != name.size() || !net::headerNameEquals(field, name)) {
                continue;
            }
            const std::string_view v = net::trimHeaderValue(value);
            if (v.empty() || !printable(v)) {
                continue;
            }
            if (line == nullptr) {
                line = &lines.emplace_back();
                line->reserve(name.size() + 2 + v.size());
                line->append(name).append(": ");
            } else {
                line->push_back(',');
            }
            line->append(v);
        }
    }
    return lines;
}

}  // namespace sluice::gateway
