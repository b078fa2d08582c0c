#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace sluice::tokenize {

namespace {

constexpr std::array<std::int8_t, 256> decodingTable()
{
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
        t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
    }
    // The URL-safe alphabet's two, which some clients send.
    t[static_cast<unsigned char>('-')] = 62;
    t[static_cast<unsigned char>('_')] = 63;
    return t;
}

constexpr auto kDecoding = decodingTable();

std::uint32_t be16(std::string_view b, std::size_t at)
{
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 8) |
           static_cast<unsigned char>(b[at + 1]);
}

std::uint32_t le16(std::string_view b, std::size_t at)
{
    return static_cast<unsigned char>(b[at]) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8);
}

std::uint32_t le24(std::string_view b, std::size_t at)
{
    return le16(b, at) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16);
}

std::uint32_t be32(std::string_view b, std::size_t at)
{
    return (be16(b, at) << 16) | be16(b, at + 2);
}

std::optional<ImageSize> sized(std::int64_t w, std::int64_t h)
{
    if (w <= 0 || h <= 0) {
        return std::nullopt;
    }
    return ImageSize{w, h};
}

std::optional<ImageSize> jpegSize(std::string_view b)
{
    std::size_t pos = 2;
    while (pos + 4 <= b.size()) {
        if (static_cast<unsigned char>(b[pos]) != 0xFF) {
            return std::nullopt;
        }
        const auto marker = static_cast<unsigned char>(b[pos + 1]);
        if (marker == 0xFF) {
            ++pos;  // fill byte
            continue;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9)) {
            pos += 2;  // a marker with no segment
            continue;
        }
        const std::size_t length = be16(b, pos + 2);
        // Start of frame (every coding but the huffman-table, arithmetic
        // and extension markers that share the range): precision, height, width.
        const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame) {
            if (pos + 9 > b.size()) {
                return std::nullopt;
            }
            return sized(be16(b, pos + 7), be16(b, pos + 5));
        }
        if (length < 2) {
            return std::nullopt;
        }
        pos += 2 + length;
    }
    return std::nullopt;
}

std::optional<ImageSize> webpSize(std::string_view b)
{
    if (b.size() < 30) {
        return std::nullopt;
    }
    const std::string_view chunk = b.substr(12, 4);
    if (chunk == "VP8 ") {
        return sized(le16(b, 26) & 0x3FFF, le16(b, 28) & 0x3FFF);
    }
    if (chunk == "VP8L") {
        const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(b[21 + i])); };
        return sized(1 + (((byte(1) & 0x3F) << 8) | byte(0)),
                     1 + (((byte(3) & 0x0F) << 10) | (byte(2) << 2) | ((byte(1) & 0xC0) >> 6)));
    }
    if (chunk == "VP8X") {
        return sized(1 + static_cast<std::int64_t>(le24(b, 24)), 1 + static_cast<std::int64_t>(le24(b, 27)));
    }
    return std::nullopt;
}

// Every "/Type /Page" (spaces optional) that is not "/Type /Pages".
std::int64_t pageObjects(std::string_view pdf)
{
    std::int64_t n = 0;
    for (std::size_t pos = pdf.find("/Type"); pos != std::string_view::npos; pos = pdf.find("/Type", pos + 5)) {
        std::size_t p = pos + 5;
        while (p < pdf.size() && (pdf[p] == ' ' || pdf[p] == '\r' || pdf[p] == '\n' || pdf[p] == '\t')) {
            ++p;
        }
        if (pdf.substr(p, 5) == "/Page" && (p + 5 >= pdf.size() || pdf[p + 5] != 's')) {
            ++n;
        }
    }
    return n;
}

// The largest "/Count N" in the file: the page tree's root counts them all.
std::int64_t largestCount(std::string_view pdf)
{
    std::int64_t most = 0;
    for (std::size_t pos = pdf.find("/Count"); pos != std::string_view::npos; pos = pdf.find("/Count", pos + 6)) {
        std::size_t p = pos + 6;
        while (p < pdf.size() && pdf[p] == ' ') {
            ++p;
        }
        std::int64_t v = 0;
        if (std::from_chars(pdf.data() + p, pdf.data() + pdf.size(), v).ec == std::errc()) {
            most = std::max(most, v);
        }
    }
    return most;
}

}  // namespace

std::string decodeBase64(std::string_view text, std::size_t maxBytes)
{
    std::string out;
    out.reserve(std::min(maxBytes, text.size() / 4 * 3 + 3));
    std::uint32_t bits = 0;
    int held = 0;
    for (const char c : text) {
        const std::int8_t v = kDecoding[static_cast<unsigned char>(c)];
        if (v < 0) {
            break;  // padding, or the end of the payload
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        held += 6;
        if (held >= 8) {
            held -= 8;
            if (out.size() >= maxBytes) {
                break;
            }
            out.push_back(static_cast<char>((bits >> held) & 0xFF));
        }
    }
    return out;
}

std::optional<std::string_view> dataUrlPayload(std::string_view url)
{
    if (url.substr(0, 5) != "data:") {
        return std::nullopt;
    }
    const std::size_t comma = url.find(',');
    if (comma == std::string_view::npos || comma < 7 || url.substr(comma - 7, 7) != ";base64") {
        return std::nullopt;
    }
    return url.substr(comma + 1);
}

std::optional<ImageSize> imageSize(std::string_view b)
{
    if (b.size() >= 24 && b.substr(0, 8) == "\x89PNG\r\n\x1a\n" && b.substr(12, 4) == "IHDR") {
        return sized(be32(b, 16), be32(b, 20));
    }
    if (b.size() >= 4 && static_cast<unsigned char>(b[0]) == 0xFF && static_cast<unsigned char>(b[1]) == 0xD8) {
        return jpegSize(b);
    }
    if (b.size() >= 10 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a")) {
        return sized(le16(b, 6), le16(b, 8));
    }
    if (b.size() >= 16 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
        return webpSize(b);
    }
    return std::nullopt;
}

std::optional<ImageSize> imageSizeOfBase64(std::string_view base64)
{
    // A JPEG's frame header can follow an EXIF segment of up to 64 KiB.
    constexpr std::size_t kHeaderBytes = 70 * 1024;
    return imageSize(decodeBase64(base64, kHeaderBytes));
}

std::int64_t openAiImageTokens(std::optional<ImageSize> size, bool lowDetail)
{
    if (lowDetail) {
        return 85;
    }
    if (!size) {
        return 765;
    }
    double w = static_cast<double>(size->width);
    double h = static_cast<double>(size->height);
    if (const double longest = std::max(w, h); longest > 2048) {
        w *= 2048 / longest;
        h *= 2048 / longest;
    }
    if (const double shortest = std::min(w, h); shortest > 768) {
        w *= 768 / shortest;
        h *= 768 / shortest;
    }
    const auto tiles = static_cast<std::int64_t>(std::ceil(w / 512) * std::ceil(h / 512));
    return 170 * tiles + 85;
}

std::int64_t anthropicImageTokens(std::optional<ImageSize> size)
{
    constexpr std::int64_t kMost = 1600;
    if (!size) {
        return kMost;
    }
    double w = static_cast<double>(size->width);
    double h = static_cast<double>(size->height);
    if (const double longest = std::max(w, h); longest > 1568) {
        w *= 1568 / longest;
        h *= 1568 / longest;
    }
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(w * h / 750)), 1, kMost);
}

std::int64_t pdfPages(std::string_view base64)
{
    const std::string pdf = decodeBase64(base64, base64.size());
    if (const std::int64_t objects = pageObjects(pdf); objects > 0) {
        return objects;
    }
    return std::max<std::int64_t>(1, largestCount(pdf));
}

namespace {

std::string_view stringAt(const nlohmann::json& obj, const char* key)
{
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view();
}

std::int64_t imageTokens(std::optional<std::string_view> base64, bool lowDetail, bool anthropic)
{
    const auto size = base64 ? imageSizeOfBase64(*base64) : std::nullopt;
    return anthropic ? anthropicImageTokens(size) : openAiImageTokens(size, lowDetail);
}

// A file sent inline as a data URL: a PDF is read page by page; any other
// (or one by id) costs what only the provider knows.
std::int64_t dataFileTokens(std::string_view url)
{
    if (url.substr(0, 20) != "data:application/pdf") {
        return 0;
    }
    const auto payload = dataUrlPayload(url);
    return payload ? pdfPages(*payload) * kTokensPerPdfPage : 0;
}

std::int64_t documentTokens(const nlohmann::json& p)
{
    const auto source = p.find("source");
    if (source == p.end() || !source->is_object()) {
        return 0;
    }
    const std::string_view kind = stringAt(*source, "type");
    if (kind == "base64" && stringAt(*source, "media_type") == "application/pdf") {
        return pdfPages(stringAt(*source, "data")) * kTokensPerPdfPage;
    }
    std::size_t chars = 0;
    if (kind == "text") {
        chars = stringAt(*source, "data").size();
    } else if (kind == "content") {
        const auto blocks = source->find("content");
        if (blocks != source->end() && blocks->is_string()) {
            chars = blocks->get_ref<const std::string&>().size();
        } else if (blocks != source->end() && blocks->is_array()) {
            for (const auto& b : *blocks) {
                chars += stringAt(b, "text").size();
            }
        }
    } else if (kind == "url") {
        return kTokensPerPdfPage;  // unread: a page's worth
    }
    return static_cast<std::int64_t>((chars + 3) / 4);
}

}  // namespace

std::optional<MediaCost> mediaPartTokens(const nlohmann::json& p, bool anthropic)
{
    const std::string_view type = stringAt(p, "type");
    if (type == "image_url") {
        const auto img = p.find("image_url");
        const std::string_view url = img == p.end() ? std::string_view()
                                     : img->is_string() ? std::string_view(img->get_ref<const std::string&>())
                                                        : stringAt(*img, "url");
        return MediaCost{imageTokens(dataUrlPayload(url), img != p.end() && stringAt(*img, "detail") == "low", anthropic), 0};
    }
    if (type == "input_image") {
        return MediaCost{imageTokens(dataUrlPayload(stringAt(p, "image_url")), stringAt(p, "detail") == "low", anthropic), 0};
    }
    if (type == "image") {
        const auto source = p.find("source");
        const bool inline64 = source != p.end() && stringAt(*source, "type") == "base64";
        return MediaCost{imageTokens(inline64 ? std::optional(stringAt(*source, "data")) : std::nullopt, false, anthropic), 0};
    }
    if (type == "document") {
        return MediaCost{0, documentTokens(p)};
    }
    if (type == "file") {
        const auto file = p.find("file");
        return MediaCost{0, dataFileTokens(file != p.end() ? stringAt(*file, "file_data") : std::string_view())};
    }
    if (type == "input_file") {
        return MediaCost{0, dataFileTokens(stringAt(p, "file_data"))};
    }
    if (type == "input_audio") {
        return MediaCost{};
    }
    return std::nullopt;
}

}  // namespace sluice::tokenize
