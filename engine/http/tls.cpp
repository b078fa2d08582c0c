#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <signal.h>

#include <stdexcept>

namespace sluice::http {

namespace {

std::string openSslError(const char* what)
{
    char text[256] = {};
    const unsigned long code = ERR_get_error();
    if (code != 0) {
        ERR_error_string_n(code, text, sizeof text);
    }
    ERR_clear_error();
    return std::string(what) + (code != 0 ? std::string(": ") + text : std::string());
}

bool isIpLiteral(const std::string& host)
{
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// OpenSSL writes to its socket with write(), which raises SIGPIPE when the
// peer has gone (send() with MSG_NOSIGNAL, as the plain path uses, cannot
// be asked for). Blocked on the thread that drives TLS sessions, the signal
// stays pending there instead of ending the process; the write then fails
// with EPIPE like any other.
void blockSigpipeOnThisThread()
{
    thread_local bool blocked = false;
    if (!blocked) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        blocked = true;
    }
}

}  // namespace

TlsContext::TlsContext(const std::string& caFile) : m_ctx(SSL_CTX_new(TLS_client_method()))
{
    if (m_ctx == nullptr) {
        throw std::runtime_error(openSslError("SSL_CTX_new"));
    }
    SSL_CTX_set_min_proto_version(m_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(m_ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(m_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    const bool loaded = caFile.empty() ? SSL_CTX_set_default_verify_paths(m_ctx) == 1
                                       : SSL_CTX_load_verify_locations(m_ctx, caFile.c_str(), nullptr) == 1;
    if (!loaded) {
        const std::string why = openSslError(caFile.empty() ? "loading the system's trusted certificates"
                                                            : ("loading CA file " + caFile).c_str());
        SSL_CTX_free(m_ctx);
        throw std::runtime_error(why);
    }
    static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(m_ctx, kAlpn, sizeof kAlpn);
}

TlsContext::~TlsContext()
{
    SSL_CTX_free(m_ctx);
}

TlsSession::TlsSession(const TlsContext& context, int fd, const std::string& host) : m_ssl(SSL_new(context.get()))
{
    if (m_ssl == nullptr) {
        throw std::runtime_error(openSslError("SSL_new"));
    }
    blockSigpipeOnThisThread();
    SSL_set_fd(m_ssl, fd);
    SSL_set_connect_state(m_ssl);
    bool ok = true;
    if (isIpLiteral(host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(m_ssl), host.c_str()) == 1;
    } else {
        // SSL_set_tlsext_host_name, without the macro's C cast.
        ok = SSL_ctrl(m_ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str())) == 1
            && SSL_set1_host(m_ssl, host.c_str()) == 1;
    }
    if (!ok) {
        SSL_free(m_ssl);
        throw std::runtime_error(openSslError(("TLS set-up for " + host).c_str()));
    }
}

TlsSession::~TlsSession()
{
    SSL_free(m_ssl);
}

TlsSession::Result TlsSession::outcome(int rc)
{
    if (rc > 0) {
        return {Io::Done, static_cast<std::size_t>(rc)};
    }
    switch (SSL_get_error(m_ssl, rc)) {
    case SSL_ERROR_WANT_READ: return {Io::WantRead, 0};
    case SSL_ERROR_WANT_WRITE: return {Io::WantWrite, 0};
    case SSL_ERROR_ZERO_RETURN: return {Io::Closed, 0};
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            ERR_clear_error();
            m_error = "connection closed during TLS";
            return {Io::Closed, 0};
        }
        break;
    default: break;
    }
    const long verify = SSL_get_verify_result(m_ssl);
    if (verify != X509_V_OK) {
        ERR_clear_error();
        m_error = std::string("TLS certificate not accepted: ") + X509_verify_cert_error_string(verify);
    } else {
        m_error = openSslError("TLS");
    }
    return {Io::Failed, 0};
}

TlsSession::Result TlsSession::handshake()
{
    const int rc = SSL_do_handshake(m_ssl);
    return rc == 1 ? Result{Io::Done, 0} : outcome(rc);
}

TlsSession::Result TlsSession::read(char* buffer, std::size_t size)
{
    std::size_t got = 0;
    const int rc = SSL_read_ex(m_ssl, buffer, size, &got);
    return rc == 1 ? Result{Io::Done, got} : outcome(rc);
}

TlsSession::Result TlsSession::write(const char* data, std::size_t size)
{
    std::size_t put = 0;
    const int rc = SSL_write_ex(m_ssl, data, size, &put);
    return rc == 1 ? Result{Io::Done, put} : outcome(rc);
}

}  // namespace sluice::http
