#include "providers/prompt_media.h"

#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

namespace sluice {

using nlohmann::json;

namespace {

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
        if (const auto cost = tokenize::mediaPartTokens(p, m_flavor == ApiFlavor::Anthropic)) {
            ++m_media.parts;
            m_media.images += cost->images;
            m_media.documents += cost->documents;
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
