// appendText: several pieces of text added to the end of a string with one
// growth of it, for the heads the gateway writes on every request (the
// reply's status line and headers, the upstream request's lines). A chain of
// std::string::append calls checks capacity and, for a string literal,
// measures it once per piece; here the literals' lengths are known at
// compile time and the pieces are copied into room made once.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <array>
#include <charconv>
#include <concepts>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice {

namespace detail {
inline char* putText(char* p, std::string_view v)
{
    // An empty piece may be a null view; memcpy must not see it.
    if (!v.empty()) {
        std::memcpy(p, v.data(), v.size());
    }
    return p + v.size();
}
}  // namespace detail

// A whole number written in decimal into a buffer of its own, as one piece
// for appendText (a status code, a Content-Length) without a string made.
class DecimalText {
public:
    // Written in the body: clang 14 takes the buffer for uninitialized when
    // the member initializer list uses it (an error in make test-asan).
    explicit DecimalText(std::integral auto value) noexcept
    {
        m_size = static_cast<std::size_t>(std::to_chars(m_text.data(), m_text.data() + m_text.size(), value).ptr -
                                          m_text.data());
    }
    operator std::string_view() const noexcept { return std::string_view(m_text.data(), m_size); }

private:
    std::array<char, 24> m_text{};  // the widest 64-bit number and its sign fit
    std::size_t m_size = 0;
};

// No piece may point into `out`: making room may move its text.
template <class... Pieces>
void appendText(std::string& out, const Pieces&... pieces)
{
    const std::size_t at = out.size();
    out.resize(at + (std::string_view(pieces).size() + ...));
    char* p = out.data() + at;
    ((p = detail::putText(p, std::string_view(pieces))), ...);
}

}  // namespace sluice
