// Url: the parts of an http:// or https:// URL that H1Client needs: the
// scheme, the host (an IPv6 literal without its brackets), the port, the
// request target (path and query) and the Host header's value.
//
// Thread-safety: pure functions and a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::http {

struct Url {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    std::string target;      // "/v1/chat/completions?x=1"; "/" when the URL has no path
    std::string hostHeader;  // "api.example.com", "127.0.0.1:8080", "[::1]:8080"
    std::string origin;      // "https://api.example.com:443": what connections are pooled by
};

// nullopt for anything but an absolute http or https URL with a host (and
// a port, when given, of 1 to 65535); `why` then says what is wrong.
std::optional<Url> parseUrl(std::string_view text, std::string* why = nullptr);

}  // namespace sluice::http
