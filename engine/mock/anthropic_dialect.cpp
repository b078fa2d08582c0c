// Anthropic's Messages dialect.
#include "mock/dialect.h"

#include "core/json_write.h"
#include "core/numbers.h"
#include "core/text_append.h"

#include "core/timefmt.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sluice::mock {

namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;  // bodies read in the provider's field order

ApiError envelope(int status, std::string_view type, std::string_view message, std::string_view requestId,
                  OJson details = nullptr)
{
    OJson error{{"type", type}, {"message", message}};
    if (!details.is_null()) {
        error["details"] = std::move(details);
    }
    return ApiError{status, OJson{{"type", "error"}, {"error", std::move(error)}, {"request_id", requestId}}.dump()};
}

// YYYY-MM-DD, digits only checked for place (the API's own check is a
// lookup; the mock knows no list).
bool isDate(std::string_view v) noexcept
{
    if (v.size() != 10 || v[4] != '-' || v[7] != '-') {
        return false;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9')) {
            return false;
        }
    }
    return true;
}

// "name-YYYY-MM-DD", the name lower-case letters, digits and hyphens.
bool isDatedName(std::string_view v) noexcept
{
    if (v.size() < 12 || v[v.size() - 11] != '-' || !isDate(v.substr(v.size() - 10))) {
        return false;
    }
    const std::string_view name = v.substr(0, v.size() - 11);
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string_view unitPhrase(LimitKind k)
{
    switch (k) {
    case LimitKind::Requests: return "requests per minute";
    case LimitKind::Tokens: return "tokens per minute";
    case LimitKind::InputTokens: return "input tokens per minute";
    case LimitKind::OutputTokens: return "output tokens per minute";
    case LimitKind::RequestsPerDay: return "requests per day";
    }
    return "";
}

std::int64_t roundThousand(std::int64_t v)
{
    return (v + 500) / 1000 * 1000;
}

// When a bucket is full again, rounded up to the second the header names.
std::string resetAt(WallTime now, Duration untilFull)
{
    return formatRfc3339(std::chrono::ceil<std::chrono::seconds>(now + untilFull));
}

// The first day of next month, when a monthly spend limit resets.
std::string nextMonth(WallTime now)
{
    const std::string today = formatRfc3339(now);  // "2026-01-17T..."
    int year = std::stoi(today.substr(0, 4));
    int month = std::stoi(today.substr(5, 2)) + 1;
    if (month > 12) {
        month = 1;
        ++year;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-01", year, month);
    return buf;
}

std::string frame(std::string_view event, const OJson& data)
{
    std::string out = "event: ";
    out.append(event).append("\ndata: ").append(data.dump()).append("\n\n");
    return out;
}

// Reads "messages" and "system" into r.inputTokens; the message of a 400
// when they are not what the API takes.
std::optional<std::string> readMessages(const Json& doc, CompletionRequest& r)
{
    const auto messages = doc.find("messages");
    if (messages == doc.end()) {
        return "messages: Field required";
    }
    if (!messages->is_array()) {
        return "messages: Input should be a valid list";
    }
    if (messages->empty()) {
        return "messages: at least one message is required";
    }
    std::int64_t tokens = 3;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        const Json& m = (*messages)[i];
        const std::string where = "messages." + std::to_string(i);
        if (!m.is_object()) {
            return where + ": Input should be a valid dictionary";
        }
        const auto role = m.find("role");
        if (role == m.end()) {
            return where + ".role: Field required";
        }
        const auto content = m.find("content");
        if (content == m.end()) {
            return where + ".content: Field required";
        }
        tokens += 3 + dialect::contentTokens(*content);
    }
    if (const auto system = doc.find("system"); system != doc.end()) {
        tokens += dialect::contentTokens(*system);
    }
    r.inputTokens = tokens;
    return std::nullopt;
}

class AnthropicDialect final : public Dialect {
public:
    Flavour flavour() const noexcept override { return Flavour::Anthropic; }

    // x-api-key, or "authorization: Bearer KEY" as @anthropic-ai/sdk 1.x
    // sends it.
    std::optional<std::string> apiKey(const net::InboundRequest& request) const override
    {
        if (const auto key = request.header("x-api-key"); key && !key->empty()) {
            return std::string(*key);
        }
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

    bool hasRequiredHeaders(const net::InboundRequest& request) const override
    {
        const auto version = request.header("anthropic-version");
        return version && !version->empty();
    }

    // The API's versions and betas are dated names (2023-06-01,
    // context-1m-2025-08-07); a value of another form is one it does not know.
    std::string headerProblem(const net::InboundRequest& request) const override
    {
        if (const auto version = request.header("anthropic-version"); version && !isDate(*version)) {
            return "anthropic-version: '" + std::string(*version) + "' is not a version of this API (they are dates, such as 2023-06-01)";
        }
        std::string unknown;
        for (const auto& [name, value] : request.headers) {
            if (!net::headerNameEquals(name, "anthropic-beta")) {
                continue;
            }
            std::string_view rest = value;
            while (!rest.empty()) {
                const std::size_t comma = rest.find(',');
                const std::string_view beta = net::trimHeaderValue(rest.substr(0, comma));
                rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
                if (!isDatedName(beta)) {
                    unknown += (unknown.empty() ? "`" : ", `") + std::string(beta) + "`";
                }
            }
        }
        if (!unknown.empty()) {
            return "Unexpected value(s) " + unknown +
                   " for the `anthropic-beta` header. Please consult our documentation at docs.anthropic.com or try "
                   "again without the header.";
        }
        return {};
    }

    std::variant<CompletionRequest, ApiError> parse(std::string_view body, const MockConfig& config,
                                                    std::string_view requestId) const override
    {
        const auto invalid = [&](const std::string& message) {
            return envelope(400, "invalid_request_error", message, requestId);
        };
        Json doc;
        try {
            doc = Json::parse(body.begin(), body.end());
        } catch (const Json::parse_error& e) {
            return error(ErrorCase::MalformedJson,
                         ErrorContext{.detail = "syntax error at byte " + std::to_string(e.byte), .requestId = requestId});
        }
        if (!doc.is_object()) {
            return invalid("Input should be a valid dictionary");
        }
        CompletionRequest r;
        const auto model = doc.find("model");
        if (model == doc.end()) {
            return invalid("model: Field required");
        }
        if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
            return invalid("model: Input should be a valid string");
        }
        r.model = model->get<std::string>();

        const auto maxTokens = doc.find("max_tokens");
        if (maxTokens == doc.end()) {
            return invalid("max_tokens: Field required");
        }
        if (!maxTokens->is_number_integer()) {
            return invalid("max_tokens: Input should be a valid integer");
        }
        if (maxTokens->get<std::int64_t>() < 1) {
            return invalid("max_tokens: Input should be greater than or equal to 1");
        }
        r.maxTokens = maxTokens->get<std::int64_t>();

        if (auto problem = readMessages(doc, r)) {
            return invalid(*problem);
        }

        if (const auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
            if (!stream->is_boolean()) {
                return invalid("stream: Input should be a valid boolean");
            }
            r.stream = stream->get<bool>();
        }

        const auto m = config.models.find(r.model);
        if (m == config.models.end() || m->second.flavour != Flavour::Anthropic) {
            return error(ErrorCase::UnknownModel, ErrorContext{.model = r.model, .requestId = requestId});
        }
        if (r.maxTokens > m->second.maxOutputTokens) {
            return invalid("max_tokens: " + std::to_string(r.maxTokens) + " > " +
                           std::to_string(m->second.maxOutputTokens) +
                           ", which is the maximum allowed number of output tokens for " + r.model);
        }
        return r;
    }

    ApiError error(ErrorCase what, const ErrorContext& c) const override
    {
        switch (what) {
        case ErrorCase::MissingKey:
            return envelope(401, "authentication_error", "x-api-key or authorization header is required", c.requestId);
        case ErrorCase::InvalidKey:
            return envelope(401, "authentication_error", "invalid x-api-key", c.requestId);
        case ErrorCase::ForbiddenModel:
            return envelope(403, "permission_error",
                            "Your API key does not have permission to use the specified resource.", c.requestId);
        case ErrorCase::UnknownModel:
            return envelope(404, "not_found_error", "model: " + std::string(c.model), c.requestId);
        case ErrorCase::UnknownRoute:
            return envelope(404, "not_found_error", "Not Found", c.requestId);
        case ErrorCase::MissingVersion:
            return envelope(400, "invalid_request_error", "anthropic-version: header is required", c.requestId);
        case ErrorCase::InvalidHeader:
            return envelope(400, "invalid_request_error", c.detail, c.requestId);
        case ErrorCase::WrongContentType:
            return envelope(400, "invalid_request_error",
                            "Content-Type must be application/json (got '" + std::string(c.detail) + "')",
                            c.requestId);
        case ErrorCase::MalformedJson:
            return envelope(400, "invalid_request_error",
                            "The request body is not valid JSON: " + std::string(c.detail), c.requestId);
        case ErrorCase::BodyTooLarge:
            return envelope(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
                            c.requestId);
        case ErrorCase::RateLimited:
        case ErrorCase::RequestTooLarge: {
            const LimitDecision& d = *c.limit;
            return envelope(429, "rate_limit_error",
                            "This request would exceed the rate limit for your organization (" +
                                std::string(c.organization) + ") of " + groupThousands(d.limit) + " " +
                                std::string(unitPhrase(d.binding)) +
                                ". For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
                                "the response headers for current usage. Please reduce the prompt length or the "
                                "maximum tokens requested, or try again later. You may also contact sales at "
                                "https://www.anthropic.com/contact-sales to discuss your options for a rate limit "
                                "increase.",
                            c.requestId);
        }
        case ErrorCase::QuotaExhausted:
            return envelope(429, "rate_limit_error",
                            "You have reached your specified API usage limits. You will regain access on " +
                                nextMonth(c.now) + " at 00:00 UTC.",
                            c.requestId, OJson{{"error_code", "enforced_spend_limit_reached"}});
        case ErrorCase::ServerError:
            return envelope(500, "api_error", "Internal server error", c.requestId);
        case ErrorCase::Unavailable:
            return envelope(503, "api_error", "Service unavailable", c.requestId);
        case ErrorCase::Overloaded:
            return envelope(529, "overloaded_error", "Overloaded", c.requestId);
        }
        return envelope(500, "api_error", "unknown error", c.requestId);
    }

    std::string_view requestIdHeader() const noexcept override { return "request-id"; }

    void addRateLimitHeaders(net::HttpHeaders& headers, const LimitStates& states, WallTime now,
                             bool minusOne) const override
    {
        const auto add = [&](const std::string& name, std::int64_t limit, std::int64_t remaining, Duration untilFull) {
            const std::string prefix = "anthropic-ratelimit-" + name;
            headers.emplace_back(prefix + "-limit", minusOne ? "-1" : std::to_string(limit));
            headers.emplace_back(prefix + "-remaining", minusOne ? "-1" : std::to_string(remaining));
            headers.emplace_back(prefix + "-reset", minusOne ? "0" : resetAt(now, untilFull));
        };
        const auto& requests = states[static_cast<std::size_t>(LimitKind::Requests)];
        if (requests.enforced) {
            add("requests", requests.limit, requests.remaining, requests.untilFull);
        }
        // The token pair reports input and output together, as recorded
        // responses do: the sum of the limits and of what remains.
        std::int64_t limit = 0;
        std::int64_t remaining = 0;
        Duration untilFull{};
        bool any = false;
        for (const LimitKind kind : {LimitKind::Tokens, LimitKind::InputTokens, LimitKind::OutputTokens}) {
            const auto& s = states[static_cast<std::size_t>(kind)];
            if (s.enforced) {
                any = true;
                limit += s.limit;
                remaining += s.remaining;
                untilFull = std::max(untilFull, s.untilFull);
            }
        }
        if (any) {
            add("tokens", limit, roundThousand(remaining), untilFull);
        }
        for (const auto& [kind, name] : {std::pair{LimitKind::InputTokens, "input-tokens"},
                                         std::pair{LimitKind::OutputTokens, "output-tokens"}}) {
            const auto& s = states[static_cast<std::size_t>(kind)];
            if (s.enforced) {
                add(name, s.limit, roundThousand(s.remaining), s.untilFull);
            }
        }
    }

    void addCommonHeaders(net::HttpHeaders& headers, std::string_view requestId,
                          const MockConfig& config) const override
    {
        headers.emplace_back("request-id", std::string(requestId));
        headers.emplace_back("anthropic-organization-id",
                             dialect::randomId("", std::hash<std::string>{}(config.organization), 32));
    }

    // Written as text, not built as a document and dumped (the OpenAI
    // dialect's body says why).
    std::string body(const CompletionRequest& r, const MockReply& c) const override
    {
        const std::int64_t out = c.outputTokens.at(0);
        std::string text;
        text.reserve(320 + r.model.size() + static_cast<std::size_t>(out) * 8);
        text.append(R"({"id":)");
        appendJsonString(text, c.id);
        text.append(R"(,"type":"message","role":"assistant","model":)");
        appendJsonString(text, r.model);
        text.append(R"(,"content":[{"type":"text","text":)");
        appendJsonString(text, dialect::text(c.textSeed, out));
        appendText(text, R"(}],"stop_reason":)", stopReason(r, c), R"(,"stop_sequence":null,"usage":)");
        appendUsage(text, r.inputTokens, out);
        text.push_back('}');
        return text;
    }

    StreamScript stream(const CompletionRequest& r, const MockReply& c) const override
    {
        StreamScript s;
        const std::int64_t out = c.outputTokens.at(0);
        std::string start = R"(event: message_start)" "\n" R"(data: {"type":"message_start","message":{"id":)";
        appendJsonString(start, c.id);
        start.append(R"(,"type":"message","role":"assistant","model":)");
        appendJsonString(start, r.model);
        start.append(R"(,"content":[],"stop_reason":null,"stop_sequence":null,"usage":)");
        appendUsage(start, r.inputTokens, 1);
        start.append("}}\n\n");
        s.preamble.push_back(std::move(start));
        s.preamble.emplace_back("event: content_block_start\n"
                                R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
                                "\n\n");
        s.preamble.emplace_back("event: ping\n" R"(data: {"type":"ping"})" "\n\n");
        for (std::int64_t t = 0; t < out; ++t) {
            std::string delta = "event: content_block_delta\n"
                                R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)";
            appendJsonString(delta, dialect::token(c.textSeed, t));
            delta.append("}}\n\n");
            s.tokens.push_back(std::move(delta));
        }
        s.ending.emplace_back("event: content_block_stop\n" R"(data: {"type":"content_block_stop","index":0})" "\n\n");
        std::string end;
        appendText(end, "event: message_delta\n" R"(data: {"type":"message_delta","delta":{"stop_reason":)",
                   stopReason(r, c), R"(,"stop_sequence":null},"usage":{"output_tokens":)", DecimalText(out), "}}\n\n");
        s.ending.push_back(std::move(end));
        s.ending.emplace_back("event: message_stop\n" R"(data: {"type":"message_stop"})" "\n\n");
        return s;
    }

    std::string streamError(std::string_view requestId) const override
    {
        return frame("error", OJson{{"type", "error"},
                                    {"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}},
                                    {"request_id", requestId}});
    }

    std::string modelList(const MockConfig& config, std::string_view key) const override
    {
        const auto k = config.keys.find(std::string(key));
        OJson data = OJson::array();
        for (const auto& [name, m] : config.models) {
            if (m.flavour != Flavour::Anthropic) {
                continue;
            }
            if (k != config.keys.end() && !k->second.models.empty() &&
                std::find(k->second.models.begin(), k->second.models.end(), name) == k->second.models.end()) {
                continue;
            }
            data.push_back(OJson{{"type", "model"},
                                 {"id", name},
                                 {"display_name", name},
                                 {"created_at", "2025-09-29T00:00:00Z"}});
        }
        OJson out{{"data", data}, {"has_more", false}, {"first_id", nullptr}, {"last_id", nullptr}};
        if (!data.empty()) {
            out["first_id"] = data.front()["id"];
            out["last_id"] = data.back()["id"];
        }
        return out.dump();
    }

private:
    static void appendUsage(std::string& out, std::int64_t input, std::int64_t output)
    {
        appendText(out, R"({"input_tokens":)", DecimalText(input),
                   R"(,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":)",
                   DecimalText(output), "}");
    }

    static std::string_view stopReason(const CompletionRequest& r, const MockReply& c)
    {
        return c.truncated(0, r.maxTokens) ? R"("max_tokens")" : R"("end_turn")";
    }
};

}  // namespace

const Dialect& anthropicDialect() noexcept
{
    static const AnthropicDialect instance;
    return instance;
}

std::variant<CompletionRequest, ApiError> parseMessageTokenCount(std::string_view body, const MockConfig& config,
                                                                 std::string_view requestId)
{
    const Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return anthropicDialect().error(ErrorCase::MalformedJson, ErrorContext{.requestId = requestId});
    }
    CompletionRequest r;
    const auto model = doc.find("model");
    if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return envelope(400, "invalid_request_error", "model: Field required", requestId);
    }
    r.model = model->get<std::string>();
    if (auto problem = readMessages(doc, r)) {
        return envelope(400, "invalid_request_error", *problem, requestId);
    }
    const auto m = config.models.find(r.model);
    if (m == config.models.end() || m->second.flavour != Flavour::Anthropic) {
        return anthropicDialect().error(ErrorCase::UnknownModel, ErrorContext{.model = r.model, .requestId = requestId});
    }
    return r;
}

}  // namespace sluice::mock
