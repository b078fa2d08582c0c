#include "providers/openai_endpoints.h"

#include "core/json_source.h"
#include "providers/prompt_estimator.h"
#include "providers/prompt_media.h"
#include "tokenize/bpe_encoding.h"

#include <algorithm>
#include <string>

namespace sluice {

using nlohmann::json;

namespace {

// A text's tokens: the encoding's exact count when there is one, else the
// rule of thumb (about 4 characters a token).
std::int64_t textTokens(const tokenize::BpeEncoding* enc, const std::string& text)
{
    if (enc != nullptr) {
        return static_cast<std::int64_t>(enc->count(text));
    }
    return static_cast<std::int64_t>((text.size() + 3) / 4);
}

// The tokens of a Responses content value: a string, or parts whose "text"
// counts (input_text, output_text; images and files are media, estimated
// apart: providers/prompt_media.h).
std::int64_t contentTokens(const tokenize::BpeEncoding* enc, const json& v)
{
    if (v.is_string()) {
        return textTokens(enc, v.get_ref<const std::string&>());
    }
    std::int64_t n = 0;
    if (v.is_array()) {
        for (const auto& part : v) {
            if (part.is_string()) {
                n += textTokens(enc, part.get_ref<const std::string&>());
            } else if (part.is_object()) {
                if (const auto t = part.find("text"); t != part.end() && t->is_string()) {
                    n += textTokens(enc, t->get_ref<const std::string&>());
                }
            }
        }
    }
    return n;
}

// The prompt estimate of a Responses or Embeddings request: counted with
// the model's tokenizer when the estimator has it (OpenAI's models), else
// the rule of thumb. Calibration is not applied: it is learned from chat.
template <typename Count>
PromptEstimate endpointPrompt(const json& body, const std::string& model, const PromptEstimator* estimator, Count count)
{
    PromptEstimate e;
    e.ruleOfThumb = count(body, nullptr);
    e.tokens = e.ruleOfThumb;
    if (const tokenize::BpeEncoding* enc = estimator != nullptr ? estimator->encodingFor(model) : nullptr) {
        try {
            e.tokens = count(body, enc);
            e.counted = e.tokens;
            e.method = PromptCountMethod::Exact;
        } catch (const tokenize::TokenizerError&) {
            // Text the tokenizer refuses (over 4 GiB): the estimate will do.
        }
    }
    return e;
}

void requireModel(const json& body, RequestInfo& info)
{
    if (!body.is_object()) {
        throw InputError("body: must be a JSON object");
    }
    const auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        throw InputError("body.model: required (a model name)");
    }
    info.model = model->get<std::string>();
}

RequestInfo analyzeResponses(const json& body, std::int64_t defaultMaxOutputTokens, const PromptEstimator* estimator)
{
    RequestInfo info;
    info.endpoint = Endpoint::Responses;
    requireModel(body, info);
    const auto input = body.find("input");
    const bool hasInput = input != body.end() && ((input->is_string() && !input->get_ref<const std::string&>().empty()) ||
                                                 (input->is_array() && !input->empty()));
    // A follow-up turn may carry only previous_response_id and new input;
    // with neither input nor a prompt template there is nothing to answer.
    if (!hasInput && !body.contains("prompt")) {
        throw InputError("body.input: required (a string or a non-empty array of input items)");
    }
    if (const auto s = body.find("stream"); s != body.end() && !s->is_null()) {
        if (!s->is_boolean()) {
            throw InputError("body.stream: must be true or false");
        }
        info.stream = s->get<bool>();
    }
    info.maxOutputTokens = defaultMaxOutputTokens;
    info.outputUnstated = true;
    if (const auto m = body.find("max_output_tokens"); m != body.end() && !m->is_null()) {
        if (!m->is_number_integer() || m->get<std::int64_t>() < 1) {
            throw InputError("body.max_output_tokens: must be a positive whole number (got " + m->dump() + ")");
        }
        info.maxOutputTokens = m->get<std::int64_t>();
        info.outputUnstated = false;
    }
    info.prompt = endpointPrompt(body, info.model, estimator,
                                 [](const json& b, const tokenize::BpeEncoding* enc) { return countResponsesInputTokens(b, enc); });
    addPromptMedia(info.prompt, ApiFlavor::OpenAI, body);
    info.promptTokens = info.prompt.tokens;
    return info;
}

RequestInfo analyzeEmbeddings(const json& body, const PromptEstimator* estimator)
{
    RequestInfo info;
    info.endpoint = Endpoint::Embeddings;
    requireModel(body, info);
    const auto input = body.find("input");
    if (input == body.end() || !(input->is_string() || (input->is_array() && !input->empty()))) {
        throw InputError("body.input: required (a string, an array of strings, or an array of token ids)");
    }
    if (input->is_array()) {
        for (std::size_t i = 0; i < input->size(); ++i) {
            const json& item = (*input)[i];
            const bool ids = item.is_array() && !item.empty();
            if (!item.is_string() && !item.is_number_integer() && !ids) {
                throw InputError("body.input[" + std::to_string(i) +
                                 "]: must be a string, a token id, or an array of token ids (got " + item.dump() + ")");
            }
        }
    }
    if (const auto s = body.find("stream"); s != body.end() && s->is_boolean() && s->get<bool>()) {
        throw InputError("body.stream: the embeddings API does not stream");
    }
    info.maxOutputTokens = 0;  // an embedding has no output tokens
    info.prompt = endpointPrompt(body, info.model, estimator,
                                 [](const json& b, const tokenize::BpeEncoding* enc) { return countEmbeddingsInputTokens(b, enc); });
    info.promptTokens = info.prompt.tokens;
    return info;
}

}  // namespace

std::int64_t estimateResponsesInputTokens(const json& body)
{
    return countResponsesInputTokens(body, nullptr);
}

std::int64_t estimateEmbeddingsInputTokens(const json& body)
{
    return countEmbeddingsInputTokens(body, nullptr);
}

std::int64_t countResponsesInputTokens(const json& body, const tokenize::BpeEncoding* enc)
{
    std::int64_t tokens = 3;  // reply priming
    if (const auto ins = body.find("instructions"); ins != body.end() && ins->is_string()) {
        tokens += 3 + textTokens(enc, ins->get_ref<const std::string&>());
    }
    const auto input = body.find("input");
    if (input == body.end()) {
        return tokens;
    }
    if (input->is_string()) {
        return tokens + 3 + textTokens(enc, input->get_ref<const std::string&>());
    }
    if (!input->is_array()) {
        return tokens;
    }
    // Messages, tool calls and their outputs: every text field of an item.
    for (const auto& item : *input) {
        tokens += 3;
        if (!item.is_object()) {
            continue;
        }
        for (const char* field : {"role", "content", "name", "arguments", "output"}) {
            if (const auto f = item.find(field); f != item.end()) {
                tokens += contentTokens(enc, *f);
            }
        }
    }
    return tokens;
}

std::int64_t countEmbeddingsInputTokens(const json& body, const tokenize::BpeEncoding* enc)
{
    const auto input = body.find("input");
    if (input == body.end()) {
        return 0;
    }
    const auto one = [enc](const json& v) -> std::int64_t {
        if (v.is_string()) {
            // An empty string still costs the provider a token.
            return std::max<std::int64_t>(1, textTokens(enc, v.get_ref<const std::string&>()));
        }
        if (v.is_array()) {
            return static_cast<std::int64_t>(v.size());  // token ids
        }
        return v.is_number_integer() ? 1 : 0;
    };
    if (!input->is_array()) {
        return one(*input);
    }
    std::int64_t tokens = 0;
    for (const auto& item : *input) {
        tokens += one(item);
    }
    return tokens;
}

RequestInfo analyzeResponsesCompaction(const json& body, std::int64_t defaultMaxOutputTokens,
                                       const PromptEstimator* estimator)
{
    RequestInfo info;
    info.endpoint = Endpoint::Responses;
    info.method = "POST";
    info.objectPath = "/compact";
    requireModel(body, info);
    const auto input = body.find("input");
    const bool hasInput = input != body.end() && ((input->is_string() && !input->get_ref<const std::string&>().empty()) ||
                                                 (input->is_array() && !input->empty()));
    const auto previous = body.find("previous_response_id");
    const bool continues = previous != body.end() && previous->is_string() && !previous->get_ref<const std::string&>().empty();
    if (!hasInput && !continues) {
        throw InputError("body.input: required, or body.previous_response_id: what is there to compact?");
    }
    if (const auto s = body.find("stream"); s != body.end() && s->is_boolean() && s->get<bool>()) {
        throw InputError("body.stream: a compaction does not stream");
    }
    // The compacted output has no cap the request can set: the model's
    // default output reservation, settled to the usage reported.
    info.maxOutputTokens = defaultMaxOutputTokens;
    info.prompt = endpointPrompt(body, info.model, estimator,
                                 [](const json& b, const tokenize::BpeEncoding* enc) { return countResponsesInputTokens(b, enc); });
    addPromptMedia(info.prompt, ApiFlavor::OpenAI, body);
    info.promptTokens = info.prompt.tokens;
    return info;
}

bool isCompaction(ApiFlavor flavor, Endpoint endpoint, std::string_view method, std::string_view objectPath) noexcept
{
    return flavor == ApiFlavor::OpenAI && endpoint == Endpoint::Responses && (method.empty() || method == "POST") &&
           objectPath == "/compact";
}

RequestInfo analyzeEndpointRequest(ApiFlavor flavor, Endpoint endpoint, const json& body,
                                   std::int64_t defaultMaxOutputTokens, const PromptEstimator* estimator)
{
    if (endpoint == Endpoint::Completion) {
        return analyzeRequest(flavor, body, defaultMaxOutputTokens, estimator);
    }
    if (flavor != ApiFlavor::OpenAI) {
        throw InputError(std::string("endpoint: ") + std::string(endpointPath(flavor, endpoint)) +
                         " is an OpenAI API; the provider speaks " + std::string(flavorName(flavor)));
    }
    return endpoint == Endpoint::Responses ? analyzeResponses(body, defaultMaxOutputTokens, estimator)
                                           : analyzeEmbeddings(body, estimator);
}

}  // namespace sluice
