// H1Client's insides shared by its two source files (h1_client.cpp: the
// transfers, the pool and the timers; h1_wire.cpp: what goes over a
// connection). Not for anyone else to include.
//
// Thread-safety: as H1Client's.
#pragma once

#include "core/text_append.h"
#include "http/h1_client.h"
#include "http/response_parser.h"
#include "http/tls.h"
#include "http/url.h"

#include <strings.h>

#include <cstring>

namespace sluice::http {

namespace h1 {

// An idle connection older than this is not reused (libcurl's default
// CURLOPT_MAXAGE_CONN): servers drop idle ones, and a request sent on a
// connection the server is closing costs a retry.
constexpr auto kMaxIdleAge = std::chrono::seconds(118);
constexpr std::size_t kReadBuffer = 64 * 1024;

inline std::string errnoText(int err)
{
    return std::strerror(err);
}

inline long millis(Duration d)
{
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

inline void wipe(std::string& s) noexcept
{
    if (!s.empty()) {
        ::explicit_bzero(s.data(), s.size());
    }
    s.clear();
}

inline bool namesHeader(std::string_view line, std::string_view name)
{
    return line.size() > name.size() && line[name.size()] == ':' && ::strncasecmp(line.data(), name.data(), name.size()) == 0;
}

// One header line as libcurl would send it: "Name:" alone removes a
// header (nothing is sent), "Name;" sends it empty.
inline void appendHeader(std::string& head, std::string_view line)
{
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
        line.remove_suffix(1);
    }
    if (line.empty() || line.back() == ':' || namesHeader(line, "content-length") || namesHeader(line, "host")) {
        return;
    }
    if (line.back() == ';' && line.find(':') == std::string_view::npos) {
        appendText(head, line.substr(0, line.size() - 1), ":\r\n");
        return;
    }
    appendText(head, line, "\r\n");
}

}  // namespace h1

struct H1Client::Connection {
    UniqueFd fd;
    std::unique_ptr<TlsSession> tls;
    std::string origin;
    enum class Phase : std::uint8_t { Connecting, Handshaking, Ready } phase = Phase::Connecting;
    Transfer* transfer = nullptr;  // null while idle
    unsigned interest = 0;
    bool reused = false;  // carried an answer before this request
    bool dead = false;
    TimePoint idleSince{};
};

struct H1Client::Transfer final : ResponseParser::Sink {
    TransferId id = 0;
    HttpRequest request;
    TransferHandlers handlers;
    HttpResult result;
    std::shared_ptr<const Url> url;
    std::string urlError;
    ResponseParser parser;
    Connection* conn = nullptr;
    std::vector<SocketAddress> addresses;
    std::size_t nextAddress = 0;
    std::string lastConnectError;
    std::string head;  // may hold the credential: wiped once sent
    std::size_t headSent = 0;
    std::size_t bodySent = 0;
    bool sending = false;
    bool retried = false;  // sent again after a reused connection closed
    bool finished = false;
    bool tooLarge = false;
    TimePoint started = std::chrono::steady_clock::now();
    std::optional<TimePoint> firstByte;
    std::optional<TimePoint> deadline;

    explicit Transfer(bool headRequest) : parser(headRequest) {}
    ~Transfer() override { h1::wipe(head); }

    bool sentAll() const { return headSent == head.size() && bodySent == request.body.size(); }

    void onHead(long status, HeaderMap& headers) override
    {
        result.status = status;
        result.headers = std::move(headers);
        if (!finished && handlers.onHeaders) {
            handlers.onHeaders(status, result.headers);
        }
    }

    bool onBody(std::string_view bytes) override
    {
        if (finished) {
            return false;
        }
        if (handlers.onData) {
            if (!handlers.onData(bytes)) {
                return false;
            }
            return !finished;
        }
        if (result.body.size() + bytes.size() > request.maxBodyBytes) {
            tooLarge = true;
            return false;
        }
        result.body.append(bytes);
        return true;
    }
};

// Nesting of the client's entry points: what died inside them is freed
// when the outermost returns.
class H1Client::Entry {
public:
    explicit Entry(H1Client& c) : m_c(c) { ++m_c.m_depth; }
    ~Entry()
    {
        if (--m_c.m_depth == 0) {
            m_c.m_deadTransfers.clear();
            m_c.m_deadConnections.clear();
        }
    }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

private:
    H1Client& m_c;
};

struct H1Client::ReadOutcome {
    enum Kind : std::uint8_t { Data, WouldBlock, End, Failed } kind = WouldBlock;
    std::size_t bytes = 0;
    std::string why;
};


}  // namespace sluice::http
