#include "core/secret.h"

#include <cstdio>

namespace sluice {

std::string Secret::fingerprint() const
{
    if (m_value.empty()) {
        return "none";
    }
    // FNV-1a, 64 bit: enough to tell keys apart in a UI, reveals nothing
    // usable about the key.
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : m_value) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[24];
    std::snprintf(buf, sizeof buf, "fp:%08x", static_cast<unsigned>(h >> 32));
    return buf;
}

std::string redactSecrets(std::string text, std::initializer_list<const Secret*> secrets)
{
    for (const Secret* s : secrets) {
        if (s == nullptr || s->size() < 4) {
            continue;
        }
        const std::string_view v = s->view();
        for (std::size_t pos = text.find(v); pos != std::string::npos; pos = text.find(v, pos)) {
            text.replace(pos, v.size(), "[redacted]");
            pos += 10;
        }
    }
    return text;
}

}  // namespace sluice
