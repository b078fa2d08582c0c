// Fuzzes the SSE parser (providers/sse.h) and the stream reader above it
// (providers/protocol.h StreamAccumulator), for both API flavours: the
// bytes arrive in chunks whose sizes the fuzzer picks, and the events must
// not depend on where the chunks were cut.
#include "providers/protocol.h"
#include "providers/sse.h"

#include "fuzz_input.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::vector<std::pair<std::string, std::string>> eventsOf(std::string_view stream, const std::vector<std::size_t>& cuts)
{
    std::vector<std::pair<std::string, std::string>> events;
    sluice::SseParser parser;
    std::size_t at = 0;
    for (std::size_t i = 0; at < stream.size(); ++i) {
        const std::size_t n = cuts.empty() ? stream.size() : cuts[i % cuts.size()];
        parser.feed(stream.substr(at, n), [&](const sluice::SseEvent& ev) {
            events.emplace_back(ev.event, ev.data);
            return true;
        });
        at += n;
    }
    return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    sluice::fuzz::FuzzInput in(data, size);
    const bool anthropic = (in.byte() & 1) != 0;
    std::vector<std::size_t> cuts;
    for (std::uint8_t c = in.byte() % 8; c > 0; --c) {
        cuts.push_back(1 + in.byte() % 64);
    }
    const std::string_view stream = in.rest();
    if (eventsOf(stream, cuts) != eventsOf(stream, {})) {
        std::abort();
    }
    sluice::StreamAccumulator acc(anthropic ? sluice::ApiFlavor::Anthropic : sluice::ApiFlavor::OpenAI);
    std::size_t at = 0;
    for (std::size_t i = 0; at < stream.size(); ++i) {
        const std::size_t n = cuts.empty() ? stream.size() : cuts[i % cuts.size()];
        if (!acc.feed(stream.substr(at, n))) {
            break;
        }
        at += n;
    }
    (void)acc.assembledBody().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return 0;
}
