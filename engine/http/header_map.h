// HeaderMap: a response's headers by lower-cased name, in the order the
// server sent them; a repeated header keeps its last value.
//
// A flat list rather than a std::map: a response carries a few to a couple
// of dozen headers, built once per response on the thread that reads it and
// looked up a handful of times. The tree cost a node allocation, a
// rebalancing and several string comparisons per header (about 1,000
// instructions each in the gateway's profile, docs/benchmarks.md); the list
// appends, and a lookup compares lengths before bytes. The interface is the
// subset of std::map's that the engine uses, so call sites read as before;
// iteration follows arrival order, not name order.
//
// Thread-safety: a value type; no shared state.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

class HeaderMap {
public:
    // More header lines than any provider sends (a few dozen): addLine()
    // takes no more, and both upstream clients then refuse the response,
    // which keeps the list's linear lookups from growing quadratic on a
    // broken or hostile server.
    static constexpr std::size_t kMaxHeaders = 1000;

    using value_type = std::pair<std::string, std::string>;
    using iterator = std::vector<value_type>::iterator;
    using const_iterator = std::vector<value_type>::const_iterator;

    HeaderMap() = default;
    HeaderMap(std::initializer_list<value_type> headers);

    iterator find(std::string_view name) noexcept;
    const_iterator find(std::string_view name) const noexcept;
    bool contains(std::string_view name) const noexcept { return find(name) != end(); }
    std::size_t count(std::string_view name) const noexcept { return contains(name) ? 1 : 0; }
    // Throws std::out_of_range naming the header when there is none.
    const std::string& at(std::string_view name) const;
    // The value, added empty when the header is missing.
    std::string& operator[](std::string_view name);

    // Replaces the value of a header already there (second: false).
    std::pair<iterator, bool> insert_or_assign(std::string name, std::string value);
    // Keeps the value of a header already there (second: false).
    std::pair<iterator, bool> emplace(std::string name, std::string value);
    std::pair<iterator, bool> insert(value_type header)
    {
        return emplace(std::move(header.first), std::move(header.second));
    }
    std::size_t erase(std::string_view name);
    // One line of a response head, "Name: value" with or without its line
    // ending: the name lower-cased, the value trimmed, a repeated name's
    // value replaced. A line that names nothing (no colon, or nothing
    // before it) is skipped. false, adding nothing, once kMaxHeaders lines
    // have named headers since the map was made or cleared.
    bool addLine(std::string_view line);

    iterator begin() noexcept { return m_headers.begin(); }
    iterator end() noexcept { return m_headers.end(); }
    const_iterator begin() const noexcept { return m_headers.begin(); }
    const_iterator end() const noexcept { return m_headers.end(); }
    std::size_t size() const noexcept { return m_headers.size(); }
    bool empty() const noexcept { return m_headers.empty(); }
    void clear() noexcept
    {
        m_headers.clear();
        m_lines = 0;
    }
    void reserve(std::size_t n) { m_headers.reserve(n); }

    // The same headers with the same values, in any order.
    friend bool operator==(const HeaderMap& a, const HeaderMap& b);

private:
    static constexpr std::size_t kUsualHeaders = 16;

    // The value replaced, or the header added, made in place from `value`
    // (a string moved in, or a view copied once).
    template <class Value>
    std::pair<iterator, bool> assign(std::string&& name, Value&& value);

    std::vector<value_type> m_headers;
    std::size_t m_lines = 0;  // lines addLine() took, repeated names included
};

}  // namespace sluice::http
