// Resolver: host names to socket addresses for H1Client without blocking
// the thread that drives it. An IP literal is answered at once; a name is
// looked up by getaddrinfo on a short-lived thread of its own (one per name
// at a time), and the answer kept for a minute. The driving thread learns
// that answers are ready through an eventfd it watches (readyFd()), which
// doubles as the client's wake-up from other threads.
//
// Thread-safety: lookup(), take() and drain() on the driving thread;
// signal() from any thread. Lookup threads still running when the
// Resolver goes keep its shared state (and the eventfd) alive until they
// end, so none writes to a descriptor that was closed and reused.
#pragma once

#include "core/unique_fd.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::http {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
};

struct Resolution {
    std::vector<SocketAddress> addresses;  // empty: failed
    std::string error;                     // why, when failed
};

class Resolver {
public:
    // Throws std::system_error when no eventfd can be made.
    Resolver();
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // An answer now (an IP literal, or a name answered within the last
    // minute), or nullopt: the lookup runs, and take() returns it later
    // under the key "host:port".
    std::optional<Resolution> lookup(const std::string& host, std::uint16_t port);
    // Answers that arrived since the last call, by "host:port".
    std::vector<std::pair<std::string, Resolution>> take();

    int readyFd() const noexcept;
    void signal() noexcept;
    // Empties the eventfd after it was seen readable.
    void drain() noexcept;

    static std::string keyOf(const std::string& host, std::uint16_t port);

private:
    struct Shared;
    struct Cached {
        Resolution answer;
        std::chrono::steady_clock::time_point until;
    };
    std::shared_ptr<Shared> m_shared;
    std::unordered_map<std::string, Cached> m_cache;
    std::unordered_set<std::string> m_running;  // keys being looked up
};

}  // namespace sluice::http
