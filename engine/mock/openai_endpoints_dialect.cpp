// OpenAI's Responses and Embeddings APIs. Keys, headers, limits and error
// bodies are the Chat Completions dialect's (the same provider); what
// differs is the request schema, the answer's shape, and the Responses
// API's typed stream events (response.created … response.output_text.delta
// … response.completed, whose response carries the usage).
#include "mock/dialect.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace sluice::mock {

namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

ApiError invalid(std::string_view message, std::string_view param, std::string_view code)
{
    OJson error{{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", nullptr}};
    if (!param.empty()) {
        error["param"] = param;
    }
    if (!code.empty()) {
        error["code"] = code;
    }
    return ApiError{400, OJson{{"error", std::move(error)}}.dump()};
}

// What both APIs share with Chat Completions: the same keys, headers and
// errors.
class OpenAiFamily : public Dialect {
public:
    Flavour flavour() const noexcept override { return Flavour::OpenAI; }
    std::optional<std::string> apiKey(const net::InboundRequest& request) const override
    {
        return openAiDialect().apiKey(request);
    }
    bool hasRequiredHeaders(const net::InboundRequest& request) const override
    {
        return openAiDialect().hasRequiredHeaders(request);
    }
    ApiError error(ErrorCase what, const ErrorContext& context) const override
    {
        return openAiDialect().error(what, context);
    }
    std::string_view requestIdHeader() const noexcept override { return openAiDialect().requestIdHeader(); }
    void addRateLimitHeaders(net::HttpHeaders& headers, const LimitStates& states, WallTime now,
                             bool minusOne) const override
    {
        openAiDialect().addRateLimitHeaders(headers, states, now, minusOne);
    }
    void addCommonHeaders(net::HttpHeaders& headers, std::string_view requestId,
                          const MockConfig& config) const override
    {
        openAiDialect().addCommonHeaders(headers, requestId, config);
    }
    std::string modelList(const MockConfig& config, std::string_view key) const override
    {
        return openAiDialect().modelList(config, key);
    }

protected:
    // The body as a JSON object with a model the mock serves as OpenAI, or
    // the error OpenAI answers.
    static std::variant<Json, ApiError> document(std::string_view body, std::string_view requestId,
                                                 const Dialect& self)
    {
        Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
        if (doc.is_discarded()) {
            return self.error(ErrorCase::MalformedJson, ErrorContext{.requestId = requestId});
        }
        if (!doc.is_object()) {
            return invalid("Invalid type for request body: expected an object.", {}, "invalid_type");
        }
        const auto model = doc.find("model");
        if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
            return invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter");
        }
        return doc;
    }

    static std::optional<ApiError> knownModel(const MockConfig& config, const std::string& model,
                                              std::string_view requestId, const Dialect& self)
    {
        const auto m = config.models.find(model);
        if (m == config.models.end() || m->second.flavour != Flavour::OpenAI) {
            return self.error(ErrorCase::UnknownModel, ErrorContext{.model = model, .requestId = requestId});
        }
        return std::nullopt;
    }
};

std::string event(const OJson& data)
{
    return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump() + "\n\n";
}

// Reads "instructions" and "input" into r.inputTokens, or says what is
// wrong with them.
std::optional<ApiError> readInput(const Json& doc, CompletionRequest& r)
{
    // As the provider counts: 3 per item and its role, 3 to prime the
    // reply, the instructions as one more item.
    std::int64_t tokens = 3;
    if (const auto ins = doc.find("instructions"); ins != doc.end() && !ins->is_null()) {
        if (!ins->is_string()) {
            return invalid("Invalid type for 'instructions': expected a string.", "instructions", "invalid_type");
        }
        tokens += 3 + dialect::textTokens(ins->get_ref<const std::string&>());
    }
    const auto input = doc.find("input");
    if (input == doc.end() || input->is_null()) {
        return invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
    }
    if (input->is_string()) {
        tokens += 3 + dialect::textTokens(input->get_ref<const std::string&>());
    } else if (input->is_array() && !input->empty()) {
        for (std::size_t i = 0; i < input->size(); ++i) {
            const Json& item = (*input)[i];
            if (!item.is_object()) {
                return invalid("Invalid type for 'input[" + std::to_string(i) + "]': expected an object.",
                               "input[" + std::to_string(i) + "]", "invalid_type");
            }
            tokens += 3;
            if (const auto role = item.find("role"); role != item.end() && role->is_string()) {
                tokens += dialect::textTokens(role->get_ref<const std::string&>());
            }
            for (const char* field : {"content", "output", "arguments"}) {
                if (const auto f = item.find(field); f != item.end()) {
                    tokens += dialect::contentTokens(*f);
                }
            }
        }
    } else {
        return invalid("Invalid 'input': expected a string or a non-empty array of input items.", "input",
                       "invalid_value");
    }
    r.inputTokens = tokens;
    return std::nullopt;
}

// The Responses API's usage object.
OJson responsesUsage(std::int64_t input, std::int64_t output)
{
    return OJson{{"input_tokens", input},
                 {"input_tokens_details", {{"cached_tokens", 0}}},
                 {"output_tokens", output},
                 {"output_tokens_details", {{"reasoning_tokens", 0}}},
                 {"total_tokens", input + output}};
}

// A compaction or an input count needs input, or a stored response to
// continue (whose conversation the provider adds to the count:
// StoredResponses::contextTokens).
std::optional<ApiError> readContinued(const Json& doc, CompletionRequest& r)
{
    if (const auto previous = doc.find("previous_response_id"); previous != doc.end() && !previous->is_null()) {
        if (!previous->is_string()) {
            return invalid("Invalid type for 'previous_response_id': expected a string.", "previous_response_id",
                           "invalid_type");
        }
        r.previousResponseId = previous->get<std::string>();
    }
    const auto input = doc.find("input");
    if ((input == doc.end() || input->is_null()) && !r.previousResponseId.empty()) {
        r.inputTokens = 3;
        return std::nullopt;
    }
    return readInput(doc, r);
}

class ResponsesDialect final : public OpenAiFamily {
public:
    std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                    std::string_view requestId) const override
    {
        auto parsed = document(body, requestId, *this);
        if (auto* e = std::get_if<ApiError>(&parsed)) {
            return std::move(*e);
        }
        const Json& doc = std::get<Json>(parsed);
        CompletionRequest r;
        r.model = doc["model"].get<std::string>();
        if (auto e = readInput(doc, r)) {
            return *e;
        }

        std::optional<std::int64_t> maxTokens;
        if (const auto m = doc.find("max_output_tokens"); m != doc.end() && !m->is_null()) {
            if (!m->is_number_integer()) {
                return invalid("Invalid type for 'max_output_tokens': expected an integer.", "max_output_tokens",
                               "invalid_type");
            }
            // The Responses API's own floor.
            if (m->get<std::int64_t>() < 16) {
                return invalid("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                               "but got " + std::to_string(m->get<std::int64_t>()) + " instead.",
                               "max_output_tokens", "integer_below_min_value");
            }
            maxTokens = m->get<std::int64_t>();
        }
        if (const auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
            if (!stream->is_boolean()) {
                return invalid("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type");
            }
            r.stream = stream->get<bool>();
        }
        if (auto tool = forcedTool(doc)) {
            if (auto* e = std::get_if<ApiError>(&*tool)) {
                return std::move(*e);
            }
            r.toolName = std::get<std::string>(*tool);
        }
        if (const auto previous = doc.find("previous_response_id"); previous != doc.end() && !previous->is_null()) {
            if (!previous->is_string()) {
                return invalid("Invalid type for 'previous_response_id': expected a string.", "previous_response_id",
                               "invalid_type");
            }
            r.previousResponseId = previous->get<std::string>();
        }
        if (const auto store = doc.find("store"); store != doc.end() && !store->is_null()) {
            if (!store->is_boolean()) {
                return invalid("Invalid type for 'store': expected a boolean.", "store", "invalid_type");
            }
            r.store = store->get<bool>();
        }
        if (const auto background = doc.find("background"); background != doc.end() && !background->is_null()) {
            if (!background->is_boolean()) {
                return invalid("Invalid type for 'background': expected a boolean.", "background", "invalid_type");
            }
            r.background = background->get<bool>();
            if (r.background && !r.store) {
                return invalid("Background mode requires 'store' to be true.", "background", "invalid_value");
            }
        }
        if (auto e = knownModel(config, r.model, requestId, *this)) {
            return *e;
        }
        const std::int64_t cap = config.models.at(r.model).maxOutputTokens;
        if (maxTokens && *maxTokens > cap) {
            return invalid("max_output_tokens is too large: " + std::to_string(*maxTokens) +
                               ". This model supports at most " + std::to_string(cap) + " output tokens.",
                           "max_output_tokens", "invalid_value");
        }
        r.maxTokens = maxTokens.value_or(cap);
        return r;
    }

    std::string body(const CompletionRequest& r, const MockReply& c) const override
    {
        return response(r, c, true).dump();
    }

    std::string queuedBody(const CompletionRequest& r, const MockReply& c) const override
    {
        OJson queued = response(r, c, false);
        queued["status"] = "queued";
        return queued.dump();
    }

    StreamScript stream(const CompletionRequest& r, const MockReply& c) const override
    {
        if (!r.toolName.empty()) {
            return functionCallStream(r, c);
        }
        StreamScript s;
        const std::string itemId = dialect::randomId("msg_", c.textSeed ^ 0x5A, 48);
        std::int64_t seq = 0;
        const auto next = [&seq](OJson data) {
            data["sequence_number"] = seq++;
            return event(data);
        };
        OJson item{{"id", itemId}, {"type", "message"}, {"status", "in_progress"}, {"role", "assistant"},
                   {"content", OJson::array()}};
        s.preamble.push_back(next(OJson{{"type", "response.created"}, {"response", response(r, c, false)}}));
        s.preamble.push_back(next(OJson{{"type", "response.in_progress"}, {"response", response(r, c, false)}}));
        s.preamble.push_back(next(OJson{{"type", "response.output_item.added"}, {"output_index", 0}, {"item", item}}));
        s.preamble.push_back(next(OJson{{"type", "response.content_part.added"},
                                        {"item_id", itemId},
                                        {"output_index", 0},
                                        {"content_index", 0},
                                        {"part", part("")}}));
        const std::int64_t n = c.outputTokens.empty() ? 0 : c.outputTokens[0];
        for (std::int64_t t = 0; t < n; ++t) {
            s.tokens.push_back(next(OJson{{"type", "response.output_text.delta"},
                                          {"item_id", itemId},
                                          {"output_index", 0},
                                          {"content_index", 0},
                                          {"delta", dialect::token(c.textSeed, t)},
                                          {"logprobs", OJson::array()}}));
        }
        const std::string text = dialect::text(c.textSeed, n);
        s.ending.push_back(next(OJson{{"type", "response.output_text.done"},
                                      {"item_id", itemId},
                                      {"output_index", 0},
                                      {"content_index", 0},
                                      {"text", text},
                                      {"logprobs", OJson::array()}}));
        s.ending.push_back(next(OJson{{"type", "response.content_part.done"},
                                      {"item_id", itemId},
                                      {"output_index", 0},
                                      {"content_index", 0},
                                      {"part", part(text)}}));
        item["status"] = "completed";
        item["content"] = OJson::array({part(text)});
        s.ending.push_back(next(OJson{{"type", "response.output_item.done"}, {"output_index", 0}, {"item", item}}));
        OJson done = response(r, c, true);
        const std::string kind = done["status"] == "completed" ? "response.completed" : "response.incomplete";
        s.ending.push_back(next(OJson{{"type", kind}, {"response", std::move(done)}}));
        return s;
    }

    std::string streamError(std::string_view) const override
    {
        return event(OJson{{"type", "error"},
                           {"code", "server_error"},
                           {"message", "The server had an error while processing your request. Sorry about that!"},
                           {"param", nullptr},
                           {"sequence_number", 0}});
    }

private:
    // The function a request forces, if any: tool_choice {"type":
    // "function", "name": N} (N must be offered), or "required" with a
    // function offered (the first). An unknown name is the provider's 400.
    static std::optional<std::variant<std::string, ApiError>> forcedTool(const Json& doc)
    {
        const auto choice = doc.find("tool_choice");
        const auto tools = doc.find("tools");
        if (choice == doc.end() || tools == doc.end() || !tools->is_array()) {
            return std::nullopt;
        }
        std::vector<std::string> offered;
        for (const auto& t : *tools) {
            const auto name = t.is_object() ? t.find("name") : t.end();
            if (t.is_object() && t.value("type", "") == "function" && name != t.end() && name->is_string()) {
                offered.push_back(name->get<std::string>());
            }
        }
        if (choice->is_string() && choice->get_ref<const std::string&>() == "required" && !offered.empty()) {
            return std::variant<std::string, ApiError>{offered.front()};
        }
        if (choice->is_object() && choice->value("type", "") == "function") {
            const std::string name = choice->value("name", "");
            if (std::find(offered.begin(), offered.end(), name) == offered.end()) {
                return std::variant<std::string, ApiError>{
                    invalid("Tool choice '" + name + "' not found in 'tools' parameter.", "tool_choice",
                            "invalid_value")};
            }
            return std::variant<std::string, ApiError>{name};
        }
        return std::nullopt;
    }

    // A function call's arguments, one output token per piece: a JSON
    // object whose "query" holds the completion's words, so that the
    // pieces joined are the arguments.
    static std::vector<std::string> argumentPieces(const MockReply& c)
    {
        const std::int64_t n = c.outputTokens.empty() ? 0 : c.outputTokens[0];
        std::vector<std::string> pieces;
        pieces.reserve(static_cast<std::size_t>(n) + 1);
        for (std::int64_t t = 0; t < n; ++t) {
            pieces.push_back((t == 0 ? std::string("{\"query\":\"") : std::string()) + dialect::token(c.textSeed, t));
        }
        if (pieces.empty()) {
            pieces.emplace_back("{\"query\":\"");
        }
        pieces.back() += "\"}";
        return pieces;
    }

    static OJson functionCall(const CompletionRequest& r, const MockReply& c, const std::string& arguments,
                              std::string_view status)
    {
        return OJson{{"id", dialect::randomId("fc_", c.textSeed ^ 0x5A, 48)},
                     {"type", "function_call"},
                     {"status", status},
                     {"arguments", arguments},
                     {"call_id", dialect::randomId("call_", c.textSeed ^ 0xC4, 24)},
                     {"name", r.toolName}};
    }

    static StreamScript functionCallStream(const CompletionRequest& r, const MockReply& c)
    {
        StreamScript s;
        std::int64_t seq = 0;
        const auto next = [&seq](OJson data) {
            data["sequence_number"] = seq++;
            return event(data);
        };
        const OJson started = functionCall(r, c, "", "in_progress");
        const std::string itemId = started["id"];
        s.preamble.push_back(next(OJson{{"type", "response.created"}, {"response", response(r, c, false)}}));
        s.preamble.push_back(next(OJson{{"type", "response.in_progress"}, {"response", response(r, c, false)}}));
        s.preamble.push_back(
            next(OJson{{"type", "response.output_item.added"}, {"output_index", 0}, {"item", started}}));
        std::string arguments;
        for (const std::string& piece : argumentPieces(c)) {
            arguments += piece;
            s.tokens.push_back(next(OJson{{"type", "response.function_call_arguments.delta"},
                                          {"item_id", itemId},
                                          {"output_index", 0},
                                          {"delta", piece}}));
        }
        s.ending.push_back(next(OJson{{"type", "response.function_call_arguments.done"},
                                      {"item_id", itemId},
                                      {"output_index", 0},
                                      {"arguments", arguments}}));
        s.ending.push_back(next(OJson{{"type", "response.output_item.done"},
                                      {"output_index", 0},
                                      {"item", functionCall(r, c, arguments, "completed")}}));
        OJson done = response(r, c, true);
        const std::string kind = done["status"] == "completed" ? "response.completed" : "response.incomplete";
        s.ending.push_back(next(OJson{{"type", kind}, {"response", std::move(done)}}));
        return s;
    }

    static OJson part(const std::string& text)
    {
        return OJson{{"type", "output_text"}, {"text", text}, {"annotations", OJson::array()}};
    }

    // The response object; `finished`: as response.completed carries it
    // (output and usage), else as response.created does.
    static OJson response(const CompletionRequest& r, const MockReply& c, bool finished)
    {
        const std::int64_t out = c.outputTokens.empty() ? 0 : c.outputTokens[0];
        const bool truncated = !c.outputTokens.empty() && c.truncated(0, r.maxTokens);
        OJson output = OJson::array();
        OJson usage = nullptr;
        std::string status = "in_progress";
        OJson incomplete = nullptr;
        if (finished) {
            status = truncated ? "incomplete" : "completed";
            if (truncated) {
                incomplete = OJson{{"reason", "max_output_tokens"}};
            }
            if (r.toolName.empty()) {
                output.push_back(OJson{{"id", dialect::randomId("msg_", c.textSeed ^ 0x5A, 48)},
                                       {"type", "message"},
                                       {"status", "completed"},
                                       {"role", "assistant"},
                                       {"content", OJson::array({part(dialect::text(c.textSeed, out))})}});
            } else {
                std::string arguments;
                for (const std::string& piece : argumentPieces(c)) {
                    arguments += piece;
                }
                output.push_back(functionCall(r, c, arguments, "completed"));
            }
            usage = responsesUsage(r.inputTokens, out);
        }
        return OJson{{"id", dialect::randomId("resp_", c.textSeed, 48)},
                     {"object", "response"},
                     {"created_at", c.created},
                     {"status", status},
                     {"background", r.background},
                     {"error", nullptr},
                     {"incomplete_details", std::move(incomplete)},
                     {"instructions", nullptr},
                     {"max_output_tokens", r.maxTokens},
                     {"model", r.model},
                     {"output", std::move(output)},
                     {"parallel_tool_calls", true},
                     {"previous_response_id",
                      r.previousResponseId.empty() ? OJson(nullptr) : OJson(r.previousResponseId)},
                     {"store", r.store},
                     {"temperature", 1.0},
                     {"text", {{"format", {{"type", "text"}}}}},
                     {"tool_choice", "auto"},
                     {"tools", OJson::array()},
                     {"top_p", 1.0},
                     {"truncation", "disabled"},
                     {"usage", std::move(usage)},
                     {"metadata", OJson::object()}};
    }

};

// POST /v1/responses/compact: a conversation (its input, or the stored
// response it continues) compacted into one opaque item. It is a model
// call, charged to the key's limits as any; it does not stream and is not
// stored.
class CompactionDialect final : public OpenAiFamily {
public:
    std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                    std::string_view requestId) const override
    {
        auto parsed = document(body, requestId, *this);
        if (auto* e = std::get_if<ApiError>(&parsed)) {
            return std::move(*e);
        }
        const Json& doc = std::get<Json>(parsed);
        CompletionRequest r;
        r.model = doc["model"].get<std::string>();
        r.store = false;
        if (auto e = readContinued(doc, r)) {
            return *e;
        }
        if (doc.contains("stream")) {
            return invalid("Unknown parameter: 'stream'.", "stream", "unknown_parameter");
        }
        if (auto e = knownModel(config, r.model, requestId, *this)) {
            return *e;
        }
        r.maxTokens = config.models.at(r.model).maxOutputTokens;
        return r;
    }

    std::string body(const CompletionRequest& r, const MockReply& c) const override
    {
        const std::int64_t out = c.outputTokens.empty() ? 0 : c.outputTokens[0];
        const OJson item{{"id", dialect::randomId("cmp_", c.textSeed ^ 0xC0, 48)},
                         {"type", "compaction"},
                         {"encrypted_content", "gAAAAA" + dialect::randomId("", c.textSeed, 40)}};
        return OJson{{"id", dialect::randomId("resp_", c.textSeed, 48)},
                     {"object", "response.compaction"},
                     {"created_at", c.created},
                     {"output", OJson::array({item})},
                     {"usage", responsesUsage(r.inputTokens, out)}}
            .dump();
    }

    StreamScript stream(const CompletionRequest&, const MockReply&) const override { return {}; }
    std::string streamError(std::string_view) const override { return {}; }
};

class EmbeddingsDialect final : public OpenAiFamily {
public:
    std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                    std::string_view requestId) const override
    {
        auto parsed = document(body, requestId, *this);
        if (auto* e = std::get_if<ApiError>(&parsed)) {
            return std::move(*e);
        }
        const Json& doc = std::get<Json>(parsed);
        CompletionRequest r;
        r.model = doc["model"].get<std::string>();
        const auto input = doc.find("input");
        if (input == doc.end() || input->is_null()) {
            return invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        }
        // A string, a list of strings, one list of token ids, or lists of them.
        std::int64_t tokens = 0;
        int count = 0;
        if (input->is_string()) {
            tokens = dialect::textTokens(input->get_ref<const std::string&>());
            count = 1;
        } else if (input->is_array() && !input->empty() && (*input)[0].is_number_integer()) {
            tokens = static_cast<std::int64_t>(input->size());
            count = 1;
        } else if (input->is_array() && !input->empty()) {
            for (std::size_t i = 0; i < input->size(); ++i) {
                const Json& item = (*input)[i];
                if (item.is_string()) {
                    tokens += dialect::textTokens(item.get_ref<const std::string&>());
                } else if (item.is_array() && !item.empty()) {
                    tokens += static_cast<std::int64_t>(item.size());
                } else {
                    return invalid("Invalid 'input[" + std::to_string(i) +
                                       "]': expected a string or an array of token ids.",
                                   "input", "invalid_value");
                }
            }
            count = static_cast<int>(input->size());
        } else {
            return invalid("'$.input' is invalid. Please check the API reference: "
                           "https://platform.openai.com/docs/api-reference.",
                           "input", "invalid_value");
        }
        if (count > 2048) {
            return invalid("Invalid 'input': array too long. Expected an array with maximum length 2048.", "input",
                           "array_above_max_length");
        }
        r.inputTokens = tokens;
        r.n = count;
        r.maxTokens = 0;  // no output
        r.dimensions = 1536;
        if (const auto d = doc.find("dimensions"); d != doc.end() && !d->is_null()) {
            if (!d->is_number_integer() || d->get<std::int64_t>() < 1 || d->get<std::int64_t>() > 3072) {
                return invalid("Invalid 'dimensions': expected an integer from 1 to 3072.", "dimensions",
                               "invalid_value");
            }
            r.dimensions = static_cast<int>(d->get<std::int64_t>());
        }
        if (const auto f = doc.find("encoding_format"); f != doc.end() && !f->is_null()) {
            if (*f != "float" && *f != "base64") {
                return invalid("Invalid value for 'encoding_format': expected 'float' or 'base64'.",
                               "encoding_format", "invalid_value");
            }
            r.base64 = *f == "base64";
        }
        if (auto e = knownModel(config, r.model, requestId, *this)) {
            return *e;
        }
        return r;
    }

    std::string body(const CompletionRequest& r, const MockReply& c) const override
    {
        OJson data = OJson::array();
        for (int i = 0; i < r.n; ++i) {
            const std::vector<float> v = vector(c.textSeed + static_cast<std::uint64_t>(i), r.dimensions);
            OJson embedding;
            if (r.base64) {
                embedding = base64(v);
            } else {
                embedding = OJson(v);
            }
            data.push_back(OJson{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
        }
        return OJson{{"object", "list"},
                     {"data", std::move(data)},
                     {"model", r.model},
                     {"usage", {{"prompt_tokens", r.inputTokens}, {"total_tokens", r.inputTokens}}}}
            .dump();
    }

    StreamScript stream(const CompletionRequest&, const MockReply&) const override
    {
        return {};  // never asked: the embeddings API does not stream
    }

    std::string streamError(std::string_view) const override { return {}; }

private:
    // A unit vector drawn from the seed (the same input seed, the same vector).
    static std::vector<float> vector(std::uint64_t seed, int dimensions)
    {
        std::vector<float> v(static_cast<std::size_t>(dimensions));
        std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
        double norm = 0;
        for (float& f : v) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f = static_cast<float>(static_cast<double>(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
            norm += static_cast<double>(f) * f;
        }
        const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 1.0;
        for (float& f : v) {
            f = static_cast<float>(f * scale);
        }
        return v;
    }

    // Little-endian float32s in base64, as the API sends encoding_format
    // "base64".
    static std::string base64(const std::vector<float>& v)
    {
        static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string bytes(v.size() * 4, '\0');
        for (std::size_t i = 0; i < v.size(); ++i) {
            std::uint32_t bits = 0;
            std::memcpy(&bits, &v[i], 4);
            for (int b = 0; b < 4; ++b) {
                bytes[i * 4 + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xFF);
            }
        }
        std::string out;
        out.reserve((bytes.size() + 2) / 3 * 4);
        for (std::size_t i = 0; i < bytes.size(); i += 3) {
            const std::size_t left = bytes.size() - i;
            std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
            if (left > 1) {
                n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
            }
            if (left > 2) {
                n |= static_cast<unsigned char>(bytes[i + 2]);
            }
            out.push_back(kAlphabet[(n >> 18) & 63]);
            out.push_back(kAlphabet[(n >> 12) & 63]);
            out.push_back(left > 1 ? kAlphabet[(n >> 6) & 63] : '=');
            out.push_back(left > 2 ? kAlphabet[n & 63] : '=');
        }
        return out;
    }
};

}  // namespace

const Dialect& openAiResponsesDialect() noexcept
{
    static const ResponsesDialect instance;
    return instance;
}

const Dialect& openAiCompactionDialect() noexcept
{
    static const CompactionDialect instance;
    return instance;
}

std::variant<CompletionRequest, ApiError> parseInputTokenCount(std::string_view body, const MockConfig& config)
{
    const Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return invalid("We could not parse the JSON body of your request.", {}, "invalid_json");
    }
    CompletionRequest r;
    if (const auto model = doc.find("model"); model != doc.end() && !model->is_null()) {
        const auto known = model->is_string() ? config.models.find(model->get<std::string>()) : config.models.end();
        if (known == config.models.end() || known->second.flavour != Flavour::OpenAI) {
            const std::string name = model->is_string() ? model->get<std::string>() : model->dump();
            return openAiResponsesDialect().error(ErrorCase::UnknownModel, ErrorContext{.model = name});
        }
        r.model = known->first;
    }
    if (auto e = readContinued(doc, r)) {
        return *e;
    }
    return r;
}

const Dialect& openAiEmbeddingsDialect() noexcept
{
    static const EmbeddingsDialect instance;
    return instance;
}

}  // namespace sluice::mock
