// What the media in a prompt (images, PDF documents) cost in tokens before
// the provider says: the text tokenizers count none of it, and a vision or
// document request reserved as its text alone (a dozen tokens for a
// question about a page) overruns a token limit that the provider charges
// in full. Images are sized from their own header (PNG, JPEG, GIF, WebP),
// read from the first bytes of their base64, and priced by each provider's
// published rule; a PDF by its pages.
//
// These are estimates, settled to what the provider reports like any
// other; they are never fed to a text calibrator (what a response reports
// for an image says nothing about how a language's text tokenizes).
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::tokenize {

struct ImageSize {
    std::int64_t width = 0;
    std::int64_t height = 0;
};

// Standard base64 (RFC 4648, padding optional) decoded until the first
// byte outside the alphabet or `maxBytes` of output.
std::string decodeBase64(std::string_view text, std::size_t maxBytes);

// The base64 payload of a "data:MEDIA;base64,PAYLOAD" URL; nullopt for
// anything else (an https URL, a data URL not in base64).
std::optional<std::string_view> dataUrlPayload(std::string_view url);

// The pixel size an encoded image's header states (PNG, JPEG, GIF, WebP);
// nullopt for another format or bytes cut short before the size.
std::optional<ImageSize> imageSize(std::string_view bytes);
// The same from base64: only the first bytes are decoded (a JPEG's size
// can follow up to 64 KiB of metadata).
std::optional<ImageSize> imageSizeOfBase64(std::string_view base64);

// OpenAI's rule for GPT-4o-class models: `low` detail 85; otherwise the
// image fitted within 2048×2048, its shorter side brought down to 768,
// 170 per 512-pixel tile plus 85. Unknown size (an image by URL): 765, a
// 2×2-tile image.
std::int64_t openAiImageTokens(std::optional<ImageSize> size, bool lowDetail);

// Anthropic's rule: width × height / 750 after the image is brought within
// 1568 pixels on its long edge and about 1.15 megapixels. Unknown size:
// 1,600, what a maximal image costs.
std::int64_t anthropicImageTokens(std::optional<ImageSize> size);

// The pages of a base64 PDF: its page objects ("/Type /Page"), or when
// they are compressed out of sight the largest /Count the file shows (the
// page tree's root); at least 1.
std::int64_t pdfPages(std::string_view base64);

// A PDF page read by a model is its text and an image of the page: about
// 1,500 tokens of text (the middle of what the providers publish) and a
// page-sized image.
inline constexpr std::int64_t kTokensPerPdfPage = 3000;

// One content part, if it is media: an OpenAI chat image_url or file, a
// Responses input_image or input_file, an Anthropic image or document
// (`anthropic`: whose image rule), input_audio (no tokens: priced by its
// length, which only the provider reads). nullopt: not a media part. The
// one pricing of media for Sluice's estimates (providers/prompt_media.h)
// and for the mock's counts.
struct MediaCost {
    std::int64_t images = 0;
    std::int64_t documents = 0;  // PDFs by their pages, a document's own text by ~4 characters a token
};
std::optional<MediaCost> mediaPartTokens(const nlohmann::json& part, bool anthropic);

}  // namespace sluice::tokenize
