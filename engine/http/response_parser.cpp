#include "http/response_parser.h"

#include "http/header_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string>

namespace sluice::http {

namespace {

// `token` in lower case; the header's value in any.
bool hasToken(const HeaderMap& headers, std::string_view name, const char* token)
{
    const auto it = headers.find(name);
    return it != headers.end() && ::strcasestr(it->second.c_str(), token) != nullptr;
}

// Where the head ends in `s` (just past its blank line), scanning from
// `from`; npos while it has not.
std::size_t headEnd(std::string_view s, std::size_t from)
{
    for (std::size_t i = s.find('\n', from); i != std::string_view::npos; i = s.find('\n', i + 1)) {
        if (i + 1 < s.size() && s[i + 1] == '\n') {
            return i + 2;
        }
        if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') {
            return i + 3;
        }
    }
    return std::string_view::npos;
}

}  // namespace

void ResponseParser::fail(std::string why)
{
    m_state = State::Error;
    m_error = std::move(why);
    m_keepAlive = false;
}

std::size_t ResponseParser::feed(std::string_view data, Sink& sink)
{
    if (!data.empty()) {
        m_started = true;
    }
    std::size_t used = 0;
    while (used < data.size() && (m_state == State::Head || m_state == State::Body)) {
        const std::string_view rest = data.substr(used);
        used += m_state == State::Head ? feedHead(rest, sink) : feedBody(rest, sink);
    }
    return used;
}

std::size_t ResponseParser::feedHead(std::string_view data, Sink& sink)
{
    std::size_t used = 0;
    std::string_view head;
    if (m_pending.empty()) {
        const std::size_t end = headEnd(data, 0);
        if (end != std::string_view::npos) {
            head = data.substr(0, end);
            used = end;
        }
    }
    if (head.empty()) {
        const std::size_t before = m_pending.size();
        m_pending.append(data);
        const std::size_t end = headEnd(m_pending, before >= 2 ? before - 2 : 0);
        if (end == std::string_view::npos) {
            if (m_pending.size() > kMaxHeadBytes) {
                fail("response head larger than " + std::to_string(kMaxHeadBytes) + " bytes");
            }
            return data.size();
        }
        used = end - before;
        m_pending.resize(end);
        head = m_pending;
    }
    if (head.size() > kMaxHeadBytes) {
        fail("response head larger than " + std::to_string(kMaxHeadBytes) + " bytes");
        return used;
    }
    const bool ok = parseHead(head);
    m_pending.clear();
    if (!ok || m_state == State::Head) {
        return used;  // malformed, or an interim 1xx response: the next head follows
    }
    sink.onHead(m_status, m_headers);
    return used;
}

bool ResponseParser::parseHead(std::string_view head)
{
    const std::size_t lineEnd = head.find('\n');
    const std::string_view statusLine = trimHeaderText(head.substr(0, lineEnd));
    int status = 0;
    if (statusLine.size() < 12 || statusLine.substr(0, 7) != "HTTP/1." || statusLine[8] != ' '
        || std::from_chars(statusLine.data() + 9, statusLine.data() + 12, status).ptr != statusLine.data() + 12
        || status < 100 || status > 999) {
        fail("malformed status line");
        return false;
    }
    const bool http11 = statusLine[7] != '0';
    m_headers.clear();
    // One allocation for a typical provider's head, not one per header.
    m_headers.reserve(24);
    // Pointers, not substr(): this runs for every header of every response,
    // and the bounds are known here.
    const char* const end = head.data() + head.size();
    for (const char* line = head.data() + lineEnd + 1; line < end;) {
        const auto* nl = static_cast<const char*>(std::memchr(line, '\n', static_cast<std::size_t>(end - line)));
        const char* const lineStop = nl != nullptr ? nl : end;
        if (!m_headers.addLine(std::string_view(line, static_cast<std::size_t>(lineStop - line)))) {
            fail("more than " + std::to_string(HeaderMap::kMaxHeaders) + " headers");
            return false;
        }
        line = lineStop + 1;
    }
    if (status < 200) {
        if (status == 101) {
            fail("the server switched protocols");
            return false;
        }
        return true;  // interim: stay in Head
    }
    m_status = status;
    m_keepAlive = http11 ? !hasToken(m_headers, "connection", "close") : hasToken(m_headers, "connection", "keep-alive");
    m_state = State::Body;
    if (m_headRequest || status == 204 || status == 304) {
        m_framing = Framing::None;
        m_state = State::Done;
    } else if (hasToken(m_headers, "transfer-encoding", "chunked")) {
        m_framing = Framing::Chunked;
        m_chunk = Chunk::Size;
    } else if (const auto it = m_headers.find("content-length"); it != m_headers.end()) {
        const std::string_view v = trimHeaderText(it->second);
        std::uint64_t n = 0;
        if (v.empty() || std::from_chars(v.data(), v.data() + v.size(), n).ptr != v.data() + v.size()) {
            fail("malformed Content-Length");
            return false;
        }
        m_framing = Framing::Length;
        m_remaining = n;
        if (n == 0) {
            m_state = State::Done;
        }
    } else {
        m_framing = Framing::UntilClose;
        m_keepAlive = false;
    }
    return true;
}

std::size_t ResponseParser::feedBody(std::string_view data, Sink& sink)
{
    switch (m_framing) {
    case Framing::Length: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, data.size()));
        m_remaining -= n;
        if (m_remaining == 0) {
            m_state = State::Done;
        }
        if (!sink.onBody(data.substr(0, n))) {
            m_state = State::Stopped;
        }
        return n;
    }
    case Framing::UntilClose:
        if (!sink.onBody(data)) {
            m_state = State::Stopped;
        }
        return data.size();
    case Framing::Chunked: return feedChunked(data, sink);
    case Framing::None: break;
    }
    m_state = State::Done;
    return 0;
}

bool ResponseParser::chunkSize(std::string_view line)
{
    line = trimHeaderText(line.substr(0, line.find(';')));
    std::uint64_t n = 0;
    if (line.empty() || line.size() > 16
        || std::from_chars(line.data(), line.data() + line.size(), n, 16).ptr != line.data() + line.size()) {
        fail("malformed chunk size");
        return false;
    }
    m_remaining = n;
    m_chunk = n == 0 ? Chunk::Trailer : Chunk::Data;
    return true;
}

std::size_t ResponseParser::feedChunked(std::string_view data, Sink& sink)
{
    std::size_t pos = 0;
    while (pos < data.size() && m_state == State::Body) {
        if (m_chunk == Chunk::Data) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, data.size() - pos));
            m_remaining -= n;
            const std::string_view piece = data.substr(pos, n);
            pos += n;
            if (m_remaining == 0) {
                m_chunk = Chunk::DataEnd;
            }
            if (!sink.onBody(piece)) {
                m_state = State::Stopped;
            }
            continue;
        }
        if (m_chunk == Chunk::DataEnd) {
            const char c = data[pos++];
            if (c == '\n') {
                m_chunk = Chunk::Size;
            } else if (c != '\r') {
                fail("chunk not followed by CRLF");
            }
            continue;
        }
        // A size line or a trailer line, possibly begun in an earlier piece.
        const std::size_t nl = data.find('\n', pos);
        if (nl == std::string_view::npos) {
            m_pending.append(data.substr(pos));
            if (m_pending.size() > kMaxChunkLine) {
                fail("chunk line too long");
            }
            return data.size();
        }
        std::string_view line = data.substr(pos, nl - pos);
        if (m_pending.size() + line.size() > kMaxChunkLine) {
            fail("chunk line too long");
            return nl + 1;
        }
        if (!m_pending.empty()) {
            m_pending.append(line);
            line = m_pending;
        }
        pos = nl + 1;
        if (m_chunk == Chunk::Size) {
            chunkSize(line);
        } else if (trimHeaderText(line).empty()) {
            m_state = State::Done;
        }
        m_pending.clear();
    }
    return pos;
}

void ResponseParser::endOfInput()
{
    if (m_state == State::Body && m_framing == Framing::UntilClose) {
        m_state = State::Done;
        return;
    }
    if (m_state == State::Head || m_state == State::Body) {
        fail(m_started ? "connection closed before the response ended" : "connection closed before any response");
    }
}

}  // namespace sluice::http
