// Fuzzes H1Client's response parser (http/response_parser.h), which reads
// whatever bytes an upstream sends: the bytes arrive in chunks whose sizes
// the fuzzer picks, and the outcome (state, status, body, keep-alive,
// bytes used) must not depend on where the chunks were cut.
#include "http/response_parser.h"

#include "fuzz_input.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct Sink final : sluice::http::ResponseParser::Sink {
    long status = 0;
    int heads = 0;
    std::string body;
    void onHead(long s, sluice::http::HeaderMap&) override
    {
        status = s;
        ++heads;
    }
    bool onBody(std::string_view b) override
    {
        body.append(b);
        return true;
    }
};

using Outcome = std::tuple<int, long, int, std::string, bool, std::size_t>;

Outcome parse(std::string_view wire, bool head, bool close, const std::vector<std::size_t>& cuts)
{
    using State = sluice::http::ResponseParser::State;
    sluice::http::ResponseParser parser(head);
    Sink sink;
    std::size_t at = 0;
    std::size_t used = 0;
    for (std::size_t i = 0; at < wire.size() && (parser.state() == State::Head || parser.state() == State::Body); ++i) {
        const std::size_t n = cuts.empty() ? wire.size() : cuts[i % cuts.size()];
        used += parser.feed(wire.substr(at, n), sink);
        at += n;
    }
    if (close) {
        parser.endOfInput();
    }
    const bool done = parser.state() == State::Done;
    return {static_cast<int>(parser.state()), sink.status, sink.heads, sink.body, done && parser.keepAlive(), done ? used : 0};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    sluice::fuzz::FuzzInput in(data, size);
    const std::uint8_t flags = in.byte();
    std::vector<std::size_t> cuts;
    for (std::uint8_t c = in.byte() % 8; c > 0; --c) {
        cuts.push_back(1 + in.byte() % 64);
    }
    const std::string_view wire = in.rest();
    const bool head = (flags & 1) != 0;
    const bool close = (flags & 2) != 0;
    if (parse(wire, head, close, cuts) != parse(wire, head, close, {})) {
        std::abort();
    }
    return 0;
}
