#include "dispatch/flight.h"

namespace sluice {

namespace {

constexpr std::size_t kMaxErrorBody = 1u << 20;
// As http::HttpRequest::maxBodyBytes, for a body read chunk by chunk.
constexpr std::size_t kMaxResponseBody = 64u << 20;

}  // namespace

bool Flight::onChunk(std::string_view chunk, ResponseSink* sink, Clock& clock)
{
    if (status < 200 || status >= 300) {
        if (errorBody.size() + chunk.size() <= kMaxErrorBody) {
            errorBody.append(chunk);
        }
        return true;
    }
    if (sink != nullptr) {
        sink->onBody(chunk);
    }
    if (!stream) {
        if (received.size() + chunk.size() > kMaxResponseBody) {
            tooLarge = true;
            return false;
        }
        received.append(chunk);
        return true;
    }
    const bool ok = stream->feed(chunk);
    if (stream->firstTokenInLastFeed()) {
        firstToken = clock.now();
    }
    return ok;
}

ResponseRead Flight::read(http::HttpResult& r, bool readByChunks, ApiFlavor flavor, bool pastDeadline, WallTime wallNow)
{
    if (!stream && readByChunks) {
        // The body went through onChunk: take it back as the result's.
        const bool answered2xx = r.status >= 200 && r.status < 300;
        r.body = answered2xx ? std::move(received) : std::move(errorBody);
        if (tooLarge) {
            r.error = http::TransportError::TooLarge;
            r.errorText = "response larger than " + std::to_string(kMaxResponseBody) + " bytes";
        }
    }
    return readResponse(TransferRead{r, stream.get(), std::move(errorBody), flavor, pastDeadline, wallNow});
}

}  // namespace sluice
