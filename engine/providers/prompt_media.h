// The media parts of a request's prompt and what they are estimated to
// cost (tokenize/media_tokens.h): images by each provider's rule, PDFs by
// their pages, a document's plain text by the rule of thumb. The text
// estimates (PromptEstimator, the endpoints' counts) leave these out, so
// they are added on top, and a request that carries any is kept out of the
// text calibrators.
//
// Where they are looked for: a chat request's messages (OpenAI image_url
// and file parts, input_audio), a Responses request's input (input_image,
// input_file), an Anthropic request's messages (image and document blocks,
// also inside a tool_result's content).
//
// Thread-safety: pure functions.
#pragma once

#include "providers/protocol.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>

namespace sluice {

struct PromptMedia {
    std::int64_t images = 0;     // the images' tokens
    std::int64_t documents = 0;  // PDFs (pages) and documents' own text
    int parts = 0;               // media parts found, audio and files by id included
    std::int64_t tokens() const noexcept { return images + documents; }
};

PromptMedia promptMedia(ApiFlavor flavor, const nlohmann::json& body);

// An estimate of a prompt's text with the body's media added on top
// (tokens, media and mediaParts).
void addPromptMedia(PromptEstimate& e, ApiFlavor flavor, const nlohmann::json& body);

}  // namespace sluice
