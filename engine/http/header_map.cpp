#include "http/header_map.h"

#include "http/header_text.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace sluice::http {

HeaderMap::HeaderMap(std::initializer_list<value_type> headers)
{
    m_headers.reserve(headers.size());
    for (const auto& h : headers) {
        insert_or_assign(h.first, h.second);
    }
}

HeaderMap::iterator HeaderMap::find(std::string_view name) noexcept
{
    return std::find_if(m_headers.begin(), m_headers.end(), [name](const value_type& h) { return h.first == name; });
}

HeaderMap::const_iterator HeaderMap::find(std::string_view name) const noexcept
{
    return std::find_if(m_headers.begin(), m_headers.end(), [name](const value_type& h) { return h.first == name; });
}

const std::string& HeaderMap::at(std::string_view name) const
{
    const auto it = find(name);
    if (it == end()) {
        throw std::out_of_range("no header \"" + std::string(name) + "\"");
    }
    return it->second;
}

std::string& HeaderMap::operator[](std::string_view name)
{
    if (const auto it = find(name); it != end()) {
        return it->second;
    }
    return m_headers.emplace_back(std::string(name), std::string()).second;
}

template <class Value>
std::pair<HeaderMap::iterator, bool> HeaderMap::assign(std::string&& name, Value&& value)
{
    if (const auto it = find(name); it != end()) {
        it->second = std::forward<Value>(value);
        return {it, false};
    }
    m_headers.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(name)),
                           std::forward_as_tuple(std::forward<Value>(value)));
    return {std::prev(m_headers.end()), true};
}

std::pair<HeaderMap::iterator, bool> HeaderMap::insert_or_assign(std::string name, std::string value)
{
    return assign(std::move(name), std::move(value));
}

std::pair<HeaderMap::iterator, bool> HeaderMap::emplace(std::string name, std::string value)
{
    if (const auto it = find(name); it != end()) {
        return {it, false};
    }
    m_headers.emplace_back(std::move(name), std::move(value));
    return {std::prev(m_headers.end()), true};
}

std::size_t HeaderMap::erase(std::string_view name)
{
    const auto it = find(name);
    if (it == end()) {
        return 0;
    }
    m_headers.erase(it);
    return 1;
}

bool HeaderMap::addLine(std::string_view line)
{
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return true;
    }
    if (m_lines == kMaxHeaders) {
        return false;
    }
    ++m_lines;
    // Made in place, and room for a provider's usual dozen lines at once:
    // every answer's head goes through here, and growing the list and
    // moving the strings in cost more than reading the lines.
    if (m_headers.empty()) {
        m_headers.reserve(kUsualHeaders);
    }
    assign(lowerAscii(trimHeaderText(line.substr(0, colon))), trimHeaderText(line.substr(colon + 1)));
    return true;
}

bool operator==(const HeaderMap& a, const HeaderMap& b)
{
    return a.size() == b.size() && std::all_of(a.begin(), a.end(), [&b](const HeaderMap::value_type& h) {
               const auto it = b.find(h.first);
               return it != b.end() && it->second == h.second;
           });
}

}  // namespace sluice::http
