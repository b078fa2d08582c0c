#include "tokenize/chat_tokens.h"

#include "tokenize/media_tokens.h"

#include <nlohmann/json.hpp>

#include <string>

namespace sluice::tokenize {

using nlohmann::json;

namespace {

struct Overheads {
    int perMessage = 3;
    int perName = 1;
    int reply = 3;
    // The cookbook's tool constants (num_tokens_for_tools).
    int funcInit = 7;
    int propInit = 3;
    int propKey = 3;
    int enumInit = -3;
    int enumItem = 3;
    int funcEnd = 12;
};

Overheads overheadsFor(std::string_view model, const BpeEncoding& enc)
{
    Overheads o;
    if (model.substr(0, 18) == "gpt-3.5-turbo-0301") {
        o.perMessage = 4;
        o.perName = -1;
    }
    if (enc.name() == "cl100k_base") {
        o.funcInit = 10;  // gpt-3.5-turbo and gpt-4 in the cookbook
    }
    return o;
}

std::int64_t encodeCount(const BpeEncoding& enc, const json& v)
{
    return v.is_string() ? static_cast<std::int64_t>(enc.count(v.get_ref<const std::string&>())) : 0;
}

std::string stringOr(const json& obj, const char* key)
{
    if (!obj.is_object()) {
        return {};
    }
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string withoutFinalPeriod(std::string s)
{
    if (!s.empty() && s.back() == '.') {
        s.pop_back();
    }
    return s;
}

std::int64_t contentTokens(const BpeEncoding& enc, const json& content)
{
    if (content.is_string()) {
        return encodeCount(enc, content);
    }
    std::int64_t n = 0;
    if (!content.is_array()) {
        return n;
    }
    for (const auto& part : content) {
        if (part.is_string()) {
            n += encodeCount(enc, part);
            continue;
        }
        if (!part.is_object()) {
            continue;
        }
        if (const auto t = part.find("text"); t != part.end()) {
            n += encodeCount(enc, *t);
        } else if (const auto media = mediaPartTokens(part, false)) {
            n += media->images;  // sized from the image itself when it travels in the request
        }
    }
    return n;
}

std::int64_t toolCallTokens(const BpeEncoding& enc, const json& calls)
{
    std::int64_t n = 0;
    if (!calls.is_array()) {
        return n;
    }
    for (const auto& call : calls) {
        if (!call.is_object()) {
            continue;
        }
        const auto fn = call.find("function");
        if (fn == call.end() || !fn->is_object()) {
            continue;
        }
        n += 3 + static_cast<std::int64_t>(enc.count(stringOr(*fn, "name")) + enc.count(stringOr(*fn, "arguments")));
    }
    return n;
}

std::int64_t messageTokens(const BpeEncoding& enc, const Overheads& o, const json& m)
{
    std::int64_t n = o.perMessage;
    if (!m.is_object()) {
        return n;
    }
    for (const auto& [key, value] : m.items()) {
        if (key == "content") {
            n += contentTokens(enc, value);
        } else if (key == "tool_calls") {
            n += toolCallTokens(enc, value);
        } else if (key == "function_call" && value.is_object()) {
            n += static_cast<std::int64_t>(enc.count(stringOr(value, "name")) + enc.count(stringOr(value, "arguments")));
        } else {
            n += encodeCount(enc, value);
        }
        if (key == "name") {
            n += o.perName;
        }
    }
    return n;
}

// The cookbook's num_tokens_for_tools, over "tools" (type function) and the
// legacy "functions".
std::int64_t functionTokens(const BpeEncoding& enc, const Overheads& o, const json& body)
{
    std::vector<const json*> functions;
    if (const auto tools = body.find("tools"); tools != body.end() && tools->is_array()) {
        for (const auto& t : *tools) {
            if (t.is_object()) {
                if (const auto f = t.find("function"); f != t.end() && f->is_object()) {
                    functions.push_back(&*f);
                }
            }
        }
    }
    if (const auto fs = body.find("functions"); fs != body.end() && fs->is_array()) {
        for (const auto& f : *fs) {
            if (f.is_object()) {
                functions.push_back(&f);
            }
        }
    }
    if (functions.empty()) {
        return 0;
    }
    std::int64_t n = 0;
    for (const json* f : functions) {
        n += o.funcInit;
        const std::string line = stringOr(*f, "name") + ":" + withoutFinalPeriod(stringOr(*f, "description"));
        n += static_cast<std::int64_t>(enc.count(line));
        const auto params = f->find("parameters");
        if (params == f->end() || !params->is_object()) {
            continue;
        }
        const auto props = params->find("properties");
        if (props == params->end() || !props->is_object() || props->empty()) {
            continue;
        }
        n += o.propInit;
        for (const auto& [name, prop] : props->items()) {
            n += o.propKey;
            if (prop.is_object()) {
                if (const auto e = prop.find("enum"); e != prop.end() && e->is_array()) {
                    n += o.enumInit;
                    for (const auto& item : *e) {
                        n += o.enumItem;
                        n += item.is_string() ? encodeCount(enc, item) : static_cast<std::int64_t>(enc.count(item.dump()));
                    }
                }
            }
            const std::string propLine =
                name + ":" + stringOr(prop, "type") + ":" + withoutFinalPeriod(stringOr(prop, "description"));
            n += static_cast<std::int64_t>(enc.count(propLine));
        }
    }
    return n + o.funcEnd;
}

}  // namespace

std::int64_t countChatPromptTokens(const BpeEncoding& enc, std::string_view model, const json& body)
{
    const Overheads o = overheadsFor(model, enc);
    std::int64_t n = o.reply;
    if (!body.is_object()) {
        return n;
    }
    if (const auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array()) {
        for (const auto& m : *msgs) {
            n += messageTokens(enc, o, m);
        }
    }
    return n + functionTokens(enc, o, body);
}

std::int64_t countChatPromptTokens(const BpeEncoding& enc, std::string_view model,
                                   const std::vector<ChatStringMember>& members,
                                   const std::vector<std::uint32_t>& messageEnds)
{
    // messageTokens' rules for members that are all strings: each one
    // encoded, and a name costs perName more.
    const Overheads o = overheadsFor(model, enc);
    std::int64_t n = o.reply + o.perMessage * static_cast<std::int64_t>(messageEnds.size());
    for (const ChatStringMember& m : members) {
        n += static_cast<std::int64_t>(enc.count(m.text));
        if (m.key == ChatStringMember::Key::Name) {
            n += o.perName;
        }
    }
    return n;
}

std::optional<std::int64_t> countPromptTokens(const Encodings& encodings, std::string_view model, const json& body)
{
    const BpeEncoding* enc = encodings.forModel(model);
    if (enc == nullptr) {
        return std::nullopt;
    }
    return countChatPromptTokens(*enc, model, body);
}

}  // namespace sluice::tokenize
