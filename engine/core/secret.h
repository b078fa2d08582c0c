// Secret: an API key value. Its memory is wiped before it is freed, it has no
// stream operator, and the only way to read it is view(), so a key cannot
// reach a log, report or export by accident. redact() gives a label that is
// safe to show (it contains no part of the key).
//
// Thread-safety: a value type; const members may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string_view value) : m_value(value) {}
    Secret(const Secret& other) : m_value(other.m_value) {}
    Secret& operator=(const Secret& other)
    {
        if (this != &other) {
            wipe();
            m_value = other.m_value;
        }
        return *this;
    }
    Secret(Secret&& other) noexcept : m_value(std::move(other.m_value)) { other.wipe(); }
    Secret& operator=(Secret&& other) noexcept
    {
        if (this != &other) {
            wipe();
            m_value = std::move(other.m_value);
            other.wipe();
        }
        return *this;
    }
    ~Secret() { wipe(); }

    bool empty() const noexcept { return m_value.empty(); }
    std::size_t size() const noexcept { return m_value.size(); }
    // The key itself, for the one place that must send it (an HTTP header).
    std::string_view view() const noexcept { return m_value; }

    // prefix + the key, built in place so no unwiped copy is left behind
    // (for header lines such as "Authorization: Bearer …").
    Secret prefixed(std::string_view prefix) const
    {
        Secret s;
        s.m_value.reserve(prefix.size() + m_value.size());
        s.m_value.append(prefix).append(m_value);
        return s;
    }

    // A short fingerprint that identifies the key without revealing any of it
    // (a hash, not a prefix or suffix of the key).
    std::string fingerprint() const;

    friend bool operator==(const Secret& a, const Secret& b) noexcept { return a.m_value == b.m_value; }

private:
    void wipe() noexcept
    {
        // volatile stops the compiler from eliding stores to memory about to
        // be freed.
        volatile char* p = m_value.data();
        for (std::size_t i = 0; i < m_value.size(); ++i) {
            p[i] = 0;
        }
        m_value.clear();
    }

    std::string m_value;
};

// Replaces every occurrence of each secret's value in text with "[redacted]":
// the last line of defence for error messages that echo request headers.
std::string redactSecrets(std::string text, std::initializer_list<const Secret*> secrets);

}  // namespace sluice
