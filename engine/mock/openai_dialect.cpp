// OpenAI's Chat Completions dialect (also what Azure, Groq, Together and
// vLLM speak).
#include "mock/dialect.h"

#include "core/json_write.h"
#include "core/text_append.h"
#include "core/timefmt.h"

#include <nlohmann/json.hpp>

namespace sluice::mock {

namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;  // bodies read in the provider's field order

ApiError envelope(int status, std::string_view message, std::string_view type, std::string_view param = {},
                  std::string_view code = {})
{
    OJson error{{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (!param.empty()) {
        error["param"] = param;
    }
    if (!code.empty()) {
        error["code"] = code;
    }
    return ApiError{status, OJson{{"error", std::move(error)}}.dump()};
}

ApiError invalid(std::string_view message, std::string_view param, std::string_view code)
{
    return envelope(400, message, "invalid_request_error", param, code);
}

std::string_view jsonTypeName(const Json& v)
{
    if (v.is_string()) {
        return "a string";
    }
    if (v.is_boolean()) {
        return "a boolean";
    }
    if (v.is_number_integer()) {
        return "an integer";
    }
    if (v.is_number()) {
        return "a decimal";
    }
    if (v.is_array()) {
        return "an array";
    }
    if (v.is_object()) {
        return "an object";
    }
    return "null";
}

// A max-tokens-like integer field: absent, or an integer >= 1.
std::optional<ApiError> readPositive(const Json& doc, const char* name, std::optional<std::int64_t>& out)
{
    const auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_number_integer()) {
        return invalid("Invalid type for '" + std::string(name) + "': expected an integer, but got " +
                           std::string(jsonTypeName(*it)) + " instead.",
                       name, "invalid_type");
    }
    const auto v = it->get<std::int64_t>();
    if (v < 1) {
        return invalid("Invalid '" + std::string(name) + "': integer below minimum value. Expected a value >= 1, but got " +
                           std::to_string(v) + " instead.",
                       name, "integer_below_min_value");
    }
    out = v;
    return std::nullopt;
}

std::string maskKey(std::string_view key)
{
    if (key.size() <= 8) {
        return "***";
    }
    return std::string(key.substr(0, 3)) + "*****" + std::string(key.substr(key.size() - 4));
}

std::string_view limitPhrase(LimitKind k)
{
    switch (k) {
    case LimitKind::Requests: return "requests per min (RPM)";
    case LimitKind::Tokens: return "tokens per min (TPM)";
    case LimitKind::InputTokens: return "input tokens per min (ITPM)";
    case LimitKind::OutputTokens: return "output tokens per min (OTPM)";
    case LimitKind::RequestsPerDay: return "requests per day (RPD)";
    }
    return "";
}

std::string frame(const OJson& chunk)
{
    return "data: " + chunk.dump() + "\n\n";
}

// Reads "messages" into r.inputTokens, or says what is wrong with it.
std::optional<ApiError> readMessages(const Json& doc, CompletionRequest& r)
{
    const auto messages = doc.find("messages");
    if (messages == doc.end()) {
        return invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
    }
    if (!messages->is_array()) {
        return invalid("Invalid type for 'messages': expected an array of objects, but got " +
                           std::string(jsonTypeName(*messages)) + " instead.",
                       "messages", "invalid_type");
    }
    if (messages->empty()) {
        return invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                       "empty array instead.",
                       "messages", "empty_array");
    }
    // Chat overhead as OpenAI counts it: 3 per message, the role and
    // name as text (+1 for a name), 3 once to prime the reply.
    std::int64_t tokens = 3;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const Json& m = (*messages)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) {
            return invalid("Invalid type for '" + where + "': expected an object, but got " +
                               std::string(jsonTypeName(m)) + " instead.",
                           where, "invalid_type");
        }
        const auto role = m.find("role");
        if (role == m.end() || !role->is_string()) {
            return invalid("Missing required parameter: '" + where + ".role'.", where + ".role",
                           "missing_required_parameter");
        }
        tokens += 3 + dialect::textTokens(role->get_ref<const std::string&>());
        if (const auto content = m.find("content"); content != m.end()) {
            tokens += dialect::contentTokens(*content);
        }
        if (const auto name = m.find("name"); name != m.end() && name->is_string()) {
            tokens += 1 + dialect::textTokens(name->get_ref<const std::string&>());
        }
    }
    r.inputTokens = tokens;
    return std::nullopt;
}

// Reads "stream" and "stream_options" into r, or says what is wrong.
std::optional<ApiError> readStream(const Json& doc, CompletionRequest& r)
{
    if (const auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            return invalid("Invalid type for 'stream': expected a boolean, but got " +
                               std::string(jsonTypeName(*stream)) + " instead.",
                           "stream", "invalid_type");
        }
        r.stream = stream->get<bool>();
    }
    if (const auto options = doc.find("stream_options"); options != doc.end() && !options->is_null()) {
        if (!r.stream) {
            return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                           "stream_options", {});
        }
        if (!options->is_object()) {
            return invalid("Invalid type for 'stream_options': expected an object, but got " +
                               std::string(jsonTypeName(*options)) + " instead.",
                           "stream_options", "invalid_type");
        }
        const auto usage = options->find("include_usage");
        r.includeUsage = usage != options->end() && usage->is_boolean() && usage->get<bool>();
    }
    return std::nullopt;
}

// The 429s a limit gives: over the rate now, or larger than the limit.
ApiError limitError(ErrorCase what, const ErrorContext& c)
{
    const LimitDecision& d = *c.limit;
    if (what == ErrorCase::RateLimited) {
        const bool tokens = d.binding != LimitKind::Requests && d.binding != LimitKind::RequestsPerDay;
        return envelope(429,
                        "Rate limit reached for " + std::string(c.model) + " in organization " +
                            std::string(c.organization) + " on " + std::string(limitPhrase(d.binding)) +
                            ": Limit " + std::to_string(d.limit) + ", Used " + std::to_string(d.used) +
                            ", Requested " + std::to_string(d.requested) + ". Please try again in " +
                            formatGoDuration(dialect::ceilMs(d.retryAfter)) +
                            ". Visit https://platform.openai.com/account/rate-limits to learn more.",
                        tokens ? "tokens" : "requests", {}, "rate_limit_exceeded");
    }
    return envelope(429,
                    "Request too large for " + std::string(c.model) + " in organization " +
                        std::string(c.organization) + " on " + std::string(limitPhrase(d.binding)) +
                        ": Limit " + std::to_string(d.limit) + ", Requested " + std::to_string(d.requested) +
                        ". The input or output tokens must be reduced in order to run successfully. Visit "
                        "https://platform.openai.com/account/rate-limits to learn more.",
                    "tokens", {}, "rate_limit_exceeded");
}

class OpenAiDialect final : public Dialect {
public:
    Flavour flavour() const noexcept override { return Flavour::OpenAI; }

    std::optional<std::string> apiKey(const net::InboundRequest& request) const override
    {
        const auto auth = request.header("authorization");
        if (!auth || auth->size() <= 7 || !net::headerNameEquals(auth->substr(0, 7), "bearer ")) {
            return std::nullopt;
        }
        std::string_view key = auth->substr(7);
        while (!key.empty() && key.front() == ' ') {
            key.remove_prefix(1);
        }
        if (key.empty()) {
            return std::nullopt;
        }
        return std::string(key);
    }

    bool hasRequiredHeaders(const net::InboundRequest&) const override { return true; }

    std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                    std::string_view requestId) const override
    {
        Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
        if (doc.is_discarded()) {
            return error(ErrorCase::MalformedJson, ErrorContext{.requestId = requestId});
        }
        if (!doc.is_object()) {
            return invalid("Invalid type for request body: expected an object, but got " +
                               std::string(jsonTypeName(doc)) + " instead.",
                           {}, "invalid_type");
        }
        CompletionRequest r;
        const auto model = doc.find("model");
        if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
            return invalid("you must provide a model parameter", {}, {});
        }
        r.model = model->get<std::string>();

        if (auto e = readMessages(doc, r)) {
            return *e;
        }

        std::optional<std::int64_t> maxTokens;
        if (auto e = readPositive(doc, "max_completion_tokens", maxTokens)) {
            return *e;
        }
        const char* maxName = "max_completion_tokens";
        if (!maxTokens) {
            maxName = "max_tokens";
            if (auto e = readPositive(doc, "max_tokens", maxTokens)) {
                return *e;
            }
        }
        std::optional<std::int64_t> n;
        if (auto e = readPositive(doc, "n", n)) {
            return *e;
        }
        if (n && *n > 128) {
            return invalid("Invalid 'n': integer above maximum value. Expected a value <= 128, but got " +
                               std::to_string(*n) + " instead.",
                           "n", "integer_above_max_value");
        }
        r.n = static_cast<int>(n.value_or(1));

        if (auto e = readStream(doc, r)) {
            return *e;
        }

        const auto m = config.models.find(r.model);
        if (m == config.models.end() || m->second.flavour != Flavour::OpenAI) {
            return error(ErrorCase::UnknownModel, ErrorContext{.model = r.model, .requestId = requestId});
        }
        const std::int64_t cap = m->second.maxOutputTokens;
        if (maxTokens && *maxTokens > cap) {
            return invalid("max_tokens is too large: " + std::to_string(*maxTokens) +
                               ". This model supports at most " + std::to_string(cap) +
                               " completion tokens, whereas you provided " + std::to_string(*maxTokens) + ".",
                           maxName, "invalid_value");
        }
        r.maxTokens = maxTokens.value_or(cap);
        return r;
    }

    ApiError error(ErrorCase what, const ErrorContext& c) const override
    {
        switch (what) {
        case ErrorCase::MissingKey:
            return envelope(401,
                            "You didn't provide an API key. You need to provide your API key in an Authorization "
                            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
                            "field (with blank username) if you're accessing the API from your browser and are "
                            "prompted for a username and password. You can obtain an API key from "
                            "https://platform.openai.com/account/api-keys.",
                            "invalid_request_error");
        case ErrorCase::InvalidKey:
            return envelope(401,
                            "Incorrect API key provided: " + maskKey(c.key) +
                                ". You can find your API key at https://platform.openai.com/account/api-keys.",
                            "invalid_request_error", {}, "invalid_api_key");
        case ErrorCase::ForbiddenModel:
            return envelope(403, "Project `proj_mock` does not have access to model `" + std::string(c.model) + "`",
                            "invalid_request_error", {}, "model_not_found");
        case ErrorCase::UnknownModel:
            return envelope(404,
                            "The model `" + std::string(c.model) + "` does not exist or you do not have access to it.",
                            "invalid_request_error", {}, "model_not_found");
        case ErrorCase::UnknownRoute:
            return envelope(404, "Invalid URL (" + std::string(c.detail) + ")", "invalid_request_error");
        case ErrorCase::MissingVersion:
            return envelope(400, "Missing required header.", "invalid_request_error");
        case ErrorCase::InvalidHeader:
            return envelope(400, std::string(c.detail), "invalid_request_error");
        case ErrorCase::WrongContentType: {
            const std::string ct(c.detail);
            return envelope(400,
                            "Unsupported content type: '" + ct +
                                "'. This API method only accepts 'application/json' requests, but you specified the "
                                "header 'Content-Type: " +
                                ct + "'. Please try again with a supported content type.",
                            "invalid_request_error", {}, "unsupported_content_type");
        }
        case ErrorCase::MalformedJson:
            return envelope(400,
                            "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                            "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                            "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
                            "contact us through our help center at help.openai.com.)",
                            "invalid_request_error");
        case ErrorCase::BodyTooLarge:
            return envelope(413, "Request body too large: the limit is " + std::string(c.detail) + " bytes.",
                            "invalid_request_error", {}, "request_too_large");
        case ErrorCase::RateLimited:
        case ErrorCase::RequestTooLarge:
            return limitError(what, c);
        case ErrorCase::QuotaExhausted:
            return envelope(429,
                            "You exceeded your current quota, please check your plan and billing details. For more "
                            "information on this error, read the docs: "
                            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                            "insufficient_quota", {}, "insufficient_quota");
        case ErrorCase::ServerError:
            return envelope(500, "The server had an error while processing your request. Sorry about that!",
                            "server_error");
        case ErrorCase::Unavailable:
            return envelope(503, "The engine is currently overloaded, please try again later", "server_error");
        case ErrorCase::Overloaded:
            return envelope(529, "The engine is currently overloaded, please try again later", "server_error");
        }
        return envelope(500, "unknown error", "server_error");
    }

    std::string_view requestIdHeader() const noexcept override { return "x-request-id"; }

    void addRateLimitHeaders(net::HttpHeaders& headers, const LimitStates& states, WallTime,
                             bool minusOne) const override
    {
        const auto add = [&](LimitKind kind, const char* suffix) {
            const LimitState& s = states[static_cast<std::size_t>(kind)];
            if (!s.enforced) {
                return;
            }
            const std::string tail(suffix);
            headers.emplace_back("x-ratelimit-limit-" + tail, minusOne ? "-1" : std::to_string(s.limit));
            headers.emplace_back("x-ratelimit-remaining-" + tail, minusOne ? "-1" : std::to_string(s.remaining));
            headers.emplace_back("x-ratelimit-reset-" + tail,
                                 minusOne ? "0" : formatGoDuration(dialect::ceilMs(s.untilFull)));
        };
        add(LimitKind::Requests, "requests");
        add(LimitKind::Tokens, "tokens");
    }

    void addCommonHeaders(net::HttpHeaders& headers, std::string_view requestId,
                          const MockConfig& config) const override
    {
        headers.emplace_back("x-request-id", std::string(requestId));
        headers.emplace_back("openai-organization", config.organization);
        headers.emplace_back("openai-version", "2020-10-01");
    }

    // Written as text, not built as a document and dumped: that was half
    // of what the mock spent on a request (docs/benchmarks.md).
    std::string body(const CompletionRequest& r, const MockReply& c) const override
    {
        std::string out;
        out.reserve(384 + r.model.size() + c.outputTokens.size() * 160);
        out.append(R"({"id":)");
        appendJsonString(out, c.id);
        appendText(out, R"(,"object":"chat.completion","created":)", DecimalText(c.created), R"(,"model":)");
        appendJsonString(out, r.model);
        out.append(R"(,"choices":[)");
        for (std::size_t i = 0; i < c.outputTokens.size(); ++i) {
            if (i != 0) {
                out.push_back(',');
            }
            appendText(out, R"({"index":)", DecimalText(i), R"(,"message":{"role":"assistant","content":)");
            appendJsonString(out, dialect::text(c.textSeed + i, c.outputTokens[i]));
            appendText(out, R"(,"refusal":null},"logprobs":null,"finish_reason":)",
                       c.truncated(i, r.maxTokens) ? std::string_view(R"("length"})") : std::string_view(R"("stop"})"));
        }
        out.append(R"(],"usage":)");
        appendUsage(out, r, c);
        out.append(R"(,"service_tier":"default","system_fingerprint":"fp_mock"})");
        return out;
    }

    StreamScript stream(const CompletionRequest& r, const MockReply& c) const override
    {
        StreamScript s;
        // Every chunk of the stream is this head, its choices and the tail.
        std::string head = R"(data: {"id":)";
        appendJsonString(head, c.id);
        appendText(head, R"(,"object":"chat.completion.chunk","created":)", DecimalText(c.created), R"(,"model":)");
        appendJsonString(head, r.model);
        head.append(R"(,"service_tier":"default","system_fingerprint":"fp_mock","choices":)");
        const std::string_view tail = r.includeUsage ? std::string_view(",\"usage\":null}\n\n") : std::string_view("}\n\n");
        // One choice's chunk: the delta's members (between its braces) and how it finished.
        const auto chunk = [&](std::size_t index, std::string_view delta, std::string_view finish) {
            std::string out;
            out.reserve(head.size() + delta.size() + 96);
            appendText(out, head, R"([{"index":)", DecimalText(index), R"(,"delta":{)", delta,
                       R"(},"logprobs":null,"finish_reason":)", finish, "}]", tail);
            return out;
        };
        const std::size_t n = c.outputTokens.size();
        for (std::size_t i = 0; i < n; ++i) {
            s.preamble.push_back(chunk(i, R"("role":"assistant","content":"","refusal":null)", "null"));
        }
        // Choices interleave token by token, as the API sends them.
        std::int64_t longest = 0;
        for (const auto t : c.outputTokens) {
            longest = std::max(longest, t);
        }
        std::string delta;
        for (std::int64_t t = 0; t < longest; ++t) {
            for (std::size_t i = 0; i < n; ++i) {
                if (t < c.outputTokens[i]) {
                    delta.assign(R"("content":)");
                    appendJsonString(delta, dialect::token(c.textSeed + i, t));
                    s.tokens.push_back(chunk(i, delta, "null"));
                }
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            s.ending.push_back(chunk(i, "", c.truncated(i, r.maxTokens) ? R"("length")" : R"("stop")"));
        }
        if (r.includeUsage) {
            std::string last = head;
            last.append(R"([],"usage":)");
            appendUsage(last, r, c);
            last.append("}\n\n");
            s.ending.push_back(std::move(last));
        }
        s.ending.emplace_back("data: [DONE]\n\n");
        return s;
    }

    std::string streamError(std::string_view) const override
    {
        return frame(OJson{{"error",
                            {{"message", "The server had an error while processing your request. Sorry about that!"},
                             {"type", "server_error"},
                             {"param", nullptr},
                             {"code", nullptr}}}});
    }

    std::string modelList(const MockConfig& config, std::string_view key) const override
    {
        const auto k = config.keys.find(std::string(key));
        OJson data = OJson::array();
        for (const auto& [name, m] : config.models) {
            if (m.flavour != Flavour::OpenAI) {
                continue;
            }
            if (k != config.keys.end() && !k->second.models.empty() &&
                std::find(k->second.models.begin(), k->second.models.end(), name) == k->second.models.end()) {
                continue;
            }
            data.push_back(OJson{{"id", name}, {"object", "model"}, {"created", 1715367049}, {"owned_by", "system"}});
        }
        return OJson{{"object", "list"}, {"data", std::move(data)}}.dump();
    }

private:
    static void appendUsage(std::string& out, const CompletionRequest& r, const MockReply& c)
    {
        const std::int64_t total = c.totalOutput();
        appendText(out, R"({"prompt_tokens":)", DecimalText(r.inputTokens), R"(,"completion_tokens":)",
                   DecimalText(total), R"(,"total_tokens":)", DecimalText(r.inputTokens + total),
                   R"(,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
                   R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}})");
    }
};

}  // namespace

const Dialect& openAiDialect() noexcept
{
    static const OpenAiDialect instance;
    return instance;
}

}  // namespace sluice::mock
