// A Chat Completions request of the shape most of them have, read in one
// pass over its text, without building a document: the gateway's busiest
// request. Building the document and walking it for the analysis, the exact
// count, the rule of thumb, the language and the media cost about a fifth
// of the gateway's instructions per request (docs/benchmarks.md, "A chat
// request read without a document").
//
// The shape: an object whose "model" is a non-empty string and whose
// "messages" is a non-empty array of objects with only string members
// ("content" among them; none named tool_calls or function_call, none
// repeated, at most 8 of them);
// "stream" absent, true or false; "n", "max_tokens" and
// "max_completion_tokens" absent or whole numbers in range, "temperature"
// and "top_p" absent or numbers in range; no "tools", "functions" or
// "stream_options" (a stream's include_usage is then added to the text,
// prepareJob); no key written with an escape
// or a byte outside ASCII; no member named above repeated; every other
// member free of "\u" escapes, of bytes outside ASCII and of numbers with
// an exponent or hundreds of digits (so that nlohmann's parser, which the
// document path uses, takes the text as the scanner did). Anything else,
// valid or not, is not read here: the caller reads it
// as a document, whose analysis says what is wrong with it. For a body this
// reads, analyzeScannedChat gives what analyzeRequest gives for its document
// (tests/engine/tst_chat_scan.cpp checks them side by side).
//
// Thread-safety: pure functions.
#pragma once

#include "tokenize/chat_tokens.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct ScannedChat {
    std::string model;
    bool stream = false;
    int n = 1;
    // max_completion_tokens, else max_tokens; unset: the model's default.
    std::optional<std::int64_t> maxOutputTokens;
    // Every message's members in order; message i's are
    // members[messageEnds[i - 1], messageEnds[i]).
    std::vector<tokenize::ChatStringMember> members;
    std::vector<std::uint32_t> messageEnds;
};

// The request read, or nullopt when the text is not plainly of that shape.
std::optional<ScannedChat> scanChatRequest(std::string_view body);

}  // namespace sluice
