// The per-token events of a streamed answer read from their text with
// json_scan, without building a document: a stream sends one event per
// token, each read on the dispatcher thread (StreamAccumulator's fast path).
// Each reader gives nullopt for what it leaves to the document's reading:
// an error, a key written with escapes, a string that does not decode, an
// event of another kind. It reads exactly what the document's reading in
// protocol.cpp reads from the same event.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// An OpenAI chat completion chunk.
struct OpenAiChunkRead {
    struct Header {
        std::string id;     // "" when not a string
        std::string model;
        std::int64_t created = 0;  // 0 when not an integer
    };
    std::optional<Header> header;  // read only when asked for
    std::string text;              // choice 0's content
    bool anyContent = false;       // some choice had non-empty content
    std::optional<std::string> finishReason;  // the last choice's that has one
    std::string_view usage;        // the raw "usage" member, empty when absent
};
std::optional<OpenAiChunkRead> readOpenAiChunk(std::string_view text, bool withHeader);

// An Anthropic content_block_delta event (its type member, or `eventName`
// when that is missing or not a string): the delta's text, nullopt inside
// when it has none.
std::optional<std::optional<std::string>> readAnthropicDelta(const std::string& eventName, std::string_view text);

}  // namespace sluice
