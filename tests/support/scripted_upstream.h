// What the transport tests' upstream answers, and how they wait for it:
// /stream sends three chunks 20 ms apart, /hang part of a body and then
// nothing, anything else "body of PATH" at once.
//
// Thread-safety: scriptedReply is a pure function; pollUntil polls on the
// caller's thread.
#pragma once

#include "net/http_server.h"

#include <chrono>
#include <string>

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

}  // namespace sluice::test
