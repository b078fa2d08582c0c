#include "http/url.h"

#include "http/header_text.h"

#include <algorithm>
#include <charconv>

namespace sluice::http {

namespace {

std::optional<Url> bad(std::string* why, std::string text)
{
    if (why != nullptr) {
        *why = std::move(text);
    }
    return std::nullopt;
}

// prefix is lower-case ASCII.
bool startsWithNoCase(std::string_view s, std::string_view prefix)
{
    return s.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
               return a == lowerAsciiChar(b);
           });
}

}  // namespace

std::optional<Url> parseUrl(std::string_view text, std::string* why)
{
    Url u;
    if (startsWithNoCase(text, "https://")) {
        u.tls = true;
        text.remove_prefix(8);
    } else if (startsWithNoCase(text, "http://")) {
        text.remove_prefix(7);
    } else {
        return bad(why, "not an http:// or https:// URL");
    }
    const std::size_t slash = text.find_first_of("/?#");
    std::string_view authority = text.substr(0, slash);
    std::string_view rest = slash == std::string_view::npos ? std::string_view() : text.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        return bad(why, "credentials in a URL are not sent");
    }
    std::string_view portText;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return bad(why, "unclosed IPv6 literal");
        }
        u.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return bad(why, "text after an IPv6 literal");
            }
            portText = after.substr(1);
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            portText = authority.substr(colon + 1);
        }
    }
    if (u.host.empty()) {
        return bad(why, "no host");
    }
    u.port = u.tls ? 443 : 80;
    if (!portText.empty()) {
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
        if (ec != std::errc() || end != portText.data() + portText.size() || port == 0 || port > 65535) {
            return bad(why, "bad port");
        }
        u.port = static_cast<std::uint16_t>(port);
    }
    const std::size_t fragment = rest.find('#');
    rest = rest.substr(0, fragment);
    if (rest.empty() || rest.front() != '/') {
        u.target.reserve(rest.size() + 1);
        u.target += '/';
    }
    u.target += rest;
    // Built in place: this runs for every request sent.
    char portBuf[8];
    const std::string_view portDigits(portBuf,
                                      static_cast<std::size_t>(std::to_chars(portBuf, portBuf + sizeof portBuf, u.port).ptr - portBuf));
    const bool v6 = u.host.find(':') != std::string::npos;
    const bool defaultPort = u.port == (u.tls ? 443 : 80);
    u.hostHeader.reserve(u.host.size() + 8);
    u.hostHeader.append(v6 ? "[" : "").append(u.host).append(v6 ? "]" : "");
    u.origin.reserve(u.hostHeader.size() + 16);
    u.origin.append(u.tls ? "https://" : "http://").append(u.hostHeader).append(":").append(portDigits);
    if (!defaultPort) {
        u.hostHeader.append(":").append(portDigits);
    }
    return u;
}

}  // namespace sluice::http
