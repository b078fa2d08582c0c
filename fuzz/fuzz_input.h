// What the fuzz targets share: the fuzzer's bytes split into a few
// independent inputs, so one target can vary several arguments at once.
//
// Thread-safety: a value over borrowed bytes; one per fuzz iteration.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::fuzz {

class FuzzInput {
public:
    FuzzInput(const std::uint8_t* data, std::size_t size)
        : m_rest(reinterpret_cast<const char*>(data), size)
    {
    }

    // One byte (0 when the input is used up).
    std::uint8_t byte()
    {
        if (m_rest.empty()) {
            return 0;
        }
        const auto b = static_cast<std::uint8_t>(m_rest.front());
        m_rest.remove_prefix(1);
        return b;
    }

    // The text up to the next NUL byte (or the end), so a seed's parts are
    // separated by NULs and stay readable in a hex dump.
    std::string_view part()
    {
        const std::size_t nul = m_rest.find('\0');
        const std::string_view p = m_rest.substr(0, nul);
        m_rest.remove_prefix(nul == std::string_view::npos ? m_rest.size() : nul + 1);
        return p;
    }

    std::string_view rest()
    {
        const std::string_view r = m_rest;
        m_rest = {};
        return r;
    }

    bool empty() const noexcept { return m_rest.empty(); }

private:
    std::string_view m_rest;
};

}  // namespace sluice::fuzz
