// Media in prompts (tokenize/media_tokens.h, providers/prompt_media.h):
// images sized from their own headers (PNG, JPEG behind its metadata, GIF,
// the three WebP kinds) and priced by each provider's published examples;
// PDFs by their pages; and what each API's request shapes put where, so a
// vision or document request is reserved near what the provider charges
// rather than as its few words of text.
#include "providers/prompt_estimator.h"
#include "providers/prompt_media.h"
#include "support/test_images.h"
#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <string>

using namespace sluice;
using namespace sluice::tokenize;
using nlohmann::json;

namespace {

std::string bytes(std::initializer_list<int> values)
{
    std::string s;
    for (const int v : values) {
        s.push_back(static_cast<char>(v));
    }
    return s;
}

std::string be32(std::uint32_t v)
{
    return bytes({int(v >> 24), int((v >> 16) & 0xFF), int((v >> 8) & 0xFF), int(v & 0xFF)});
}

// The first bytes of each format, as far as the size and a little beyond.
std::string png(std::uint32_t w, std::uint32_t h)
{
    return test::pngHeader(w, h);
}

// A JPEG whose frame header follows an EXIF segment of `exifBytes` and a
// fill byte, as a camera's does.
std::string jpeg(int w, int h, std::size_t exifBytes)
{
    std::string s = bytes({0xFF, 0xD8, 0xFF, 0xE1});
    const std::size_t length = exifBytes + 2;
    s += bytes({int(length >> 8), int(length & 0xFF)}) + std::string(exifBytes, 'x');
    s += bytes({0xFF, 0xFF, 0xC2, 0x00, 0x11, 0x08, h >> 8, h & 0xFF, w >> 8, w & 0xFF, 0x03});
    return s;
}

std::string gif(int w, int h)
{
    return "GIF89a" + bytes({w & 0xFF, w >> 8, h & 0xFF, h >> 8, 0xF7, 0, 0});
}

std::string webp(const std::string& chunk, const std::string& payload)
{
    return "RIFF" + be32(0) + "WEBP" + chunk + be32(0) + payload + std::string(8, '\0');
}

std::string b64(const std::string& raw)
{
    return test::base64Of(raw);
}

std::string pdf(int pages, bool compressed)
{
    std::string s = "%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n";
    if (compressed) {
        // Page objects inside a compressed object stream: only the
        // cross-reference stream's trailer-like dictionary shows a count.
        return s + "5 0 obj <</Type /ObjStm /N 9 /First 40 /Filter /FlateDecode>> stream\nxx\nendstream\n"
                   "9 0 obj <</Type /Pages /Count " + std::to_string(pages) + ">> endobj\n%%EOF";
    }
    s += "2 0 obj <</Type /Pages /Kids [] /Count " + std::to_string(pages) + ">> endobj\n";
    for (int i = 0; i < pages; ++i) {
        s += std::to_string(3 + i) + (i % 2 ? " 0 obj <</Type/Page /Parent 2 0 R>> endobj\n"
                                            : " 0 obj <</Type /Page\n/Parent 2 0 R>> endobj\n");
    }
    return s + "%%EOF";
}

}  // namespace

class TestMediaTokens : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void imagesAreSizedFromTheirHeaders();
    void base64AndDataUrls();
    void imageTokensFollowEachProvidersRule();
    void pdfPagesAreCounted();
    void chatImagesAndFilesAreEstimated();
    void responsesInputMediaIsEstimated();
    void anthropicImagesDocumentsAndToolResults();
};

void TestMediaTokens::imagesAreSizedFromTheirHeaders()
{
    const auto is = [](const std::optional<ImageSize>& s, std::int64_t w, std::int64_t h) {
        return s && s->width == w && s->height == h;
    };
    QVERIFY(is(imageSize(png(1024, 768)), 1024, 768));
    QVERIFY(is(imageSize(jpeg(4032, 3024, 20000)), 4032, 3024));
    QVERIFY(is(imageSize(gif(320, 200)), 320, 200));
    // VP8 (lossy): a frame tag, the start code, 14-bit sizes.
    QVERIFY(is(imageSize(webp("VP8 ", bytes({0, 0, 0, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01}))), 640, 480));
    // VP8L (lossless): a signature byte, then width-1 and height-1 in 14 bits each.
    const std::uint32_t bits = (800 - 1) | ((600 - 1) << 14);
    QVERIFY(is(imageSize(webp("VP8L", bytes({0x2F, int(bits & 0xFF), int((bits >> 8) & 0xFF), int((bits >> 16) & 0xFF),
                                             int(bits >> 24)}))),
               800, 600));
    // VP8X (extended): flags, then canvas width-1 and height-1 in 24 bits.
    QVERIFY(is(imageSize(webp("VP8X", bytes({0, 0, 0, 0, 0x7F, 0x07, 0, 0x37, 0x04, 0}))), 1920, 1080));
    // Not an image, or cut before its size: nothing is guessed.
    QVERIFY(!imageSize("plain text, not an image"));
    QVERIFY(!imageSize(png(10, 10).substr(0, 20)));
    QVERIFY(!imageSize(jpeg(100, 100, 5000).substr(0, 3000)));
    QVERIFY(!imageSize(png(0, 10)));
}

void TestMediaTokens::base64AndDataUrls()
{
    QCOMPARE(decodeBase64("aGVsbG8gd29ybGQ=", 100), std::string("hello world"));
    QCOMPARE(decodeBase64("aGVsbG8gd29ybGQ", 100), std::string("hello world"));  // unpadded
    QCOMPARE(decodeBase64("aGVsbG8gd29ybGQ=", 5), std::string("hello"));
    QCOMPARE(decodeBase64("-_8", 10), bytes({0xFB, 0xFF}));  // the URL-safe alphabet
    QCOMPARE(decodeBase64("aGVs bG8=", 10), std::string("hel"));  // stops where the alphabet ends
    QCOMPARE(dataUrlPayload("data:image/png;base64,QUJD").value_or("none"), std::string_view("QUJD"));
    QVERIFY(!dataUrlPayload("https://example.com/cat.png"));
    QVERIFY(!dataUrlPayload("data:text/plain,hello"));
    // A JPEG's size found behind 60 KB of metadata, through base64.
    const auto big = imageSizeOfBase64(b64(jpeg(3000, 2000, 60000)));
    QVERIFY(big && big->width == 3000 && big->height == 2000);
}

// The providers' own worked examples.
void TestMediaTokens::imageTokensFollowEachProvidersRule()
{
    // OpenAI (GPT-4o class): 1024×1024 high is 765; 2048×4096 is 1105;
    // low detail is 85 whatever the size; an image by URL is taken as 765.
    QCOMPARE(openAiImageTokens(ImageSize{1024, 1024}, false), std::int64_t{765});
    QCOMPARE(openAiImageTokens(ImageSize{2048, 4096}, false), std::int64_t{1105});
    QCOMPARE(openAiImageTokens(ImageSize{4096, 8192}, true), std::int64_t{85});
    QCOMPARE(openAiImageTokens(ImageSize{512, 512}, false), std::int64_t{255});
    QCOMPARE(openAiImageTokens(std::nullopt, false), std::int64_t{765});
    // Anthropic: 200×200 ≈ 54, 1000×1000 ≈ 1334, 1092×1092 ≈ 1590; a
    // larger one is scaled down to about 1,600; unknown, 1,600.
    QCOMPARE(anthropicImageTokens(ImageSize{200, 200}), std::int64_t{54});
    QCOMPARE(anthropicImageTokens(ImageSize{1000, 1000}), std::int64_t{1334});
    QCOMPARE(anthropicImageTokens(ImageSize{1092, 1092}), std::int64_t{1590});
    QCOMPARE(anthropicImageTokens(ImageSize{4032, 3024}), std::int64_t{1600});
    QCOMPARE(anthropicImageTokens(ImageSize{8000, 100}), std::int64_t{41});
    QCOMPARE(anthropicImageTokens(std::nullopt), std::int64_t{1600});
}

void TestMediaTokens::pdfPagesAreCounted()
{
    QCOMPARE(pdfPages(b64(pdf(7, false))), std::int64_t{7});
    QCOMPARE(pdfPages(b64(pdf(12, true))), std::int64_t{12});
    QCOMPARE(pdfPages(b64("not a pdf at all")), std::int64_t{1});
}

void TestMediaTokens::chatImagesAndFilesAreEstimated()
{
    const json body = {
        {"model", "llama-3-70b"},
        {"messages",
         json::array({{{"role", "user"},
                       {"content", json::array({{{"type", "text"}, {"text", "Compare these."}},
                                                {{"type", "image_url"},
                                                 {"image_url", {{"url", "data:image/png;base64," + b64(png(2048, 4096))}}}},
                                                {{"type", "image_url"},
                                                 {"image_url", {{"url", "https://example.com/a.jpg"}, {"detail", "low"}}}},
                                                {{"type", "file"},
                                                 {"file", {{"filename", "r.pdf"},
                                                           {"file_data", "data:application/pdf;base64," + b64(pdf(2, false))}}}},
                                                {{"type", "input_audio"}, {"input_audio", {{"data", "AAAA"}, {"format", "wav"}}}}})}}})}};
    const PromptMedia m = promptMedia(ApiFlavor::OpenAI, body);
    QCOMPARE(m.images, std::int64_t{1105 + 85});
    QCOMPARE(m.documents, 2 * kTokensPerPdfPage);
    QCOMPARE(m.parts, 4);
    // A model with no tokenizer: the text's rule of thumb plus the media.
    const PromptEstimator estimator(nullptr, nullptr);
    const PromptEstimate e = estimator.estimate(ApiFlavor::OpenAI, "llama-3-70b", body);
    QCOMPARE(e.media, m.tokens());
    QCOMPARE(e.mediaParts, 4);
    QCOMPARE(e.tokens, e.ruleOfThumb + m.tokens());
    QVERIFY(e.ruleOfThumb < 20);
}

void TestMediaTokens::responsesInputMediaIsEstimated()
{
    const json body = {
        {"model", "gpt-4.1"},
        {"input", json::array({{{"role", "user"},
                                {"content", json::array({{{"type", "input_text"}, {"text", "What is in this image?"}},
                                                         {{"type", "input_image"},
                                                          {"image_url", "data:image/gif;base64," + b64(gif(1024, 1024))}},
                                                         {{"type", "input_file"},
                                                          {"file_data", "data:application/pdf;base64," + b64(pdf(3, false))}},
                                                         {{"type", "input_file"}, {"file_id", "file-abc"}}})}}})}};
    const PromptMedia m = promptMedia(ApiFlavor::OpenAI, body);
    QCOMPARE(m.images, std::int64_t{765});
    QCOMPARE(m.documents, 3 * kTokensPerPdfPage);
    QCOMPARE(m.parts, 3);
}

void TestMediaTokens::anthropicImagesDocumentsAndToolResults()
{
    const json image = {{"type", "image"},
                        {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", b64(png(1000, 1000))}}}};
    const json body = {
        {"model", "claude-sonnet-4-5"},
        {"max_tokens", 100},
        {"messages",
         json::array({{{"role", "user"},
                       {"content", json::array({image,
                                                {{"type", "document"},
                                                 {"source", {{"type", "base64"}, {"media_type", "application/pdf"},
                                                             {"data", b64(pdf(4, false))}}}},
                                                {{"type", "document"},
                                                 {"source", {{"type", "text"}, {"media_type", "text/plain"},
                                                             {"data", std::string(400, 'w')}}}},
                                                {{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/y.png"}}}},
                                                {{"type", "text"}, {"text", "Summarise."}}})}},
                      {{"role", "assistant"},
                       {"content", json::array({{{"type", "tool_use"}, {"id", "t1"}, {"name", "screenshot"},
                                                 {"input", {{"url", "https://example.com"}}}}})}},
                      {{"role", "user"},
                       {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", "t1"},
                                                 {"content", json::array({image})}}})}}})}};
    const PromptMedia m = promptMedia(ApiFlavor::Anthropic, body);
    QCOMPARE(m.images, std::int64_t{1334 + 1600 + 1334});
    QCOMPARE(m.documents, 4 * kTokensPerPdfPage + 100);
    QCOMPARE(m.parts, 5);
    // The rule of thumb now reads a tool call's input and the tool
    // definitions (a coding agent's can outweigh its conversation).
    json withTools = body;
    withTools["tools"] = json::array({{{"name", "screenshot"},
                                       {"description", std::string(4000, 'd')},
                                       {"input_schema", {{"type", "object"}}}}});
    QVERIFY(estimatePromptTokens(ApiFlavor::Anthropic, withTools) > estimatePromptTokens(ApiFlavor::Anthropic, body) + 1000);
    json toolText = {{"model", "claude-sonnet-4-5"},
                     {"messages", json::array({{{"role", "user"},
                                                {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", "t"},
                                                                          {"content", std::string(4000, 'r')}}})}}})}};
    QVERIFY(estimatePromptTokens(ApiFlavor::Anthropic, toolText) >= 1000);
}

QTEST_APPLESS_MAIN(TestMediaTokens)
#include "tst_media_tokens.moc"
