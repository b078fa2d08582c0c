#include "providers/protocol.h"

#include "core/json_scan.h"
#include "providers/chat_scan.h"
#include "providers/prompt_estimator.h"
#include "providers/prompt_media.h"
#include "providers/stream_event_reader.h"

#include <charconv>
#include <cmath>

namespace sluice {

using nlohmann::json;

std::string_view flavorName(ApiFlavor f) noexcept
{
    return f == ApiFlavor::OpenAI ? "openai" : "anthropic";
}

bool parseFlavor(std::string_view text, ApiFlavor& out) noexcept
{
    if (text == "openai") {
        out = ApiFlavor::OpenAI;
        return true;
    }
    if (text == "anthropic") {
        out = ApiFlavor::Anthropic;
        return true;
    }
    return false;
}

std::string_view endpointPath(ApiFlavor f) noexcept
{
    return f == ApiFlavor::OpenAI ? "/v1/chat/completions" : "/v1/messages";
}

std::string_view endpointPath(ApiFlavor f, Endpoint e) noexcept
{
    switch (e) {
    case Endpoint::Responses:
        return "/v1/responses";
    case Endpoint::Embeddings:
        return "/v1/embeddings";
    case Endpoint::Completion:
        break;
    }
    return endpointPath(f);
}

std::optional<EndpointRoute> routeOfPath(std::string_view path) noexcept
{
    if (path == "/v1/chat/completions") {
        return EndpointRoute{ApiFlavor::OpenAI, Endpoint::Completion};
    }
    if (path == "/v1/messages") {
        return EndpointRoute{ApiFlavor::Anthropic, Endpoint::Completion};
    }
    if (path == "/v1/responses") {
        return EndpointRoute{ApiFlavor::OpenAI, Endpoint::Responses};
    }
    if (path == "/v1/embeddings") {
        return EndpointRoute{ApiFlavor::OpenAI, Endpoint::Embeddings};
    }
    return std::nullopt;
}

std::string_view knownRequestPaths() noexcept
{
    return R"("/v1/chat/completions", "/v1/messages", "/v1/responses" or "/v1/embeddings")";
}

namespace {

// Each text in a message content: a string, or an array of parts whose text
// counts: text and thinking, a tool call's input (as JSON), a tool result's
// own content. Images and documents are media (providers/prompt_media.h),
// estimated apart.
template <class Fn>
void forEachContentText(const json& content, Fn&& fn, int depth = 0)
{
    if (content.is_string()) {
        fn(std::string_view(content.get_ref<const std::string&>()));
        return;
    }
    if (!content.is_array() || depth > 64) {
        return;
    }
    for (const auto& part : content) {
        if (part.is_string()) {
            fn(std::string_view(part.get_ref<const std::string&>()));
            continue;
        }
        if (!part.is_object()) {
            continue;
        }
        for (const char* field : {"text", "thinking"}) {
            if (const auto t = part.find(field); t != part.end() && t->is_string()) {
                fn(std::string_view(t->get_ref<const std::string&>()));
            }
        }
        if (const auto input = part.find("input"); input != part.end() && input->is_object()) {
            fn(std::string_view(input->dump()));
        }
        if (const auto inner = part.find("content"); inner != part.end()) {
            forEachContentText(*inner, fn, depth + 1);
        }
    }
}

std::size_t contentChars(const json& content)
{
    std::size_t n = 0;
    forEachContentText(content, [&n](std::string_view text) { n += text.size(); });
    return n;
}

std::int64_t tokensFromChars(std::size_t chars)
{
    return static_cast<std::int64_t>((chars + 3) / 4);
}

std::int64_t intField(const json& obj, const char* name, std::int64_t fallback)
{
    const auto it = obj.find(name);
    return it != obj.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

// A standard field the provider would refuse with a 400 is refused here,
// before it is queued, sent and paid for in rate-limit budget.
void requireWholeNumber(const json& body, const char* name, std::int64_t min, std::int64_t max)
{
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
        return;
    }
    if (!it->is_number_integer()) {
        throw InputError("body." + std::string(name) + ": must be a whole number (got " + it->dump() + ")");
    }
    const double v = it->get<double>();
    if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
        throw InputError("body." + std::string(name) + ": must be between " + std::to_string(min) + " and " +
                         std::to_string(max) + " (got " + it->dump() + ")");
    }
}

void requireNumberIn(const json& body, const char* name, double min, double max, const char* range)
{
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
        return;
    }
    if (!it->is_number() || !(it->get<double>() >= min && it->get<double>() <= max)) {
        throw InputError("body." + std::string(name) + ": must be a number from " + range + " (got " + it->dump() + ")");
    }
}

// Members of a provider's events, which are outside input: a member of the
// wrong type (or a container that is not an object) reads as missing, where
// json::value() would throw on the dispatcher thread.
std::string stringField(const json& obj, const char* name, const std::string& fallback = {})
{
    if (!obj.is_object()) {
        return fallback;
    }
    const auto it = obj.find(name);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

const json& objectField(const json& obj, const char* name)
{
    static const json kEmpty = json::object();
    if (!obj.is_object()) {
        return kEmpty;
    }
    const auto it = obj.find(name);
    return it != obj.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace

namespace {

// A prompt's tokens with `fieldTokens` for a message field's content and
// `textTokens` for one text (a tool definition): the rule of thumb's
// overheads around whichever count.
template <class FieldTokens, class TextTokens>
std::int64_t promptTokensBy(ApiFlavor flavor, const json& body, FieldTokens&& fieldTokens, TextTokens&& textTokens)
{
    std::int64_t tokens = 3;  // reply priming
    if (flavor == ApiFlavor::Anthropic) {
        if (const auto sys = body.find("system"); sys != body.end()) {
            tokens += 3 + fieldTokens(*sys);
        }
        // Tool definitions are prompt too: a coding agent's can outweigh
        // the conversation.
        if (const auto tools = body.find("tools"); tools != body.end() && tools->is_array()) {
            for (const auto& tool : *tools) {
                tokens += textTokens(std::string_view(tool.dump()));
            }
        }
    }
    // As OpenAI's cookbook counts chat tokens: every field's text (role
    // included), plus 3 per message and 1 more for a name.
    if (const auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array()) {
        for (const auto& m : *msgs) {
            tokens += 3;
            if (!m.is_object()) {
                continue;
            }
            for (const char* field : {"role", "content", "name"}) {
                if (const auto f = m.find(field); f != m.end()) {
                    tokens += fieldTokens(*f);
                }
            }
            if (m.contains("name")) {
                tokens += 1;
            }
        }
    }
    return tokens;
}

}  // namespace

std::int64_t estimatePromptTokens(ApiFlavor flavor, const json& body)
{
    return promptTokensBy(
        flavor, body, [](const json& field) { return tokensFromChars(contentChars(field)); },
        [](std::string_view text) { return tokensFromChars(text.size()); });
}

std::int64_t proxyPromptTokens(ApiFlavor flavor, const json& body,
                               const std::function<std::int64_t(std::string_view)>& count)
{
    return promptTokensBy(
        flavor, body,
        [&count](const json& field) {
            std::int64_t n = 0;
            forEachContentText(field, [&](std::string_view text) { n += count(text); });
            return n;
        },
        count);
}

std::int64_t estimatePromptTokens(const ScannedChat& chat)
{
    using MemberKey = tokenize::ChatStringMember::Key;
    std::int64_t tokens = 3 + 3 * static_cast<std::int64_t>(chat.messageEnds.size());
    for (const tokenize::ChatStringMember& m : chat.members) {
        if (m.key != MemberKey::Other) {
            tokens += tokensFromChars(m.text.size()) + (m.key == MemberKey::Name ? 1 : 0);
        }
    }
    return tokens;
}

std::string_view promptCountMethodName(PromptCountMethod m) noexcept
{
    switch (m) {
    case PromptCountMethod::Exact:
        return "exact";
    case PromptCountMethod::Calibrated:
        return "calibrated";
    case PromptCountMethod::RuleOfThumb:
        return "rule-of-thumb";
    }
    return "rule-of-thumb";
}

RequestInfo analyzeRequest(ApiFlavor flavor, const json& body, std::int64_t defaultMaxOutputTokens,
                           const PromptEstimator* estimator)
{
    if (!body.is_object()) {
        throw InputError("body: must be a JSON object");
    }
    RequestInfo info;
    const auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        throw InputError("body.model: required (a model name)");
    }
    info.model = model->get<std::string>();
    const auto msgs = body.find("messages");
    if (msgs == body.end() || !msgs->is_array() || msgs->empty()) {
        throw InputError("body.messages: required (a non-empty array)");
    }
    if (const auto s = body.find("stream"); s != body.end()) {
        if (!s->is_boolean()) {
            throw InputError("body.stream: must be true or false");
        }
        info.stream = s->get<bool>();
    }
    constexpr std::int64_t kMaxTokens = std::int64_t{1} << 31;
    if (flavor == ApiFlavor::OpenAI) {
        requireWholeNumber(body, "n", 1, 128);
        requireWholeNumber(body, "max_tokens", 1, kMaxTokens);
        requireWholeNumber(body, "max_completion_tokens", 1, kMaxTokens);
        requireNumberIn(body, "temperature", 0, 2, "0 to 2");
        requireNumberIn(body, "top_p", 0, 1, "0 to 1");
        info.n = static_cast<int>(intField(body, "n", 1));
        std::int64_t maxOut = intField(body, "max_completion_tokens", -1);
        if (maxOut < 0) {
            maxOut = intField(body, "max_tokens", -1);
        }
        info.maxOutputTokens = maxOut >= 0 ? maxOut : defaultMaxOutputTokens;
        info.outputUnstated = maxOut < 0;
    } else {
        requireWholeNumber(body, "max_tokens", 1, kMaxTokens);
        requireNumberIn(body, "temperature", 0, 1, "0 to 1");
        requireNumberIn(body, "top_p", 0, 1, "0 to 1");
        const auto mt = body.find("max_tokens");
        if (mt == body.end() || !mt->is_number_integer() || mt->get<std::int64_t>() < 1) {
            throw InputError("body.max_tokens: required for Anthropic (a positive integer)");
        }
        info.maxOutputTokens = mt->get<std::int64_t>();
    }
    if (estimator != nullptr) {
        info.prompt = estimator->estimate(flavor, info.model, body);
    } else {
        info.prompt.tokens = info.prompt.ruleOfThumb = estimatePromptTokens(flavor, body);
        addPromptMedia(info.prompt, flavor, body);
    }
    info.promptTokens = info.prompt.tokens;
    return info;
}

RequestInfo analyzeScannedChat(const ScannedChat& chat, std::int64_t defaultMaxOutputTokens,
                               const PromptEstimator* estimator)
{
    RequestInfo info;
    info.model = chat.model;
    info.stream = chat.stream;
    info.n = chat.n;
    info.maxOutputTokens = chat.maxOutputTokens.value_or(defaultMaxOutputTokens);
    info.outputUnstated = !chat.maxOutputTokens.has_value();
    if (estimator != nullptr) {
        info.prompt = estimator->estimate(chat);
    } else {
        // Only string members: no media.
        info.prompt.tokens = info.prompt.ruleOfThumb = estimatePromptTokens(chat);
    }
    info.promptTokens = info.prompt.tokens;
    return info;
}

std::optional<ResponseUsage> usageFromBody(ApiFlavor flavor, const json& body)
{
    if (!body.is_object()) {
        return std::nullopt;
    }
    const auto u = body.find("usage");
    if (u == body.end()) {
        return std::nullopt;
    }
    return usageFromUsage(flavor, *u);
}

std::optional<ResponseUsage> usageFromUsage(ApiFlavor flavor, const json& usage)
{
    if (!usage.is_object()) {
        return std::nullopt;
    }
    const json* u = &usage;
    ResponseUsage r;
    if (flavor == ApiFlavor::OpenAI) {
        // Chat Completions and Embeddings say prompt_tokens; the Responses
        // API says input_tokens and output_tokens.
        const bool responses = !u->contains("prompt_tokens") && u->contains("input_tokens");
        r.inputTokens = intField(*u, responses ? "input_tokens" : "prompt_tokens", 0);
        r.outputTokens = intField(*u, responses ? "output_tokens" : "completion_tokens", 0);
        std::int64_t cached = 0;
        if (const auto d = u->find(responses ? "input_tokens_details" : "prompt_tokens_details");
            d != u->end() && d->is_object()) {
            cached = intField(*d, "cached_tokens", 0);
        }
        r.billed.inputTokens = r.inputTokens - cached;
        r.billed.cachedInputTokens = cached;
        r.billed.outputTokens = r.outputTokens;
    } else {
        const std::int64_t input = intField(*u, "input_tokens", 0);
        const std::int64_t write = intField(*u, "cache_creation_input_tokens", 0);
        const std::int64_t read = intField(*u, "cache_read_input_tokens", 0);
        r.inputTokens = input + write;
        r.outputTokens = intField(*u, "output_tokens", 0);
        r.billed = TokenUsage{input, r.outputTokens, read, write};
    }
    return r;
}

namespace {

std::int64_t leadingInteger(std::string_view v)
{
    std::int64_t n = 0;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return n;
}

}  // namespace

// Counts by field name; a nested *_details object is searched for the one
// count it holds that matters here.
void UsageReader::member(std::string_view key, std::string_view value)
{
    if (key == "prompt_tokens") {
        m_prompt = leadingInteger(value);
        m_sawPrompt = true;
    } else if (key == "completion_tokens") {
        m_completion = leadingInteger(value);
    } else if (key == "prompt_tokens_details" && !value.empty() && value.front() == '{') {
        scanJson(value, [this](std::string_view k, std::string_view v) {
            if (k == "cached_tokens") {
                m_cached = leadingInteger(v);
            }
        });
    } else if (key == "input_tokens_details" && !value.empty() && value.front() == '{') {
        scanJson(value, [this](std::string_view k, std::string_view v) {
            if (k == "cached_tokens") {
                m_inputCached = leadingInteger(v);
            }
        });
    } else if (key == "input_tokens") {
        m_input = leadingInteger(value);
    } else if (key == "output_tokens") {
        m_output = leadingInteger(value);
    } else if (key == "cache_creation_input_tokens") {
        m_write = leadingInteger(value);
    } else if (key == "cache_read_input_tokens") {
        m_read = leadingInteger(value);
    }
}

ResponseUsage UsageReader::result(ApiFlavor flavor) const
{
    ResponseUsage r;
    if (flavor == ApiFlavor::OpenAI && !m_sawPrompt) {
        // The Responses API's shape (or no counts at all: zeros either way).
        r.inputTokens = m_input;
        r.outputTokens = m_output;
        r.billed = TokenUsage{m_input - m_inputCached, m_output, m_inputCached, 0};
    } else if (flavor == ApiFlavor::OpenAI) {
        r.inputTokens = m_prompt;
        r.outputTokens = m_completion;
        r.billed = TokenUsage{m_prompt - m_cached, m_completion, m_cached, 0};
    } else {
        r.inputTokens = m_input + m_write;
        r.outputTokens = m_output;
        r.billed = TokenUsage{m_input, m_output, m_read, m_write};
    }
    return r;
}

std::optional<ResponseUsage> usageFromText(ApiFlavor flavor, std::string_view usageJson)
{
    UsageReader reader;
    const bool object = !usageJson.empty() && usageJson.front() == '{';
    const bool ok = object && scanJson(usageJson, [&reader](std::string_view key, std::string_view value) {
        reader.member(key, value);
    });
    if (!ok) {
        return std::nullopt;
    }
    return reader.result(flavor);
}

bool StreamAccumulator::feed(std::string_view bytes)
{
    m_firstTokenNow = false;
    return m_parser.feed(bytes, [this](const SseEvent& ev) { return onEvent(ev); });
}

bool StreamAccumulator::onEvent(const SseEvent& ev)
{
    if (m_flavor == ApiFlavor::OpenAI && ev.data == "[DONE]") {
        m_done = true;
        return true;
    }
    if (m_flavor == ApiFlavor::OpenAI && m_endpoint != Endpoint::Responses) {
        if (const std::optional<bool> read = onOpenAiChunkText(ev.data)) {
            return *read;
        }
    }
    if (m_flavor == ApiFlavor::Anthropic) {
        if (const std::optional<bool> read = onAnthropicDeltaText(ev.event, ev.data)) {
            return *read;
        }
    }
    json data = json::parse(ev.data, nullptr, false);
    if (data.is_discarded()) {
        m_malformed = true;
        return true;
    }
    if (m_flavor == ApiFlavor::OpenAI && m_endpoint == Endpoint::Responses) {
        return onResponsesEvent(data);
    }
    if (m_flavor == ApiFlavor::OpenAI) {
        return onOpenAiChunk(data);
    }
    return onAnthropicEvent(ev.event, data);
}

// The Responses API streams typed events (response.created,
// response.output_text.delta, …, response.completed whose response object
// is the whole answer, usage included) and no [DONE].
bool StreamAccumulator::onResponsesEvent(const json& data)
{
    if (!data.is_object()) {
        m_malformed = true;
        return true;
    }
    const std::string type = stringField(data, "type");
    if (type == "error") {
        m_error = data;
        return false;
    }
    const json& response = objectField(data, "response");
    if (type == "response.failed") {
        const json& e = objectField(response, "error");
        m_error = json{{"error",
                        {{"type", stringField(e, "code", "response_failed")},
                         {"message", stringField(e, "message", "response.failed after HTTP 200")}}}};
        return false;
    }
    if (type == "response.created") {
        m_id = stringField(response, "id");
        m_model = stringField(response, "model");
        m_created = intField(response, "created_at", 0);
    } else if (type == "response.output_text.delta") {
        if (const auto d = data.find("delta"); d != data.end() && d->is_string()) {
            if (!m_firstToken && !d->get_ref<const std::string&>().empty()) {
                m_firstToken = true;
                m_firstTokenNow = true;
            }
            m_text += d->get<std::string>();
        }
    } else if (type == "response.completed" || type == "response.incomplete") {
        m_response = response;
        if (const auto u = response.find("usage"); u != response.end()) {
            if (auto usage = usageFromUsage(ApiFlavor::OpenAI, *u)) {
                m_usage = usage;
            }
        }
        m_done = true;
    }
    return true;
}

std::optional<bool> StreamAccumulator::onOpenAiChunkText(std::string_view text)
{
    std::optional<OpenAiChunkRead> read = readOpenAiChunk(text, m_id.empty());
    if (!read) {
        return std::nullopt;
    }
    if (read->header) {
        m_id = std::move(read->header->id);
        m_model = std::move(read->header->model);
        m_created = read->header->created;
    }
    if (read->anyContent && !m_firstToken) {
        m_firstToken = true;
        m_firstTokenNow = true;
    }
    m_text += read->text;
    if (read->finishReason) {
        m_finishReason = std::move(*read->finishReason);
    }
    if (!read->usage.empty()) {
        if (auto u = usageFromText(ApiFlavor::OpenAI, read->usage)) {
            m_usage = u;
        }
    }
    return true;
}

std::optional<bool> StreamAccumulator::onAnthropicDeltaText(const std::string& name, std::string_view text)
{
    const std::optional<std::optional<std::string>> piece = readAnthropicDelta(name, text);
    if (!piece) {
        return std::nullopt;
    }
    if (*piece) {
        if (!m_firstToken && !(*piece)->empty()) {
            m_firstToken = true;
            m_firstTokenNow = true;
        }
        m_text += **piece;
    }
    return true;
}

bool StreamAccumulator::onOpenAiChunk(const json& chunk)
{
    if (!chunk.is_object()) {
        m_malformed = true;
        return true;
    }
    if (const auto e = chunk.find("error"); e != chunk.end() && !e->is_null()) {
        m_error = chunk;
        return false;
    }
    if (m_id.empty()) {
        m_id = stringField(chunk, "id");
        m_model = stringField(chunk, "model");
        m_created = intField(chunk, "created", 0);
    }
    if (const auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
        for (const auto& c : *choices) {
            if (!c.is_object()) {
                continue;
            }
            if (const auto d = c.find("delta"); d != c.end() && d->is_object()) {
                if (const auto t = d->find("content"); t != d->end() && t->is_string()) {
                    if (!m_firstToken && !t->get_ref<const std::string&>().empty()) {
                        m_firstToken = true;
                        m_firstTokenNow = true;
                    }
                    if (intField(c, "index", 0) == 0) {
                        m_text += t->get<std::string>();
                    }
                }
            }
            if (const auto f = c.find("finish_reason"); f != c.end() && f->is_string()) {
                m_finishReason = f->get<std::string>();
            }
        }
    }
    if (auto u = usageFromBody(ApiFlavor::OpenAI, chunk)) {
        m_usage = u;
    }
    return true;
}

bool StreamAccumulator::onAnthropicEvent(const std::string& name, const json& data)
{
    const std::string type = stringField(data, "type", name);
    if (type == "error") {
        m_error = data;
        return false;
    }
    if (type == "message_start") {
        const json& msg = objectField(data, "message");
        m_id = stringField(msg, "id");
        m_model = stringField(msg, "model");
        if (const auto u = msg.find("usage"); u != msg.end() && u->is_object()) {
            m_anthropicInput = intField(*u, "input_tokens", 0);
            m_anthropicCacheWrite = intField(*u, "cache_creation_input_tokens", 0);
            m_anthropicCacheRead = intField(*u, "cache_read_input_tokens", 0);
        }
    } else if (type == "content_block_delta") {
        const json& delta = objectField(data, "delta");
        if (const auto t = delta.find("text"); t != delta.end() && t->is_string()) {
            if (!m_firstToken && !t->get_ref<const std::string&>().empty()) {
                m_firstToken = true;
                m_firstTokenNow = true;
            }
            m_text += t->get<std::string>();
        }
    } else if (type == "message_delta") {
        const json& delta = objectField(data, "delta");
        if (const auto s = delta.find("stop_reason"); s != delta.end() && s->is_string()) {
            m_finishReason = s->get<std::string>();
        }
        if (const auto u = data.find("usage"); u != data.end() && u->is_object()) {
            // message_delta's usage is cumulative; input counts may repeat.
            ResponseUsage r;
            const std::int64_t input = intField(*u, "input_tokens", m_anthropicInput);
            const std::int64_t write = intField(*u, "cache_creation_input_tokens", m_anthropicCacheWrite);
            const std::int64_t read = intField(*u, "cache_read_input_tokens", m_anthropicCacheRead);
            r.outputTokens = intField(*u, "output_tokens", 0);
            r.inputTokens = input + write;
            r.billed = TokenUsage{input, r.outputTokens, read, write};
            m_usage = r;
        }
    } else if (type == "message_stop") {
        m_done = true;
    }
    return true;
}

json StreamAccumulator::assembledBody() const
{
    if (m_flavor == ApiFlavor::OpenAI && m_endpoint == Endpoint::Responses) {
        if (m_response.is_object() && !m_response.empty()) {
            return m_response;
        }
        json body = {{"id", m_id},
                     {"object", "response"},
                     {"created_at", m_created},
                     {"model", m_model},
                     {"status", "incomplete"},
                     {"output_text", m_text}};
        return body;
    }
    if (m_flavor == ApiFlavor::OpenAI) {
        json body = {{"id", m_id},
                     {"object", "chat.completion"},
                     {"created", m_created},
                     {"model", m_model},
                     {"choices",
                      json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", m_text}}},
                                    {"finish_reason", m_finishReason.empty() ? json(nullptr) : json(m_finishReason)}}})}};
        if (m_usage) {
            body["usage"] = {{"prompt_tokens", m_usage->inputTokens},
                             {"completion_tokens", m_usage->outputTokens},
                             {"total_tokens", m_usage->inputTokens + m_usage->outputTokens}};
        }
        return body;
    }
    json body = {{"id", m_id},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", m_model},
                 {"content", json::array({{{"type", "text"}, {"text", m_text}}})},
                 {"stop_reason", m_finishReason.empty() ? json(nullptr) : json(m_finishReason)}};
    if (m_usage) {
        body["usage"] = {{"input_tokens", m_usage->billed.inputTokens},
                         {"output_tokens", m_usage->outputTokens},
                         {"cache_creation_input_tokens", m_usage->billed.cacheWriteTokens},
                         {"cache_read_input_tokens", m_usage->billed.cachedInputTokens}};
    }
    return body;
}

}  // namespace sluice
