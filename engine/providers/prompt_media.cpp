#include "providers/prompt_media.h"

#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace sluice {

using nlohmann::json;

namespace {

std::string_view stringAt(const json& obj, const char* key)
{
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view();
}

class MediaWalk {
public:
    explicit MediaWalk(ApiFlavor flavor) : m_flavor(flavor) {}

    void walk(const json& v, int depth = 0)
    {
        // Deep enough for any real conversation; a hostile nesting ends here.
        if (depth > 64) {
            return;
        }
        if (v.is_array()) {
            for (const auto& item : v) {
                walk(item, depth + 1);
            }
            return;
        }
        if (!v.is_object()) {
            return;
        }
        // A message (or a tool result) whose content is text carries no
        // media and holds none: most chat traffic stops here, at one lookup.
        const auto c = v.find("content");
        if (c != v.end() && c->is_string()) {
            return;
        }
        part(v);
        if (c != v.end() && c->is_array()) {
            walk(*c, depth + 1);
        }
    }

    PromptMedia result() const { return m_media; }

private:
    void part(const json& p)
    {
        const std::string_view type = stringAt(p, "type");
        if (type == "image_url") {
            const auto img = p.find("image_url");
            const std::string_view url = img == p.end() ? std::string_view()
                                         : img->is_string() ? std::string_view(img->get_ref<const std::string&>())
                                                            : stringAt(*img, "url");
            image(tokenize::dataUrlPayload(url), img != p.end() && stringAt(*img, "detail") == "low");
        } else if (type == "input_image") {
            image(tokenize::dataUrlPayload(stringAt(p, "image_url")), stringAt(p, "detail") == "low");
        } else if (type == "image") {
            const auto source = p.find("source");
            const bool inline64 = source != p.end() && stringAt(*source, "type") == "base64";
            image(inline64 ? std::optional(stringAt(*source, "data")) : std::nullopt, false);
        } else if (type == "document") {
            document(p);
        } else if (type == "file") {
            const auto file = p.find("file");
            dataFile(file != p.end() ? stringAt(*file, "file_data") : std::string_view());
        } else if (type == "input_file") {
            dataFile(stringAt(p, "file_data"));
        } else if (type == "input_audio") {
            ++m_media.parts;  // priced by its length, which only the provider reads
        }
    }

    void image(std::optional<std::string_view> base64, bool lowDetail)
    {
        ++m_media.parts;
        const auto size = base64 ? tokenize::imageSizeOfBase64(*base64) : std::nullopt;
        m_media.images += m_flavor == ApiFlavor::Anthropic ? tokenize::anthropicImageTokens(size)
                                                           : tokenize::openAiImageTokens(size, lowDetail);
    }

    // A file sent inline as a data URL: a PDF is read page by page; any
    // other (or one by id) costs what only the provider knows.
    void dataFile(std::string_view url)
    {
        ++m_media.parts;
        if (url.substr(0, 20) == "data:application/pdf") {
            if (const auto payload = tokenize::dataUrlPayload(url)) {
                m_media.documents += tokenize::pdfPages(*payload) * tokenize::kTokensPerPdfPage;
            }
        }
    }

    void document(const json& p)
    {
        ++m_media.parts;
        const auto source = p.find("source");
        if (source == p.end() || !source->is_object()) {
            return;
        }
        const std::string_view kind = stringAt(*source, "type");
        if (kind == "base64" && stringAt(*source, "media_type") == "application/pdf") {
            m_media.documents += tokenize::pdfPages(stringAt(*source, "data")) * tokenize::kTokensPerPdfPage;
        } else if (kind == "text") {
            m_media.documents += static_cast<std::int64_t>((stringAt(*source, "data").size() + 3) / 4);
        } else if (kind == "content") {
            if (const auto c = source->find("content"); c != source->end()) {
                m_media.documents += estimatePromptTokens(m_flavor, json{{"messages", json::array({{{"content", *c}}})}});
            }
        } else if (kind == "url") {
            m_media.documents += tokenize::kTokensPerPdfPage;  // unread: a page's worth
        }
    }

    ApiFlavor m_flavor;
    PromptMedia m_media;
};

}  // namespace

PromptMedia promptMedia(ApiFlavor flavor, const json& body)
{
    MediaWalk walk(flavor);
    if (!body.is_object()) {
        return walk.result();
    }
    // Chat and Anthropic requests carry messages; Responses requests input.
    auto it = body.find("messages");
    if (it == body.end()) {
        it = body.find("input");
    }
    if (it != body.end() && it->is_array()) {
        walk.walk(*it);
    }
    return walk.result();
}

void addPromptMedia(PromptEstimate& e, ApiFlavor flavor, const json& body)
{
    const PromptMedia media = promptMedia(flavor, body);
    e.media = media.tokens();
    e.mediaParts = media.parts;
    e.tokens += e.media;
}

}  // namespace sluice
