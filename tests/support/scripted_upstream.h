// What the transport tests' upstream answers, and how they wait for it:
// /stream sends three chunks 20 ms apart, /hang part of a body and then
// nothing, anything else "body of PATH" at once. streamPieces fetches
// /stream through any transport and returns the pieces as they arrived;
// streamedInPieces joins them when there were several.
//
// Thread-safety: scriptedReply is a pure function; pollUntil polls on the
// caller's thread.
#pragma once

#include "http/http_client.h"
#include "net/http_server.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

inline net::HttpReply scriptedReply(const net::InboundRequest& r)
{
    using namespace std::chrono_literals;
    net::HttpReply reply;
    if (r.path() == "/stream") {
        reply.chunked = true;
        reply.parts = {{0ms, "one "}, {20ms, "two "}, {20ms, "three"}};
    } else if (r.path() == "/hang") {
        reply.parts = {{0ms, "partial"}};
        reply.declaredLength = 100;
        reply.ending = net::HttpEnding::Hang;
    } else if (r.path().starts_with("/headers/")) {
        // "/headers/N": N headers of its own, x-h0 to x-h(N-1), beside the server's.
        reply = net::HttpReply::whole(200, "text/plain", "headers");
        const int n = std::stoi(std::string(r.path().substr(9)));
        for (int i = 0; i < n; ++i) {
            reply.headers.emplace_back("x-h" + std::to_string(i), "v" + std::to_string(i));
        }
    } else {
        reply = net::HttpReply::whole(200, "text/plain", "body of " + std::string(r.path()));
    }
    return reply;
}

// Polls `client` (anything with poll(Duration)) until `done` or 20 s.
template <typename Client, typename Done>
bool pollUntil(Client& client, Done done)
{
    using namespace std::chrono_literals;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        client.poll(50ms);
    }
    return true;
}

// GETs base + "/stream" through `client` (anything with start() and
// poll()); the body's pieces as they arrived, or nullopt when the transfer
// failed or did not end within 20 s.
template <typename Client>
std::optional<std::vector<std::string>> streamPieces(Client& client, const std::string& base)
{
    std::vector<std::string> pieces;
    bool ended = false;
    bool ok = false;
    http::HttpRequest s;
    s.method = "GET";
    s.url = base + "/stream";
    client.start(std::move(s), {nullptr,
                                [&](std::string_view chunk) {
                                    pieces.emplace_back(chunk);
                                    return true;
                                },
                                [&](http::HttpResult&& r) {
                                    ended = true;
                                    ok = r.error == http::TransportError::None;
                                },
                                nullptr});
    if (!pollUntil(client, [&] { return ended; }) || !ok) {
        return std::nullopt;
    }
    return pieces;
}

// streamPieces joined: the text, when the transfer succeeded and the body
// arrived in more than one piece (it was passed on as it came, not held
// to the end); nullopt otherwise.
template <typename Client>
std::optional<std::string> streamedInPieces(Client& client, const std::string& base)
{
    const auto pieces = streamPieces(client, base);
    if (!pieces || pieces->size() < 2) {
        return std::nullopt;
    }
    std::string whole;
    for (const std::string& p : *pieces) {
        whole += p;
    }
    return whole;
}

}  // namespace sluice::test
