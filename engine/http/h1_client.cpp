#include "http/h1_client.h"

#include "http/epoll_driver.h"
#include "http/h1_parts.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sluice::http {

using namespace h1;
using std::chrono::steady_clock;

H1Client::H1Client() : H1Client(Options{}) {}

H1Client::H1Client(Options options) : m_options(std::move(options)), m_ownDriver(std::make_unique<EpollDriver>())
{
    m_driver = m_ownDriver.get();
    m_driver->watch(m_resolver.readyFd(), SocketDriver::kReadable);
}

H1Client::H1Client(Options options, SocketDriver& driver) : m_options(std::move(options)), m_driver(&driver)
{
    m_driver->watch(m_resolver.readyFd(), SocketDriver::kReadable);
}

H1Client::~H1Client()
{
    Entry entry(*this);
    m_closing = true;
    while (!m_transfers.empty()) {
        abort(m_transfers.begin()->first);
    }
    while (!m_connections.empty()) {
        close(*m_connections.begin()->second);
    }
    m_driver->watch(m_resolver.readyFd(), 0);
    m_driver->timer(std::nullopt);
}

TlsContext& H1Client::tls()
{
    if (!m_tls) {
        m_tls = std::make_unique<TlsContext>(m_options.caFile);
    }
    return *m_tls;
}

H1Client::TransferId H1Client::start(HttpRequest request, TransferHandlers handlers)
{
    if (m_closing) {
        return 0;
    }
    auto t = std::make_unique<Transfer>(request.method == "HEAD");
    t->id = m_nextId++;
    t->url = urlOf(request.url, t->urlError);
    t->request = std::move(request);
    t->handlers = std::move(handlers);
    const TransferId id = t->id;
    setDeadline(*t, t->started + t->request.totalTimeout);
    m_transfers.emplace(id, std::move(t));
    m_pending.push_back(id);
    updateTimer();
    return id;
}

std::shared_ptr<const Url> H1Client::urlOf(const std::string& text, std::string& why)
{
    constexpr std::size_t kMaxUrls = 256;
    if (const auto it = m_urls.find(text); it != m_urls.end()) {
        return it->second;
    }
    std::optional<Url> url = parseUrl(text, &why);
    if (!url) {
        return nullptr;
    }
    if (m_urls.size() >= kMaxUrls) {
        m_urls.clear();
    }
    auto shared = std::make_shared<const Url>(std::move(*url));
    m_urls.emplace(text, shared);
    return shared;
}

void H1Client::runPending()
{
    while (!m_pending.empty()) {
        const TransferId id = m_pending.front();
        m_pending.pop_front();
        const auto it = m_transfers.find(id);
        if (it != m_transfers.end()) {
            begin(*it->second);
        }
    }
}

void H1Client::begin(Transfer& t)
{
    if (!t.url) {
        finish(t, TransportError::Other, "URL " + t.request.url + ": " + t.urlError);
        return;
    }
    if (!t.retried && takeIdle(t)) {
        send(*t.conn);
        return;
    }
    setDeadline(t, std::min(t.started + t.request.totalTimeout, steady_clock::now() + t.request.connectTimeout));
    std::optional<Resolution> answer = m_resolver.lookup(t.url->host, t.url->port);
    if (!answer) {
        m_resolving[Resolver::keyOf(t.url->host, t.url->port)].push_back(t.id);
        return;
    }
    if (answer->addresses.empty()) {
        finish(t, TransportError::ConnectFailed, answer->error);
        return;
    }
    t.addresses = std::move(answer->addresses);
    connectNext(t);
}

bool H1Client::takeIdle(Transfer& t)
{
    const auto it = m_idle.find(t.url->origin);
    if (it == m_idle.end()) {
        return false;
    }
    const TimePoint now = steady_clock::now();
    auto& idle = it->second;
    while (!idle.empty()) {
        Connection* c = idle.back();
        idle.pop_back();
        --m_idleCount;
        if (now - c->idleSince > kMaxIdleAge) {
            close(*c);
            continue;
        }
        c->transfer = &t;
        t.conn = c;
        return true;
    }
    return false;
}

void H1Client::resolved(const std::string& key, const Resolution& answer)
{
    const auto it = m_resolving.find(key);
    if (it == m_resolving.end()) {
        return;
    }
    const std::vector<TransferId> waiting = std::move(it->second);
    m_resolving.erase(it);
    for (const TransferId id : waiting) {
        const auto t = m_transfers.find(id);
        if (t == m_transfers.end()) {
            continue;
        }
        if (answer.addresses.empty()) {
            finish(*t->second, TransportError::ConnectFailed, answer.error);
        } else {
            t->second->addresses = answer.addresses;
            connectNext(*t->second);
        }
    }
}

void H1Client::connectNext(Transfer& t)
{
    while (t.nextAddress < t.addresses.size()) {
        const SocketAddress& a = t.addresses[t.nextAddress++];
        UniqueFd fd(::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd.valid()) {
            t.lastConnectError = errnoText(errno);
            continue;
        }
        const int on = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        const int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.storage), a.length);
        if (rc != 0 && errno != EINPROGRESS) {
            t.lastConnectError = errnoText(errno);
            continue;
        }
        auto c = std::make_unique<Connection>();
        Connection& conn = *c;
        conn.fd = std::move(fd);
        conn.origin = t.url->origin;
        conn.transfer = &t;
        t.conn = &conn;
        m_connections.emplace(conn.fd.get(), std::move(c));
        if (rc == 0) {
            connected(conn);
        } else {
            setInterest(conn, SocketDriver::kWritable);
        }
        return;
    }
    finish(t, TransportError::ConnectFailed,
           "Failed to connect to " + t.url->host + " port " + std::to_string(t.url->port) + ": " + t.lastConnectError);
}

void H1Client::connected(Connection& c)
{
    Transfer& t = *c.transfer;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        t.lastConnectError = errnoText(err);
        close(c);
        connectNext(t);
        return;
    }
    if (t.url->tls) {
        try {
            c.tls = std::make_unique<TlsSession>(tls(), c.fd.get(), t.url->host);
        } catch (const std::exception& e) {
            close(c);
            finish(t, TransportError::Other, e.what());
            return;
        }
        c.phase = Connection::Phase::Handshaking;
        handshake(c);
        return;
    }
    c.phase = Connection::Phase::Ready;
    send(c);
}

void H1Client::handshake(Connection& c)
{
    Transfer& t = *c.transfer;
    const TlsSession::Result r = c.tls->handshake();
    switch (r.io) {
    case TlsSession::Io::Done:
        c.phase = Connection::Phase::Ready;
        send(c);
        return;
    case TlsSession::Io::WantRead: setInterest(c, SocketDriver::kReadable); return;
    case TlsSession::Io::WantWrite: setInterest(c, SocketDriver::kWritable); return;
    case TlsSession::Io::Closed:
    case TlsSession::Io::Failed: break;
    }
    const std::string why = c.tls->error().empty() ? "TLS handshake failed" : c.tls->error();
    close(c);
    finish(t, TransportError::Other, "TLS with " + t.url->host + ": " + why);
}

void H1Client::complete(Connection& c, bool reusable)
{
    Transfer& t = *c.transfer;
    c.transfer = nullptr;
    t.conn = nullptr;
    if (reusable && !m_closing && m_idleCount < m_options.maxIdleConnections) {
        c.reused = true;
        c.idleSince = steady_clock::now();
        m_idle[c.origin].push_back(&c);
        ++m_idleCount;
    } else {
        close(c);
    }
    finish(t, TransportError::None, {});
}

void H1Client::finish(Transfer& t, TransportError error, std::string text)
{
    if (t.finished) {
        return;
    }
    t.finished = true;
    if (t.conn != nullptr) {
        close(*t.conn);
    }
    if (t.deadline) {
        m_deadlines.erase({*t.deadline, t.id});
    }
    HttpResult result = std::move(t.result);
    result.status = t.parser.status();
    result.error = error;
    result.errorText = std::move(text);
    const TimePoint now = steady_clock::now();
    result.timeToFirstByte = t.firstByte ? *t.firstByte - t.started : Duration::zero();
    result.total = now - t.started;
    auto onComplete = std::move(t.handlers.onComplete);
    const auto it = m_transfers.find(t.id);
    if (it != m_transfers.end()) {
        m_deadTransfers.push_back(std::move(it->second));
        m_transfers.erase(it);
    }
    ++m_completed;
    if (onComplete) {
        onComplete(std::move(result));
    }
}

void H1Client::close(Connection& c)
{
    if (c.dead) {
        return;
    }
    c.dead = true;
    if (c.transfer != nullptr) {
        c.transfer->conn = nullptr;
        c.transfer = nullptr;
    } else if (const auto idle = m_idle.find(c.origin); idle != m_idle.end()) {
        auto& list = idle->second;
        const auto it = std::find(list.begin(), list.end(), &c);
        if (it != list.end()) {
            list.erase(it);
            --m_idleCount;
        }
    }
    if (c.interest != 0) {
        m_driver->watch(c.fd.get(), 0);
    }
    const auto it = m_connections.find(c.fd.get());
    if (it != m_connections.end()) {
        m_deadConnections.push_back(std::move(it->second));
        m_connections.erase(it);
    }
}

void H1Client::setInterest(Connection& c, unsigned interest)
{
    if (c.interest != interest) {
        c.interest = interest;
        m_driver->watch(c.fd.get(), interest);
    }
}

void H1Client::setDeadline(Transfer& t, TimePoint when)
{
    if (t.deadline) {
        if (*t.deadline == when) {
            return;
        }
        m_deadlines.erase({*t.deadline, t.id});
    }
    t.deadline = when;
    m_deadlines.emplace(when, t.id);
}

void H1Client::expire()
{
    const TimePoint now = steady_clock::now();
    while (!m_deadlines.empty() && m_deadlines.begin()->first <= now) {
        const TransferId id = m_deadlines.begin()->second;
        m_deadlines.erase(m_deadlines.begin());
        const auto it = m_transfers.find(id);
        if (it == m_transfers.end()) {
            continue;
        }
        Transfer& t = *it->second;
        t.deadline.reset();
        const bool connecting = t.conn == nullptr || t.conn->phase != Connection::Phase::Ready;
        const std::string text = connecting && !t.firstByte
            ? "Connection timed out after " + std::to_string(millis(now - t.started)) + " milliseconds"
            : "Operation timed out after " + std::to_string(millis(now - t.started)) + " milliseconds";
        finish(t, TransportError::Timeout, text);
    }
}

std::optional<H1Client::TimePoint> H1Client::due(TimePoint now) const
{
    if (!m_pending.empty()) {
        return now;
    }
    if (m_deadlines.empty()) {
        return std::nullopt;
    }
    return m_deadlines.begin()->first;
}

void H1Client::updateTimer(bool force)
{
    // One clock read for both uses: this runs twice per request.
    const TimePoint now = steady_clock::now();
    const std::optional<TimePoint> next = due(now);
    // A driver's timer that fires before anything is due costs one empty
    // firing, and re-arming it costs a system call on an event loop's
    // timer: so a later (or no) deadline than the one told is not told
    // until the told one fires.
    if (!force && m_toldValid && m_toldDue && (!next || *next >= *m_toldDue)) {
        return;
    }
    m_toldValid = true;
    m_toldDue = next;
    if (!next) {
        m_driver->timer(std::nullopt);
        return;
    }
    m_driver->timer(std::max<Duration>(*next - now, Duration::zero()));
}

std::optional<Duration> H1Client::timeout() const
{
    const TimePoint now = steady_clock::now();
    const std::optional<TimePoint> next = due(now);
    if (!next) {
        return std::nullopt;
    }
    return std::max<Duration>(*next - now, Duration::zero());
}

void H1Client::socketReady(int fd, bool readableNow, bool writableNow)
{
    Entry entry(*this);
    if (fd == m_resolver.readyFd()) {
        m_resolver.drain();
        for (const auto& [key, answer] : m_resolver.take()) {
            resolved(key, answer);
        }
        updateTimer();
        return;
    }
    const auto it = m_connections.find(fd);
    if (it == m_connections.end()) {
        return;
    }
    Connection& c = *it->second;
    if (c.transfer == nullptr) {
        readIdle(c);
    } else if (c.phase == Connection::Phase::Connecting) {
        connected(c);
    } else if (c.phase == Connection::Phase::Handshaking) {
        handshake(c);
    } else {
        Transfer& t = *c.transfer;
        if (t.sending && (writableNow || c.tls)) {
            writeSome(c);
        }
        if (!c.dead && c.transfer == &t && (readableNow || c.tls)) {
            readable(c);
        }
    }
    updateTimer();
}

void H1Client::timerFired()
{
    Entry entry(*this);
    runPending();
    expire();
    updateTimer(true);
}

void H1Client::abort(TransferId id)
{
    Entry entry(*this);
    const auto it = m_transfers.find(id);
    if (it == m_transfers.end()) {
        return;
    }
    Transfer& t = *it->second;
    finish(t, TransportError::Aborted, "aborted");
    updateTimer();
}

int H1Client::poll(Duration timeout)
{
    if (!m_ownDriver) {
        throw std::logic_error("H1Client::poll on a client driven by a SocketDriver");
    }
    Entry entry(*this);
    m_completed = 0;
    runPending();
    updateTimer();
    m_ownDriver->wait(timeout, *this);
    return m_completed;
}

void H1Client::wakeup()
{
    m_resolver.signal();
}

}  // namespace sluice::http
