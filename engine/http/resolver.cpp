#include "http/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

namespace sluice::http {

namespace {

constexpr auto kKeepAnswer = std::chrono::seconds(60);

std::optional<SocketAddress> literal(const std::string& host, std::uint16_t port)
{
    SocketAddress a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.length = sizeof(sockaddr_in);
        return a;
    }
    std::string bare = host;
    if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
        bare = bare.substr(1, bare.size() - 2);
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (::inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.length = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

Resolution resolveBlocking(const std::string& host, std::uint16_t port)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    const std::string service = std::to_string(port);
    Resolution r;
    const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (rc != 0) {
        r.error = "could not resolve host " + host + ": " + ::gai_strerror(rc);
        return r;
    }
    for (const addrinfo* p = list; p != nullptr; p = p->ai_next) {
        if (p->ai_addrlen <= sizeof(sockaddr_storage)) {
            SocketAddress a;
            std::memcpy(&a.storage, p->ai_addr, p->ai_addrlen);
            a.length = p->ai_addrlen;
            r.addresses.push_back(a);
        }
    }
    ::freeaddrinfo(list);
    if (r.addresses.empty()) {
        r.error = "no address for host " + host;
    }
    return r;
}

}  // namespace

struct Resolver::Shared {
    UniqueFd ready;
    std::mutex mutex;
    std::vector<std::pair<std::string, Resolution>> done;  // guarded by mutex

    void signal() noexcept
    {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto r = ::write(ready.get(), &one, sizeof one);
    }
};

Resolver::Resolver() : m_shared(std::make_shared<Shared>())
{
    m_shared->ready = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_shared->ready.valid()) {
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
}

Resolver::~Resolver() = default;

std::string Resolver::keyOf(const std::string& host, std::uint16_t port)
{
    return host + ":" + std::to_string(port);
}

std::optional<Resolution> Resolver::lookup(const std::string& host, std::uint16_t port)
{
    if (auto a = literal(host, port)) {
        return Resolution{{*a}, {}};
    }
    if (host == "localhost") {
        // Always the loopback, as libcurl has it, and no thread for it.
        return Resolution{{*literal("127.0.0.1", port), *literal("::1", port)}, {}};
    }
    const std::string key = keyOf(host, port);
    const auto now = std::chrono::steady_clock::now();
    if (const auto it = m_cache.find(key); it != m_cache.end()) {
        if (it->second.until > now) {
            return it->second.answer;
        }
        m_cache.erase(it);
    }
    if (m_running.insert(key).second) {
        // Detached: a lookup cannot be cancelled, and the client must not
        // wait for one when it goes; the thread holds what it writes to.
        std::thread([shared = m_shared, host, port, key] {
            Resolution r = resolveBlocking(host, port);
            {
                std::lock_guard guard(shared->mutex);
                shared->done.emplace_back(key, std::move(r));
            }
            shared->signal();
        }).detach();
    }
    return std::nullopt;
}

std::vector<std::pair<std::string, Resolution>> Resolver::take()
{
    std::vector<std::pair<std::string, Resolution>> out;
    {
        std::lock_guard guard(m_shared->mutex);
        out.swap(m_shared->done);
    }
    const auto until = std::chrono::steady_clock::now() + kKeepAnswer;
    for (const auto& [key, answer] : out) {
        m_running.erase(key);
        if (!answer.addresses.empty()) {
            m_cache[key] = Cached{answer, until};
        }
    }
    return out;
}

int Resolver::readyFd() const noexcept
{
    return m_shared->ready.get();
}

void Resolver::signal() noexcept
{
    m_shared->signal();
}

void Resolver::drain() noexcept
{
    std::uint64_t count = 0;
    [[maybe_unused]] const auto r = ::read(m_shared->ready.get(), &count, sizeof count);
}

}  // namespace sluice::http
