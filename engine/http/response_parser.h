// ResponseParser: an HTTP/1.1 response read as its bytes arrive, in any
// pieces: the status line and headers (1xx interim responses skipped), then
// the body framed by Content-Length, chunked transfer coding, or the end
// of the connection, handed on as it comes without being kept. Whether the
// connection can carry another request afterwards is part of the answer.
//
// Pure: no I/O, no clock. Thread-safety: one parser per thread at a time.
#pragma once

#include "http/http_client.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::http {

class ResponseParser {
public:
    // What feed() reports to its caller.
    class Sink {
    public:
        virtual ~Sink() = default;
        // The final response's status and headers are complete; the sink
        // may take `headers` (the parser keeps no use for them).
        virtual void onHead(long status, HeaderMap& headers) = 0;
        // Body bytes, decoded from the chunked coding; false stops the
        // parser (feed() returns at once, and the parser ends in Stopped).
        virtual bool onBody(std::string_view bytes) = 0;
    };

    enum class State : std::uint8_t { Head, Body, Done, Error, Stopped };

    // `headRequest`: the request was a HEAD, whose response has no body
    // whatever its headers say.
    explicit ResponseParser(bool headRequest = false) : m_headRequest(headRequest) {}

    // Reads `data`; returns how many bytes belong to this response (all of
    // them unless it ended within `data`).
    std::size_t feed(std::string_view data, Sink& sink);
    // The connection ended: a body framed by the end of the connection is
    // complete (Done); anything else unfinished is an Error.
    void endOfInput();

    State state() const noexcept { return m_state; }
    bool started() const noexcept { return m_started; }  // any byte of a response arrived
    long status() const noexcept { return m_status; }
    // Until onHead (which may take them), the headers read so far.
    const HeaderMap& headers() const noexcept { return m_headers; }
    // After Done: the server lets the connection carry another request.
    bool keepAlive() const noexcept { return m_keepAlive; }
    const std::string& error() const noexcept { return m_error; }

    // Bounds on what is kept while the head is incomplete.
    static constexpr std::size_t kMaxHeadBytes = 64 * 1024;
    static constexpr std::size_t kMaxChunkLine = 4 * 1024;

private:
    enum class Framing : std::uint8_t { None, Length, Chunked, UntilClose };
    enum class Chunk : std::uint8_t { Size, Data, DataEnd, Trailer };

    std::size_t feedHead(std::string_view data, Sink& sink);
    std::size_t feedBody(std::string_view data, Sink& sink);
    std::size_t feedChunked(std::string_view data, Sink& sink);
    bool parseHead(std::string_view head);  // false: malformed (m_error set)
    bool chunkSize(std::string_view line);
    void fail(std::string why);

    bool m_headRequest;
    bool m_started = false;
    bool m_keepAlive = false;
    State m_state = State::Head;
    Framing m_framing = Framing::None;
    Chunk m_chunk = Chunk::Size;
    long m_status = 0;
    std::uint64_t m_remaining = 0;  // of the body (Length) or of the chunk (Chunked)
    HeaderMap m_headers;
    std::string m_pending;  // an incomplete head or chunk line
    std::string m_error;
};

}  // namespace sluice::http
