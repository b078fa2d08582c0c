// The plain parts of the HTTP server's interface: header lookup, reply
// shapes, and the responder every handler answers through.
#include "net/http_server.h"

namespace sluice::net {

namespace {

char lower(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// What a responder already answered returns: writes that go nowhere.
class NoStream final : public HttpStream {
public:
    void write(std::string) override {}
    void end() override {}
    void abort() override {}
};

}  // namespace

std::string_view trimHeaderValue(std::string_view v) noexcept
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

bool headerNameEquals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::optional<std::string_view> findHeader(const HttpHeaders& headers, std::string_view name) noexcept
{
    for (const auto& [key, value] : headers) {
        if (headerNameEquals(key, name)) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

std::string_view InboundRequest::path() const noexcept
{
    const std::string_view t(target);
    return t.substr(0, t.find('?'));
}

HttpReply HttpReply::whole(int status, std::string contentType, std::string body, Duration delay)
{
    HttpReply reply;
    reply.status = status;
    reply.headers.emplace_back("Content-Type", std::move(contentType));
    reply.parts.push_back(HttpPart{delay, std::move(body)});
    return reply;
}

HttpResponder& HttpResponder::operator=(HttpResponder&& other) noexcept
{
    if (this != &other) {
        if (m_sink) {
            send(HttpReply::whole(500, "text/plain", "no response\n"));
        }
        m_sink = std::move(other.m_sink);
    }
    return *this;
}

HttpResponder::~HttpResponder()
{
    if (m_sink) {
        send(HttpReply::whole(500, "text/plain", "no response\n"));
    }
}

void HttpResponder::send(HttpReply reply)
{
    if (auto sink = std::exchange(m_sink, nullptr)) {
        sink->send(std::move(reply));
    }
}

std::shared_ptr<HttpStream> HttpResponder::stream(HttpReply head)
{
    if (auto sink = std::exchange(m_sink, nullptr)) {
        if (auto s = sink->stream(std::move(head))) {
            return s;
        }
    }
    return std::make_shared<NoStream>();
}

void HttpResponder::onPeerGone(std::function<void()> callback)
{
    if (m_sink) {
        m_sink->onPeerGone(std::move(callback));
    }
}

}  // namespace sluice::net
