#include "http/h1_parts.h"

#include "core/text_append.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace sluice::http {

using namespace h1;

void H1Client::send(Connection& c)
{
    Transfer& t = *c.transfer;
    const HttpRequest& r = t.request;
    setDeadline(t, t.started + r.totalTimeout);
    std::string& head = t.head;
    wipe(head);
    head.reserve(256 + r.url.size() + (c.tls ? r.body.size() : 0));
    appendText(head, r.method, " ", t.url->target, " HTTP/1.1\r\nHost: ", t.url->hostHeader, "\r\n");
    for (const std::string& h : r.headers) {
        appendHeader(head, h);
    }
    if (r.secretHeader) {
        appendHeader(head, r.secretHeader->view());
    }
    if (r.sharedHeaders) {
        for (const curl_slist* l = r.sharedHeaders->get(); l != nullptr; l = l->next) {
            appendHeader(head, l->data);
        }
    }
    if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH" || !r.body.empty()) {
        appendText(head, "Content-Length: ", DecimalText(r.body.size()), "\r\n\r\n");
    } else {
        appendText(head, "\r\n");
    }
    t.headSent = 0;
    t.bodySent = 0;
    if (c.tls) {
        // One buffer for TLS: a small request goes out as one record
        // rather than one for the head and one for the body.
        head.append(r.body);
        t.bodySent = r.body.size();
    }
    t.sending = true;
    if (t.handlers.onSending) {
        t.handlers.onSending(!c.reused);
        if (t.finished) {
            return;
        }
    }
    writeSome(c);
}

void H1Client::writeSome(Connection& c)
{
    Transfer& t = *c.transfer;
    const std::string& body = t.request.body;
    while (!t.sentAll()) {
        ssize_t n = 0;
        if (c.tls) {
            // The body rides in the head's buffer (send()).
            const std::string_view piece = std::string_view(t.head).substr(t.headSent);
            const TlsSession::Result r = c.tls->write(piece.data(), piece.size());
            if (r.io == TlsSession::Io::WantRead || r.io == TlsSession::Io::WantWrite) {
                setInterest(c, SocketDriver::kReadable | SocketDriver::kWritable);
                return;
            }
            if (r.io != TlsSession::Io::Done) {
                ended(c, c.tls->error().empty() ? "TLS write failed" : c.tls->error());
                return;
            }
            n = static_cast<ssize_t>(r.bytes);
        } else {
            iovec iov[2];
            int count = 0;
            if (t.headSent < t.head.size()) {
                iov[count++] = {t.head.data() + t.headSent, t.head.size() - t.headSent};
            }
            if (t.bodySent < body.size()) {
                iov[count++] = {const_cast<char*>(body.data()) + t.bodySent, body.size() - t.bodySent};
            }
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = static_cast<std::size_t>(count);
            n = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    setInterest(c, SocketDriver::kReadable | SocketDriver::kWritable);
                    return;
                }
                if (errno == EINTR) {
                    continue;
                }
                // The server stopped reading: it may have answered already
                // (a 413 before the whole body), so read what it said.
                t.sending = false;
                setInterest(c, SocketDriver::kReadable);
                readable(c);
                return;
            }
        }
        std::size_t left = static_cast<std::size_t>(n);
        const std::size_t inHead = std::min(left, t.head.size() - t.headSent);
        t.headSent += inHead;
        left -= inHead;
        t.bodySent += left;
    }
    t.sending = false;
    wipe(t.head);
    t.headSent = 0;
    setInterest(c, SocketDriver::kReadable);
}

H1Client::ReadOutcome H1Client::readOnce(Connection& c, char* buffer, std::size_t size)
{
    if (c.tls) {
        const TlsSession::Result r = c.tls->read(buffer, size);
        switch (r.io) {
        case TlsSession::Io::Done: return {ReadOutcome::Data, r.bytes, {}};
        case TlsSession::Io::WantRead: return {ReadOutcome::WouldBlock, 0, {}};
        case TlsSession::Io::WantWrite:
            setInterest(c, c.interest | SocketDriver::kWritable);
            return {ReadOutcome::WouldBlock, 0, {}};
        case TlsSession::Io::Closed: return {ReadOutcome::End, 0, {}};
        case TlsSession::Io::Failed: break;
        }
        return {ReadOutcome::Failed, 0, c.tls->error()};
    }
    for (;;) {
        const ssize_t n = ::recv(c.fd.get(), buffer, size, 0);
        if (n > 0) {
            return {ReadOutcome::Data, static_cast<std::size_t>(n), {}};
        }
        if (n == 0) {
            return {ReadOutcome::End, 0, {}};
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return {ReadOutcome::WouldBlock, 0, {}};
        }
        return {ReadOutcome::Failed, 0, errnoText(errno)};
    }
}

void H1Client::readIdle(Connection& c)
{
    // Nothing is owed on an idle connection: the server closed it, or said
    // something unasked. A TLS record with no data in it (a session
    // ticket) leaves it usable.
    char probe[512];
    const ReadOutcome r = readOnce(c, probe, sizeof probe);
    if (r.kind != ReadOutcome::WouldBlock) {
        close(c);
    }
}

void H1Client::readable(Connection& c)
{
    if (m_readBuffer.empty()) {
        m_readBuffer.resize(kReadBuffer);
    }
    for (;;) {
        const ReadOutcome r = readOnce(c, m_readBuffer.data(), m_readBuffer.size());
        if (r.kind == ReadOutcome::WouldBlock) {
            return;
        }
        if (r.kind != ReadOutcome::Data) {
            ended(c, r.kind == ReadOutcome::End ? std::string() : r.why);
            return;
        }
        if (!fed(c, std::string_view(m_readBuffer.data(), r.bytes))) {
            return;
        }
        // A short read emptied the socket; a TLS session may still hold
        // decrypted bytes the socket no longer signals, so it reads on.
        if (!c.tls && r.bytes < m_readBuffer.size()) {
            return;
        }
    }
}

// false: the transfer ended (or left the connection) with these bytes.
bool H1Client::fed(Connection& c, std::string_view bytes)
{
    Transfer& t = *c.transfer;
    if (!t.firstByte) {
        t.firstByte = std::chrono::steady_clock::now();
    }
    const std::size_t used = t.parser.feed(bytes, t);
    if (t.finished) {
        return false;  // a callback aborted it
    }
    switch (t.parser.state()) {
    case ResponseParser::State::Done:
        complete(c, t.parser.keepAlive() && used == bytes.size() && !t.sending);
        return false;
    case ResponseParser::State::Stopped:
        close(c);
        if (t.tooLarge) {
            finish(t, TransportError::TooLarge, "response larger than " + std::to_string(t.request.maxBodyBytes) + " bytes");
        } else {
            finish(t, TransportError::Aborted, "stopped by the receiver");
        }
        return false;
    case ResponseParser::State::Error:
        close(c);
        finish(t, TransportError::Other, "bad response from " + t.url->host + ": " + t.parser.error());
        return false;
    case ResponseParser::State::Head:
    case ResponseParser::State::Body: break;
    }
    return true;
}

// The connection closed (or broke: `why` says how) under a transfer.
void H1Client::ended(Connection& c, const std::string& why)
{
    Transfer& t = *c.transfer;
    if (why.empty()) {
        t.parser.endOfInput();
        if (t.parser.state() == ResponseParser::State::Done) {
            complete(c, false);
            return;
        }
    }
    const bool reused = c.reused;
    close(c);
    if (!t.parser.started() && reused && !t.retried && !m_closing) {
        // The server closed a kept-alive connection as this request went
        // out on it: once more on a new one (libcurl does the same).
        t.retried = true;
        t.firstByte.reset();
        t.parser = ResponseParser(t.request.method == "HEAD");
        begin(t);
        return;
    }
    std::string text = !why.empty() ? why : t.parser.started() ? t.parser.error() : std::string("Empty reply from server");
    finish(t, TransportError::Reset, std::move(text));
}

}  // namespace sluice::http
