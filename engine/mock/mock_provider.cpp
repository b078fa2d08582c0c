#include "mock/mock_provider.h"

#include "mock/behaviour.h"
#include "mock/clock_timers.h"
#include "mock/dialect.h"
#include "mock/latency_knee.h"
#include "mock/limit_table.h"
#include "mock/prompt_counter.h"
#include "mock/stored_responses.h"
#include "net/http_server.h"
#include "tokenize/resource_dir.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

namespace sluice::mock {

namespace {

constexpr std::string_view kJson = "application/json";

// What an admitted completion was charged on arrival, and how its output is
// settled when it ends.
struct Admitted {
    LimitStates states{};
    std::int64_t reservedOutput = 0;  // debited from OTPM on arrival
    std::int64_t maxOutput = 0;       // max_tokens × n, in the TPM charge on arrival
    bool chargeActualOutput = false;  // the key is charged the real output at the end
};

std::string controlError(std::string_view message)
{
    std::string out = R"({"error":{"type":"invalid_config","message":)";
    // The message is ours and holds no control characters; quotes and
    // backslashes still need escaping.
    out.push_back('"');
    for (char c : message) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.append("\"}}");
    return out;
}

// For paths both dialects share: Anthropic's clients send x-api-key or
// anthropic-version; everything else is taken for OpenAI.
const Dialect& dialectFor(const net::InboundRequest& request)
{
    return request.header("x-api-key") || request.header("anthropic-version") ? anthropicDialect() : openAiDialect();
}

}  // namespace

struct MockProvider::Impl {
    Impl(Clock& c, MockConfig cfg, Delays delays)
        : clock(c), config(std::make_shared<const MockConfig>(std::move(cfg))), stats(c.now()),
          prompts(tokenize::tokenizerDir())
    {
        checkTokenizers(*config, "config");
        // The SystemClock's time is the server timers' time already.
        if (delays == Delays::OnClock && dynamic_cast<SystemClock*>(&c) == nullptr) {
            paced = std::make_unique<ClockPacedReplies>(c);
        }
    }

    Clock& clock;
    mutable std::mutex mutex;
    std::shared_ptr<const MockConfig> config;  // replaced whole, never changed in place
    LimitTable table;
    StatsRecorder stats;
    LatencyKnee knee;
    std::map<std::string, std::int64_t> quotaUsed;  // tokens charged per key
    std::atomic<std::uint64_t> sequence{0};
    std::unique_ptr<net::HttpServer> server;
    PromptCounter prompts;
    StoredResponses storedResponses;

    // A model that counts with a tokenizer whose rank file cannot be read
    // is refused, rather than falling back to characters ÷ 4 unnoticed.
    void checkTokenizers(const MockConfig& c, std::string_view source) const
    {
        for (const auto& [name, model] : c.models) {
            if (const std::string why = prompts.loadError(model.promptCounting); !why.empty()) {
                throw ConfigError(std::string(source) + ": /models/" + name + "/tokenizer: " +
                                  std::string(promptCountingName(model.promptCounting)) + " cannot be used: " + why);
            }
        }
    }

    // Delays::OnClock: holds delayed replies until the clock gets there.
    // Last, so it goes first: held replies' onFinished use the members above.
    std::unique_ptr<ClockPacedReplies> paced;

    std::shared_ptr<const MockConfig> currentConfig() const
    {
        std::lock_guard guard(mutex);
        return config;
    }

    net::HttpReply route(const net::InboundRequest& request);
    // The OpenAI key a request about stored responses (or their input)
    // names, or the 401 it gets.
    // The key a request authenticates with (and, for Anthropic, names a
    // version), or the error it gets in `dialect`'s shape.
    std::variant<std::string, net::HttpReply> keyOf(const net::InboundRequest& request, const Dialect& dialect);
    // POST /v1/responses/input_tokens (OpenAI) or /v1/messages/count_tokens
    // (Anthropic).
    net::HttpReply inputTokens(const net::InboundRequest& request, const Dialect& dialect);
    std::optional<ApiError> countPrompt(const MockConfig& cfg, const net::InboundRequest& request,
                                        const std::string& key, CompletionRequest& r);
    net::HttpReply completion(const net::InboundRequest& request, const Dialect& dialect);
    net::HttpReply models(const net::InboundRequest& request);
    net::HttpReply control(const net::InboundRequest& request);

    net::HttpReply errorReply(ApiError error, const net::HttpHeaders& headers, bool countAsError);
    net::HttpReply answer(const Dialect& dialect, const MockConfig& cfg,
                          const CompletionRequest& r, const std::string& key, const std::string& requestId,
                          std::uint64_t seq, const Admitted& admitted, WallTime wall);
    void replace(std::shared_ptr<const MockConfig> next, std::string_view source);
    bool admit(const MockConfig& cfg, const std::string& key, const MockKey& k, const CompletionRequest& r,
               const RateLimits& limits, const Charge& charge, const Admitted& admitted, LimitDecision& decision);
    net::HttpReply refuse(const Dialect& dialect, const MockConfig& cfg, const LimitDecision& decision,
                          ErrorContext& ctx, net::HttpHeaders& headers, WallTime wall);
    void closeBooks(net::HttpReply& reply, const std::string& key, const std::string& model, std::int64_t produced,
                    const Admitted& admitted);
};

namespace {

// Plans a plain answer's bytes: the body after `delay`, or the break a
// body fault makes.
void planBody(net::HttpReply& reply, std::string body, Fault applied, Duration delay)
{
    reply.headers.emplace_back("Content-Type", std::string(kJson));
    if (applied == Fault::ConnectionReset) {
        reply.declaredLength = body.size();
        body.resize(body.size() / 2);
        reply.ending = net::HttpEnding::Reset;
    } else if (applied == Fault::MalformedJson) {
        body.resize(body.size() / 2);
    }
    reply.parts.push_back(net::HttpPart{delay, std::move(body)});
}

// Plans a streamed answer's bytes: the preamble, a frame per token paced
// perToken apart, the ending, or the break a stream fault makes (then
// produced is the tokens sent).
void planStream(net::HttpReply& reply, StreamScript script, const Dialect& dialect, Fault applied,
                Duration firstToken, Duration perToken, const std::string& requestId, std::int64_t& produced)
{
    reply.chunked = true;
    reply.headers.emplace_back("Content-Type", "text/event-stream; charset=utf-8");
    reply.headers.emplace_back("Cache-Control", "no-cache");
    std::string preamble;
    for (const auto& f : script.preamble) {
        preamble += f;
    }
    reply.parts.push_back(net::HttpPart{Duration::zero(), std::move(preamble)});
    const std::size_t cut = script.tokens.size() / 2;
    const bool cuts = applied == Fault::ConnectionReset || applied == Fault::StreamCut || applied == Fault::SseError;
    const std::size_t sent = cuts ? cut : script.tokens.size();
    for (std::size_t i = 0; i < sent; ++i) {
        std::string& frame = script.tokens[i];
        if (applied == Fault::MalformedJson && i == cut) {
            frame.resize(frame.size() / 2);
            frame += "\n\n";
        }
        reply.parts.push_back(net::HttpPart{i == 0 ? firstToken : perToken, std::move(frame)});
    }
    if (cuts) {
        // Tokens stop where the stream breaks; the output count follows.
        produced = static_cast<std::int64_t>(sent);
        if (applied == Fault::SseError) {
            reply.parts.push_back(net::HttpPart{perToken, dialect.streamError(requestId)});
        } else {
            reply.ending = applied == Fault::StreamCut ? net::HttpEnding::Close : net::HttpEnding::Reset;
        }
    } else {
        std::string ending;
        for (const auto& f : script.ending) {
            ending += f;
        }
        reply.parts.push_back(net::HttpPart{sent == 0 ? firstToken : Duration::zero(), std::move(ending)});
    }
}

}  // namespace

net::HttpReply MockProvider::Impl::route(const net::InboundRequest& request)
{
    const std::string_view path = request.path();
    if (path == "/v1/chat/completions") {
        return completion(request, openAiDialect());
    }
    if (path == "/v1/messages") {
        return completion(request, anthropicDialect());
    }
    if (path == "/v1/responses") {
        return completion(request, openAiResponsesDialect());
    }
    if (path == "/v1/embeddings") {
        return completion(request, openAiEmbeddingsDialect());
    }
    if (path == "/v1/responses/compact") {
        return completion(request, openAiCompactionDialect());
    }
    if (path == "/v1/responses/input_tokens" && request.method == "POST") {
        return inputTokens(request, openAiResponsesDialect());
    }
    if (path == "/v1/messages/count_tokens" && request.method == "POST") {
        return inputTokens(request, anthropicDialect());
    }
    if (path == "/v1/models" && request.method == "GET") {
        return models(request);
    }
    if (path == "/mock/stats" || path == "/mock/config") {
        return control(request);
    }
    if (StoredResponses::routes(request.method, path)) {
        auto key = keyOf(request, openAiDialect());
        if (auto* refused = std::get_if<net::HttpReply>(&key)) {
            return std::move(*refused);
        }
        return storedResponses.answer(std::get<std::string>(key), request.method, path);
    }
    const Dialect& dialect = dialectFor(request);
    const std::string what = request.method + " " + std::string(path);
    return errorReply(dialect.error(ErrorCase::UnknownRoute, ErrorContext{.detail = what}), {}, false);
}

std::variant<std::string, net::HttpReply> MockProvider::Impl::keyOf(const net::InboundRequest& request,
                                                                    const Dialect& dialect)
{
    const std::optional<std::string> key = dialect.apiKey(request);
    if (!key) {
        return errorReply(dialect.error(ErrorCase::MissingKey, ErrorContext{}), {}, false);
    }
    const auto cfg = currentConfig();
    const auto k = cfg->keys.find(*key);
    if (k == cfg->keys.end() || k->second.disabled) {
        return errorReply(dialect.error(ErrorCase::InvalidKey, ErrorContext{.key = *key}), {}, false);
    }
    if (!dialect.hasRequiredHeaders(request)) {
        return errorReply(dialect.error(ErrorCase::MissingVersion, ErrorContext{}), {}, false);
    }
    return *key;
}

// Counting a request's input generates nothing: no limit is charged.
net::HttpReply MockProvider::Impl::inputTokens(const net::InboundRequest& request, const Dialect& dialect)
{
    auto key = keyOf(request, dialect);
    if (auto* refused = std::get_if<net::HttpReply>(&key)) {
        return std::move(*refused);
    }
    const auto cfg = currentConfig();
    const bool anthropic = dialect.flavour() == Flavour::Anthropic;
    const std::string requestId = dialect::randomId("req_", sequence.fetch_add(1, std::memory_order_relaxed), 24);
    auto parsed = anthropic ? parseMessageTokenCount(request.body, *cfg, requestId) : parseInputTokenCount(request.body, *cfg);
    if (auto* e = std::get_if<ApiError>(&parsed)) {
        return errorReply(std::move(*e), {}, false);
    }
    CompletionRequest& r = std::get<CompletionRequest>(parsed);
    if (auto unknown = countPrompt(*cfg, request, std::get<std::string>(key), r)) {
        return errorReply(std::move(*unknown), {}, false);
    }
    const std::string count = std::to_string(r.inputTokens);
    return net::HttpReply::whole(200, std::string(kJson),
                                 anthropic ? R"({"input_tokens":)" + count + "}"
                                           : R"({"object":"response.input_tokens","input_tokens":)" + count + "}");
}

net::HttpReply MockProvider::Impl::errorReply(ApiError e, const net::HttpHeaders& headers, bool countAsError)
{
    if (countAsError) {
        std::lock_guard guard(mutex);
        stats.error(clock.now(), e.status);
    }
    net::HttpReply reply = net::HttpReply::whole(e.status, std::string(kJson), std::move(e.body));
    reply.headers.insert(reply.headers.end(), headers.begin(), headers.end());
    return reply;
}

namespace {

// What a request counts against its limits on arrival.
Charge chargeOf(const CompletionRequest& r, const RateLimits& limits)
{
    const std::int64_t maxOutput = r.maxTokens * r.n;
    Charge charge;
    // Charged on completion: the output is debited when the answer ends.
    charge.tokens = r.inputTokens + (limits.tokenCharging == TokenCharging::OnCompletion ? 0 : maxOutput);
    charge.inputTokens = r.inputTokens;
    charge.outputTokens = limits.outputCharging == OutputCharging::ReserveThenCorrect ? maxOutput : 0;
    return charge;
}

}  // namespace

// The prompt as the provider counts it, charged at arrival: exactly for a
// model configured with a tokenizer, and with the conversation a
// continuation carries. The 400 when the key did not make what it continues.
std::optional<ApiError> MockProvider::Impl::countPrompt(const MockConfig& cfg, const net::InboundRequest& request,
                                                        const std::string& key, CompletionRequest& r)
{
    if (const auto model = cfg.models.find(r.model); model != cfg.models.end()) {
        if (const auto exact = prompts.count(model->second.promptCounting, request.path(), r.model, request.body)) {
            r.inputTokens = *exact;
        }
    }
    if (r.previousResponseId.empty()) {
        return std::nullopt;
    }
    const std::optional<std::int64_t> context = storedResponses.contextTokens(key, r.previousResponseId);
    if (!context) {
        return ApiError{400, previousResponseNotFound(r.previousResponseId)};
    }
    r.inputTokens += *context;
    return std::nullopt;
}

net::HttpReply MockProvider::Impl::completion(const net::InboundRequest& request, const Dialect& dialect)
{
    const std::uint64_t seq = sequence.fetch_add(1, std::memory_order_relaxed);
    const std::shared_ptr<const MockConfig> cfgPtr = currentConfig();
    const MockConfig& cfg = *cfgPtr;
    const std::string requestId = dialect::randomId("req_", cfg.seed ^ (seq * 0x9E3779B97F4A7C15ULL), 24);
    const WallTime wall = clock.wallNow();

    net::HttpHeaders headers;
    dialect.addCommonHeaders(headers, requestId, cfg);
    ErrorContext ctx{.organization = cfg.organization, .requestId = requestId, .now = wall};
    // `detail` is read while the reply is made, so a temporary will do.
    const auto fail = [&](ErrorCase what, std::string_view detail = {}) {
        ctx.detail = detail.empty() ? ctx.detail : detail;
        return errorReply(dialect.error(what, ctx), headers, true);
    };
    {
        std::lock_guard guard(mutex);
        stats.request();
    }

    if (request.method != "POST") {
        return fail(ErrorCase::UnknownRoute, request.method + " " + std::string(request.path()));
    }
    const std::optional<std::string> key = dialect.apiKey(request);
    if (!key) {
        return fail(ErrorCase::MissingKey);
    }
    ctx.key = *key;
    const auto keyConfig = cfg.keys.find(*key);
    if (keyConfig == cfg.keys.end() || keyConfig->second.disabled) {
        return fail(ErrorCase::InvalidKey);
    }
    if (!dialect.hasRequiredHeaders(request)) {
        return fail(ErrorCase::MissingVersion);
    }
    if (const std::string problem = dialect.headerProblem(request); !problem.empty()) {
        return fail(ErrorCase::InvalidHeader, problem);
    }
    if (request.bodyTooLarge) {
        return fail(ErrorCase::BodyTooLarge, std::to_string(cfg.maxBodyBytes));
    }
    if (const auto type = request.header("content-type"); type && !dialect::isJsonContentType(*type)) {
        return fail(ErrorCase::WrongContentType, *type);
    }
    auto parsed = dialect.parse(request.body, cfg, requestId);
    if (auto* e = std::get_if<ApiError>(&parsed)) {
        return errorReply(std::move(*e), headers, true);
    }
    CompletionRequest& r = std::get<CompletionRequest>(parsed);
    ctx.model = r.model;
    if (auto unknown = countPrompt(cfg, request, *key, r)) {
        return errorReply(std::move(*unknown), headers, true);
    }
    const MockKey& k = keyConfig->second;
    if (!k.models.empty() && std::find(k.models.begin(), k.models.end(), r.model) == k.models.end()) {
        return fail(ErrorCase::ForbiddenModel);
    }

    const RateLimits limits = *cfg.limitsFor(*key, r.model);
    const Charge charge = chargeOf(r, limits);

    Admitted admitted;
    admitted.reservedOutput = charge.outputTokens;
    admitted.maxOutput = r.maxTokens * r.n;
    // OpenAI bills its TPM estimate as charged; Anthropic, and a TPM that
    // gives back unused output or charges it at the end, the real output.
    admitted.chargeActualOutput =
        dialect.flavour() == Flavour::Anthropic || limits.tokenCharging != TokenCharging::OnArrival;
    LimitDecision decision;
    const bool quotaGone = admit(cfg, *key, k, r, limits, charge, admitted, decision);
    if (!quotaGone && decision.outcome == LimitOutcome::Admitted) {
        admitted.states = decision.states;
        return answer(dialect, cfg, r, *key, requestId, seq, admitted, wall);
    }
    return refuse(dialect, cfg, decision, ctx, headers, wall);
}

// Charges an admitted request to its key's limits and quota, counting the
// outcome; returns whether the key's quota is gone (then nothing is charged).
bool MockProvider::Impl::admit(const MockConfig& cfg, const std::string& key, const MockKey& k,
                               const CompletionRequest& r, const RateLimits& limits, const Charge& charge,
                               const Admitted& admitted, LimitDecision& decision)
{
    std::lock_guard guard(mutex);
    const TimePoint now = clock.now();
    const bool quotaGone = k.quotaExhausted || (k.quotaTokens > 0 && quotaUsed[key] >= k.quotaTokens);
    if (quotaGone) {
        stats.quotaExhausted(now);
    } else {
        if (cfg.limitsEnabled) {
            decision = table.admit(key, r.model, limits, charge, now);
        }
        switch (decision.outcome) {
        case LimitOutcome::RateLimited:
            stats.rateLimited(now, decision.binding);
            break;
        case LimitOutcome::TooLarge:
            stats.tooLarge(now);
            break;
        case LimitOutcome::Admitted: {
            stats.accepted(now, r.inputTokens);
            const std::int64_t chargedNow = admitted.chargeActualOutput ? r.inputTokens : charge.tokens;
            stats.charged(chargedNow);
            quotaUsed[key] += chargedNow;
            break;
        }
        }
    }
    return quotaGone;
}

// The answer to a refused request: quota, rate limit, or too large.
net::HttpReply MockProvider::Impl::refuse(const Dialect& dialect, const MockConfig& cfg,
                                          const LimitDecision& decision, ErrorContext& ctx, net::HttpHeaders& headers,
                                          WallTime wall)
{
    if (cfg.limitsEnabled && cfg.rateLimitHeaders) {
        dialect.addRateLimitHeaders(headers, decision.states, wall, false);
    }
    ctx.limit = &decision;
    if (decision.outcome == LimitOutcome::RateLimited) {
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(decision.retryAfter).count();
        headers.emplace_back("retry-after", std::to_string(std::max<std::int64_t>(1, seconds)));
        if (cfg.retryAfterMs) {
            const auto ms = std::chrono::ceil<std::chrono::milliseconds>(decision.retryAfter).count();
            headers.emplace_back("retry-after-ms", std::to_string(ms));
        }
        return errorReply(dialect.error(ErrorCase::RateLimited, ctx), headers, false);
    }
    if (decision.outcome == LimitOutcome::TooLarge) {
        return errorReply(dialect.error(ErrorCase::RequestTooLarge, ctx), headers, false);
    }
    // Never retry-after: waiting does not restore a quota.
    return errorReply(dialect.error(ErrorCase::QuotaExhausted, ctx), headers, false);
}

// The books close when the last byte goes out: the output-limit charge is
// corrected to what was produced, and the key pays for its output.
void MockProvider::Impl::closeBooks(net::HttpReply& reply, const std::string& key, const std::string& model,
                                    std::int64_t produced, const Admitted& admitted)
{
    const std::int64_t delta = produced - admitted.reservedOutput;
    const std::int64_t unused = admitted.maxOutput - produced;
    const bool actual = admitted.chargeActualOutput;
    reply.onFinished = [this, key, model, delta, unused, produced, actual](bool) {
        std::lock_guard guard(mutex);
        const TimePoint now = clock.now();
        table.adjustOutput(key, model, delta, now);
        table.settleTokens(key, model, unused, produced, now);
        stats.output(now, produced);
        if (actual) {
            stats.charged(produced);
            quotaUsed[key] += produced;
        }
    };
}

// Builds the answer to an admitted request: draws its output, latency and
// fault, and plans the bytes, outside the lock.
net::HttpReply MockProvider::Impl::answer(const Dialect& dialect, const MockConfig& cfg,
                                          const CompletionRequest& r, const std::string& key,
                                          const std::string& requestId, std::uint64_t seq, const Admitted& admitted,
                                          WallTime wall)
{
    Rng rng(cfg.seed, seq);
    const Fault fault = drawFault(cfg.faults, rng);
    const double factor = drawLatencyFactor(cfg.latency, rng);
    MockReply c;
    c.created = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
    c.textSeed = rng.next();
    const int choices = dialect.flavour() == Flavour::Anthropic ? 1 : r.n;
    for (int i = 0; i < choices; ++i) {
        // No output allowed (an embedding): none produced.
        c.outputTokens.push_back(r.maxTokens == 0 ? 0 : drawOutputTokens(cfg.output, r.maxTokens, rng));
    }
    c.id = dialect.flavour() == Flavour::Anthropic ? dialect::randomId("msg_01", rng.next(), 22)
                                                  : dialect::randomId("chatcmpl-", rng.next(), 29);

    const bool streamFault = fault == Fault::SseError || fault == Fault::StreamCut;
    const Fault applied = (streamFault && !r.stream) ? Fault::None : fault;

    net::HttpReply reply;
    dialect.addCommonHeaders(reply.headers, requestId, cfg);
    if (cfg.limitsEnabled && cfg.rateLimitHeaders && applied != Fault::MissingRateLimitHeaders) {
        dialect.addRateLimitHeaders(reply.headers, admitted.states, wall, applied == Fault::AzureMinusOne);
    }

    std::int64_t produced = c.totalOutput();
    const Duration perToken = scaledMs(cfg.latency.perOutputTokenMs, factor);
    // Past the knee the wait before the body (or first token) grows with
    // the answers already in flight.
    const Duration lead = scaledMs(r.stream ? cfg.latency.firstTokenMs : cfg.latency.baseMs, factor);
    const Duration slower = knee.admit(clock.now(), lead + perToken * c.totalOutput(), cfg.latency.knee);
    const Duration base = scaledMs(cfg.latency.baseMs, factor) + slower;

    if (applied == Fault::Http500 || applied == Fault::Http503 || applied == Fault::Http529) {
        const ErrorCase what = applied == Fault::Http500   ? ErrorCase::ServerError
                               : applied == Fault::Http503 ? ErrorCase::Unavailable
                                                           : ErrorCase::Overloaded;
        ApiError e = dialect.error(what, ErrorContext{.requestId = requestId});
        reply.status = e.status;
        reply.headers.emplace_back("Content-Type", std::string(kJson));
        reply.parts.push_back(net::HttpPart{base, std::move(e.body)});
        produced = 0;
    } else if (applied == Fault::Stall) {
        reply.ending = net::HttpEnding::Hang;
        produced = 0;
    } else if (!r.stream) {
        std::string body = dialect.body(r, c);
        if (&dialect == &openAiResponsesDialect() && r.store && applied == Fault::None) {
            storedResponses.put(key, body);
        }
        // In the background the answer is the response queued, at once; the
        // stored one is already finished (the mock does the work at once).
        if (r.background && applied == Fault::None) {
            planBody(reply, dialect.queuedBody(r, c), applied, base);
        } else {
            planBody(reply, std::move(body), applied, base + perToken * c.totalOutput());
        }
    } else {
        const Duration firstToken = scaledMs(cfg.latency.firstTokenMs, factor) + slower;
        if (&dialect == &openAiResponsesDialect() && r.store && applied == Fault::None) {
            storedResponses.put(key, dialect.body(r, c));
        }
        planStream(reply, dialect.stream(r, c), dialect, applied, firstToken, perToken, requestId, produced);
    }

    if (applied != Fault::None) {
        std::lock_guard guard(mutex);
        stats.fault(applied);
        if (reply.status != 200) {
            stats.error(clock.now(), reply.status);
        }
    }

    closeBooks(reply, key, r.model, produced, admitted);
    return reply;
}

net::HttpReply MockProvider::Impl::models(const net::InboundRequest& request)
{
    const Dialect& dialect = dialectFor(request);
    const auto cfg = currentConfig();
    const std::optional<std::string> key = dialect.apiKey(request);
    if (!key) {
        return errorReply(dialect.error(ErrorCase::MissingKey, ErrorContext{}), {}, false);
    }
    const auto k = cfg->keys.find(*key);
    if (k == cfg->keys.end() || k->second.disabled) {
        return errorReply(dialect.error(ErrorCase::InvalidKey, ErrorContext{.key = *key}), {}, false);
    }
    return net::HttpReply::whole(200, std::string(kJson), dialect.modelList(*cfg, *key));
}

net::HttpReply MockProvider::Impl::control(const net::InboundRequest& request)
{
    const std::string_view path = request.path();
    if (path == "/mock/stats" && request.method == "GET") {
        std::size_t open = 0;
        MockStats s;
        {
            std::lock_guard guard(mutex);
            open = server ? server->openConnections() : 0;
            s = stats.snapshot(open);
        }
        return net::HttpReply::whole(200, std::string(kJson), toJson(s));
    }
    if (path == "/mock/config" && request.method == "GET") {
        return net::HttpReply::whole(200, std::string(kJson), toJson(*currentConfig(), 2));
    }
    if (path == "/mock/config" && request.method == "POST") {
        try {
            const auto cfg = currentConfig();
            constexpr std::string_view kSource = "POST /mock/config";
            auto next = std::make_shared<const MockConfig>(patchMockConfig(*cfg, request.body, kSource));
            replace(next, kSource);
            return net::HttpReply::whole(200, std::string(kJson), toJson(*next, 2));
        } catch (const ConfigError& e) {
            return net::HttpReply::whole(400, std::string(kJson), controlError(e.what()));
        }
    }
    return net::HttpReply::whole(405, std::string(kJson), controlError("use GET /mock/stats, GET or POST /mock/config"));
}

void MockProvider::Impl::replace(std::shared_ptr<const MockConfig> next, std::string_view source)
{
    checkTokenizers(*next, source);
    std::lock_guard guard(mutex);
    if (server) {
        const MockConfig& now = *config;
        const auto fixed = [source](std::string_view field) {
            return ConfigError(std::string(source) + ": " + std::string(field) + ": cannot change while the mock is running");
        };
        if (next->host != now.host || next->port != now.port) {
            if (!(next->host == now.host && next->port == server->port())) {
                throw fixed("/listen");
            }
        }
        if (next->ioThreads != now.ioThreads) {
            throw fixed("/ioThreads");
        }
        if (next->maxBodyBytes != now.maxBodyBytes) {
            throw fixed("/maxBodyBytes");
        }
    }
    table.reconfigure(*next, clock.now());
    config = std::move(next);
}

MockProvider::MockProvider(Clock& clock, MockConfig config, Delays delays)
    : m_impl(std::make_unique<Impl>(clock, std::move(config), delays))
{
}

MockProvider::~MockProvider()
{
    stop();
}

std::uint16_t MockProvider::start()
{
    Impl& d = *m_impl;
    std::lock_guard guard(d.mutex);
    if (d.server) {
        return d.server->port();
    }
    net::HttpServerOptions options;
    options.host = d.config->host;
    options.port = d.config->port;
    options.threads = d.config->ioThreads;
    options.maxBodyBytes = d.config->maxBodyBytes;
    auto server = std::make_unique<net::HttpServer>(options, [&d](net::InboundRequest&& request,
                                                                  net::HttpResponder responder) {
        if (d.paced) {
            d.paced->play(std::move(responder), d.route(request));
        } else {
            responder.send(d.route(request));
        }
    });
    const std::uint16_t port = server->start();
    d.server = std::move(server);
    return port;
}

void MockProvider::stop()
{
    std::unique_ptr<net::HttpServer> server;
    // Delays::OnClock: holds delayed replies until the clock gets there.
    // Last, so it goes first: held replies' onFinished use the members above.
    std::unique_ptr<ClockPacedReplies> paced;
    {
        std::lock_guard guard(m_impl->mutex);
        server = std::move(m_impl->server);
    }
    // Outside the lock: closing connections runs their onFinished, which
    // takes it.
    if (server) {
        server->stop();
    }
    if (m_impl->paced) {
        m_impl->paced->stop();  // replies still held go nowhere now
    }
}

std::uint16_t MockProvider::port() const noexcept
{
    std::lock_guard guard(m_impl->mutex);
    return m_impl->server ? m_impl->server->port() : 0;
}

std::string MockProvider::baseUrl() const
{
    const MockConfig cfg = config();
    const std::string host = cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
    return "http://" + host + ":" + std::to_string(port());
}

MockConfig MockProvider::config() const
{
    return *m_impl->currentConfig();
}

void MockProvider::setConfig(MockConfig config)
{
    m_impl->replace(std::make_shared<const MockConfig>(std::move(config)), "setConfig");
}

void MockProvider::applyPatch(std::string_view patchJson)
{
    m_impl->replace(std::make_shared<const MockConfig>(patchMockConfig(config(), patchJson, "patch")), "patch");
}

std::size_t MockProvider::heldReplies() const
{
    return m_impl->paced ? m_impl->paced->held() : 0;
}

MockStats MockProvider::stats() const
{
    std::lock_guard guard(m_impl->mutex);
    return m_impl->stats.snapshot(m_impl->server ? m_impl->server->openConnections() : 0);
}

}  // namespace sluice::mock
