#include "http/http_client.h"

#include "http/epoll_driver.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace sluice::http {

std::string_view transportErrorName(TransportError e) noexcept
{
    switch (e) {
    case TransportError::None: return "none";
    case TransportError::Timeout: return "timeout";
    case TransportError::ConnectFailed: return "connect_failed";
    case TransportError::Reset: return "connection_reset";
    case TransportError::TooLarge: return "response_too_large";
    case TransportError::Aborted: return "aborted";
    case TransportError::Other: return "transport_error";
    }
    return "transport_error";
}

namespace {

Duration seconds(curl_off_t micros)
{
    return std::chrono::microseconds(micros);
}

TransportError classify(CURLcode code)
{
    switch (code) {
    case CURLE_OK: return TransportError::None;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::Timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::ConnectFailed;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TransportError::Reset;
    default: return TransportError::Other;
    }
}

}  // namespace

struct HttpClient::Transfer {
    TransferId id = 0;
    EasyHandle easy;
    HeaderList headerList;
    HttpRequest request;
    TransferHandlers handlers;
    HttpResult result;
    bool headersDelivered = false;
    bool stopped = false;
    bool tooLarge = false;
    char errorBuffer[CURL_ERROR_SIZE] = {};

    void deliverHeaders()
    {
        if (headersDelivered) {
            return;
        }
        headersDelivered = true;
        long status = 0;
        curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
        result.status = status;
        if (handlers.onHeaders) {
            handlers.onHeaders(status, result.headers);
        }
    }

    static std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user)
    {
        auto& t = *static_cast<Transfer*>(user);
        const std::size_t n = size * count;
        const std::string_view line(data, n);
        if (line.rfind("HTTP/", 0) == 0) {
            // A new response (after 100 Continue or a redirect) starts over.
            t.result.headers.clear();
            return n;
        }
        // Past HeaderMap::kMaxHeaders, 0 makes libcurl fail the transfer
        // (CURLE_WRITE_ERROR).
        return t.result.headers.addLine(line) ? n : 0;
    }

    // libcurl's "connection ready, request about to be written", on a new
    // connection or a reused one.
    static int onPrereq(void* user, char*, char*, int, int)
    {
        auto& t = *static_cast<Transfer*>(user);
        if (t.handlers.onSending) {
            // Counted per transfer by then: 1 when it had to connect.
            long connects = 0;
            curl_easy_getinfo(t.easy.get(), CURLINFO_NUM_CONNECTS, &connects);
            t.handlers.onSending(connects > 0);
        }
        return CURL_PREREQFUNC_OK;
    }

    static std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user)
    {
        auto& t = *static_cast<Transfer*>(user);
        const std::size_t n = size * count;
        t.deliverHeaders();
        if (t.handlers.onData) {
            if (!t.handlers.onData(std::string_view(data, n))) {
                t.stopped = true;
                return CURL_WRITEFUNC_ERROR;
            }
            return n;
        }
        if (t.result.body.size() + n > t.request.maxBodyBytes) {
            t.tooLarge = true;
            return CURL_WRITEFUNC_ERROR;
        }
        t.result.body.append(data, n);
        return n;
    }
};

HttpClient::HttpClient() : HttpClient(Options{}) {}

namespace {

int onCurlSocket(CURL*, curl_socket_t fd, int what, void* user, void*)
{
    auto& driver = *static_cast<SocketDriver*>(user);
    unsigned interest = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        interest |= SocketDriver::kReadable;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        interest |= SocketDriver::kWritable;
    }
    driver.watch(fd, interest);
    return 0;
}

int onCurlTimer(CURLM*, long timeoutMs, void* user)
{
    auto& driver = *static_cast<SocketDriver*>(user);
    if (timeoutMs < 0) {
        driver.timer(std::nullopt);
    } else {
        driver.timer(std::chrono::milliseconds(timeoutMs));
    }
    return 0;
}

}  // namespace

HttpClient::HttpClient(const Options& options, SocketDriver& driver) : m_multi(makeMulti())
{
    configure(options);
    useDriver(driver);
}

// poll() drives the client through its own epoll driver rather than
// curl_multi_poll/curl_multi_perform (see epoll_driver.h for why).
HttpClient::HttpClient(const Options& options) : m_ownDriver(std::make_unique<EpollDriver>()), m_multi(makeMulti())
{
    configure(options);
    useDriver(*m_ownDriver);
}

void HttpClient::configure(const Options& options)
{
    curl_multi_setopt(m_multi.get(), CURLMOPT_MAXCONNECTS, options.maxCachedConnections);
    curl_multi_setopt(m_multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, options.maxTotalConnections);
    curl_multi_setopt(m_multi.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

void HttpClient::useDriver(SocketDriver& driver)
{
    curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETFUNCTION, &onCurlSocket);
    curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETDATA, &driver);
    curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERFUNCTION, &onCurlTimer);
    curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERDATA, &driver);
}

HttpClient::~HttpClient()
{
    // Completion handlers run during the aborts below; any transfer they try
    // to start now is refused.
    m_closing = true;
    while (!m_transfers.empty()) {
        abort(m_transfers.begin()->first);
    }
}

HttpClient::TransferId HttpClient::start(HttpRequest request, TransferHandlers handlers)
{
    if (m_closing) {
        return 0;
    }
    auto t = std::make_unique<Transfer>();
    t->id = m_nextId++;
    if (m_spareHandles.empty()) {
        t->easy = makeEasy();
    } else {
        t->easy = std::move(m_spareHandles.back());
        m_spareHandles.pop_back();
    }
    t->request = std::move(request);
    t->handlers = std::move(handlers);

    CURL* e = t->easy.get();
    const HttpRequest& r = t->request;
    for (const auto& h : r.headers) {
        t->headerList.append(h);
    }
    if (r.secretHeader) {
        t->headerList.appendSecret(r.secretHeader->view().data());
    }
    // libcurl adds "Expect: 100-continue" to large POSTs, costing a round trip.
    t->headerList.append("Expect:");
    t->headerList.link(r.sharedHeaders);

    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headerList.get());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.method == "POST" || !r.body.empty()) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()));
    } else if (r.method == "GET") {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    if (t->handlers.onSending) {
        curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &Transfer::onPrereq);
        curl_easy_setopt(e, CURLOPT_PREREQDATA, t.get());
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errorBuffer);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(r.connectTimeout).count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(r.totalTimeout).count()));
    // TLS is always verified; there is deliberately no way to turn it off.
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, r.allowHttp2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    // Over TLS, wait for an existing HTTP/2 connection rather than open a
    // new one. Not for cleartext: no multiplexing is possible there, and
    // waiting would hold every request back until the first response,
    // sending them in a burst the rate limits did not admit.
    const bool tls = r.url.rfind("https://", 0) == 0;
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, tls && r.allowHttp2 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");

    const CURLMcode rc = curl_multi_add_handle(m_multi.get(), e);
    if (rc != CURLM_OK) {
        throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    }
    const TransferId id = t->id;
    m_transfers.emplace(id, std::move(t));
    return id;
}

void HttpClient::finish(Transfer& t, CURLcode code)
{
    curl_multi_remove_handle(m_multi.get(), t.easy.get());
    HttpResult& r = t.result;
    long status = 0;
    curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    r.status = status;
    curl_off_t ttfb = 0;
    curl_off_t total = 0;
    curl_easy_getinfo(t.easy.get(), CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
    curl_easy_getinfo(t.easy.get(), CURLINFO_TOTAL_TIME_T, &total);
    r.timeToFirstByte = seconds(ttfb);
    r.total = seconds(total);
    if (t.tooLarge) {
        r.error = TransportError::TooLarge;
        r.errorText = "response larger than " + std::to_string(t.request.maxBodyBytes) + " bytes";
    } else if (t.stopped) {
        r.error = TransportError::Aborted;
        r.errorText = "stopped by the receiver";
    } else {
        r.error = classify(code);
        if (code != CURLE_OK) {
            r.errorText = t.errorBuffer[0] != '\0' ? std::string(t.errorBuffer) : curl_easy_strerror(code);
        }
    }
    if (code == CURLE_OK || r.status != 0) {
        t.deliverHeaders();
    }
    auto onComplete = std::move(t.handlers.onComplete);
    HttpResult result = std::move(r);
    // Reset before t's header list and body go: the handle points at both.
    // A reset handle keeps nothing of this request's options.
    curl_easy_reset(t.easy.get());
    if (!m_closing && m_spareHandles.size() < kMaxSpareHandles) {
        m_spareHandles.push_back(std::move(t.easy));
    }
    m_transfers.erase(t.id);  // destroys t
    if (onComplete) {
        onComplete(std::move(result));
    }
}

void HttpClient::abort(TransferId id)
{
    const auto it = m_transfers.find(id);
    if (it == m_transfers.end()) {
        return;
    }
    Transfer& t = *it->second;
    t.stopped = true;
    finish(t, CURLE_ABORTED_BY_CALLBACK);
}

int HttpClient::poll(Duration timeout)
{
    if (!m_ownDriver) {
        throw std::logic_error("HttpClient::poll on a client driven by a SocketDriver");
    }
    m_completed = 0;
    m_ownDriver->wait(timeout, *this);  // the driver caps a wait at 60 s
    return m_completed;
}

void HttpClient::socketReady(int fd, bool readable, bool writable)
{
    const int mask = (readable ? CURL_CSELECT_IN : 0) | (writable ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(m_multi.get(), fd, mask, &running);
    finishDone();
}

void HttpClient::timerFired()
{
    int running = 0;
    curl_multi_socket_action(m_multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
    finishDone();
}

std::optional<Duration> HttpClient::timeout() const
{
    long ms = -1;
    curl_multi_timeout(m_multi.get(), &ms);
    if (ms < 0) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(ms);
}

void HttpClient::finishDone()
{
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi.get(), &queued)) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        Transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        if (t != nullptr) {
            finish(*t, msg->data.result);
            ++m_completed;
        }
    }
}

void HttpClient::wakeup()
{
    if (m_ownDriver) {
        m_ownDriver->wakeup();
    } else {
        curl_multi_wakeup(m_multi.get());
    }
}

}  // namespace sluice::http
