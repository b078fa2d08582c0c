// Flight: one attempt on the wire, what it holds (its key, its reservation,
// its transfer) and what it receives: a stream's events, an error body, or a
// plain body read chunk by chunk for a ResponseSink, which sees the 2xx
// bytes as they arrive. When the transfer ends, the Flight hands what it
// read to the ResponseReader.
//
// Thread-safety: none; owned by the dispatcher thread.
#pragma once

#include "admission/admission.h"
#include "core/clock.h"
#include "dispatch/response_reader.h"
#include "dispatch/response_sink.h"
#include "http/http_client.h"
#include "providers/protocol.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct Flight {
    std::size_t key = 0;
    Reservation reservation;
    std::uint64_t transfer = 0;
    TimePoint sentAt{};
    std::optional<TimePoint> firstToken;
    std::unique_ptr<StreamAccumulator> stream;  // streams only: kept out of every job's node
    long status = 0;
    std::string errorBody;
    // A plain (not streamed) 2xx body read chunk by chunk for a sink.
    std::string received;
    bool tooLarge = false;

    // Body bytes as they arrive (a stream, or any job with a sink); the 2xx
    // ones are passed on to `sink`. Returns false to stop the transfer.
    bool onChunk(std::string_view chunk, ResponseSink* sink, Clock& clock);
    // What the finished transfer `r` says, with the body read chunk by
    // chunk put back where the reader expects it.
    ResponseRead read(http::HttpResult& r, bool readByChunks, ApiFlavor flavor, bool pastDeadline, WallTime wallNow);
};

}  // namespace sluice
