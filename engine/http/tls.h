// TLS for H1Client on OpenSSL: a client context (the system's trusted
// certificates, or a given CA file; peer verification always on, TLS 1.2
// at least, ALPN "http/1.1") and one session per connection on a
// non-blocking socket, whose operations say what they wait for instead of
// blocking.
//
// Thread-safety: a TlsContext may be shared by sessions on one thread; a
// session belongs to the thread that drives its connection, and blocks
// SIGPIPE on that thread (OpenSSL writes with write()).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace sluice::http {

class TlsContext {
public:
    // `caFile` empty: the system's trusted certificates. Throws
    // std::runtime_error naming what failed.
    explicit TlsContext(const std::string& caFile = {});
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    ssl_ctx_st* get() const noexcept { return m_ctx; }

private:
    ssl_ctx_st* m_ctx = nullptr;
};

class TlsSession {
public:
    enum class Io : unsigned char { Done, WantRead, WantWrite, Closed, Failed };
    struct Result {
        Io io = Io::Done;
        std::size_t bytes = 0;  // moved by read() or write() when Done
    };

    // The server's certificate must name `host` (a name or an IP literal).
    // Throws std::runtime_error when OpenSSL cannot set the session up.
    TlsSession(const TlsContext& context, int fd, const std::string& host);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    Result handshake();
    Result read(char* buffer, std::size_t size);
    Result write(const char* data, std::size_t size);
    // Why the last Failed happened (a verification failure names the
    // certificate problem); empty when it did not.
    std::string error() const { return m_error; }

private:
    Result outcome(int rc);

    ssl_st* m_ssl = nullptr;
    std::string m_error;
};

}  // namespace sluice::http
