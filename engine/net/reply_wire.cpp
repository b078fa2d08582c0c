// The bytes of the HTTP server's replies: status line, headers, framing and
// chunks, apart from the connection that writes them (http_session.cpp).
#include "net/http_session.h"

#include "core/text_append.h"

#include <cstdio>

namespace sluice::net {

namespace {

std::string_view reasonPhrase(int status) noexcept
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Site Overloaded";
    default: return "Unknown";
    }
}

}  // namespace

void appendReplyHead(std::string& out, const HttpReply& reply, bool keepAlive)
{
    appendText(out, "HTTP/1.1 ", DecimalText(reply.status), " ", reasonPhrase(reply.status), "\r\n");
    for (const auto& [name, value] : reply.headers) {
        appendText(out, name, ": ", value, "\r\n");
    }
    if (reply.chunked) {
        appendText(out, "Transfer-Encoding: chunked\r\n");
    } else {
        std::size_t total = 0;
        for (const auto& part : reply.parts) {
            total += part.data.size();
        }
        appendText(out, "Content-Length: ", DecimalText(reply.declaredLength.value_or(total)), "\r\n");
    }
    appendText(out, keepAlive ? "\r\n" : "Connection: close\r\n\r\n");
}

void appendChunk(std::string& out, std::string_view data)
{
    char size[20];
    const int n = std::snprintf(size, sizeof size, "%zx", data.size());
    out.append(size, static_cast<std::size_t>(n)).append("\r\n").append(data).append("\r\n");
}

}  // namespace sluice::net
