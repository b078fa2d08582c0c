#include "gateway/gateway.h"

#include "core/json_scan.h"
#include "gateway/gateway_impl.h"
#include "gateway/health.h"
#include "gateway/passed_headers.h"
#include "http/header_text.h"
#include "providers/chat_scan.h"
#include "providers/prompt_media.h"

#include <algorithm>
#include <set>

namespace sluice::gateway {

using nlohmann::json;

namespace {

constexpr std::string_view kResponses = "/v1/responses";
// Two POSTs under /v1/responses/ that are not about a stored response.
constexpr std::string_view kCompact = "/v1/responses/compact";
constexpr std::string_view kInputTokens = "/v1/responses/input_tokens";
constexpr std::string_view kCountTokens = "/v1/messages/count_tokens";

// GET or DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel, GET
// /v1/responses/{id}/input_items: what the SDKs' responses.retrieve, delete,
// cancel and inputItems.list send.
bool isStoredResponsePath(std::string_view method, std::string_view path)
{
    if (path.size() <= kResponses.size() + 1 || path.rfind(kResponses, 0) != 0 || path[kResponses.size()] != '/') {
        return false;
    }
    const std::string_view rest = path.substr(kResponses.size() + 1);
    const std::size_t slash = rest.find('/');
    if (slash == 0) {
        return false;
    }
    if (slash == std::string_view::npos) {
        return (method == "GET" || method == "DELETE") && rest != "input_tokens";
    }
    const std::string_view tail = rest.substr(slash);
    return (method == "POST" && tail == "/cancel") || (method == "GET" && tail == "/input_items");
}

// The dialect a request speaks, for answers given before any routing.
ApiFlavor dialectOf(const net::InboundRequest& request)
{
    const std::string_view path = request.path();
    if (path.rfind("/v1/messages", 0) == 0) {
        return ApiFlavor::Anthropic;
    }
    // A path only OpenAI's API has is answered in its shape, whatever
    // headers came with it (an OpenAI client sent with an x-api-key).
    if (path.rfind("/v1/chat/", 0) == 0 || path.rfind(kResponses, 0) == 0 || path.rfind("/v1/embeddings", 0) == 0) {
        return ApiFlavor::OpenAI;
    }
    if (request.header("anthropic-version") || (request.header("x-api-key") && !request.header("authorization"))) {
        return ApiFlavor::Anthropic;
    }
    return ApiFlavor::OpenAI;
}

// Why a body that readJsonDocument refused is not a JSON object, naming
// where it went wrong: only on the error path, so nlohmann's parser (which
// says at what line and column) is run a second time there.
std::string bodyProblem(std::string_view body)
{
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return "the request body is empty: a JSON object is expected";
    }
    try {
        const json document = json::parse(body);
        if (!document.is_object()) {
            return std::string("the request body is a JSON ") + document.type_name() + ", not an object";
        }
    } catch (const json::exception& e) {
        // A parse error, or a number too large for a double (out_of_range),
        // both written "[json.exception.parse_error.101] parse error at …".
        std::string what = e.what();
        if (const auto close = what.find("] "); what.rfind("[json.exception", 0) == 0 && close != std::string::npos) {
            what.erase(0, close + 2);
        }
        return "the request body is not valid JSON: " + what;
    }
    return "the request body is not a JSON object";
}

}  // namespace

std::string Gateway::Impl::notServed(const std::string& model, ApiFlavor dialect) const
{
    const ApiFlavor other = dialect == ApiFlavor::Anthropic ? ApiFlavor::OpenAI : ApiFlavor::Anthropic;
    if (dispatcher.config()->route(other, model) != nullptr) {
        // The gateway does not translate between dialects: say where it is.
        return "the model " + model + " is served to " + std::string(flavorName(other)) +
               " clients of this gateway (" + (other == ApiFlavor::Anthropic ? "/v1/messages" : "/v1/chat/completions") +
               "), not to " + std::string(flavorName(dialect)) + " ones";
    }
    return "the model " + model + " is not served by this gateway";
}

void Gateway::Impl::refreshLanes(TimePoint now)
{
    if (now - lanesAt > std::chrono::milliseconds(100)) {
        lanes = dispatcher.stats().lanes;
        lanesAt = now;
    }
}

std::optional<TimePoint> Gateway::Impl::laneBlockedUntil(const std::string& provider, const std::string& model,
                                                         const std::string& key)
{
    std::lock_guard guard(lanesMutex);
    refreshLanes(clock.now());
    for (const LaneStatus& l : lanes) {
        if (l.provider == provider && l.model == model && l.key == key && l.blocked && !l.waitsForRelease) {
            return l.until;
        }
    }
    return std::nullopt;
}

std::vector<std::string> Gateway::Impl::servedModels(const GatewayToken* token, ApiFlavor dialect) const
{
    std::set<std::string> names;
    const auto cfg = dispatcher.config();
    for (const ProviderConfig& p : cfg->providers) {
        // A request reaches only the providers of its own dialect.
        if (p.removed || p.flavor != dialect) {
            continue;
        }
        for (const ModelConfig& m : p.models) {
            if (token == nullptr || token->allows(m.name)) {
                names.insert(m.name);
            }
        }
    }
    return {names.begin(), names.end()};
}

void Gateway::Impl::Refuser::operator()(ErrorKind kind, std::string_view message) const
{
    gateway.counters.clientErrors.fetch_add(1, std::memory_order_relaxed);
    responder.send(errorReply(dialect, kind, message));
}

void Gateway::Impl::handle(net::InboundRequest&& request, net::HttpResponder responder)
{
    counters.requests.fetch_add(1, std::memory_order_relaxed);
    // A base URL without /v1 (the host alone, as LiteLLM's and Portkey's
    // proxies also take) reaches the same API: "/chat/completions" is
    // served as "/v1/chat/completions", and a refusal names the path sent.
    const bool prefixed = request.path().rfind("/v1/", 0) != 0 && request.path() != "/healthz" &&
                          !request.target.empty() && request.target.front() == '/';
    if (prefixed) {
        request.target.insert(0, "/v1");
    }
    const ApiFlavor dialect = dialectOf(request);
    const std::string_view path = request.path();
    const Refuser refuse{*this, responder, dialect};
    if (request.bodyTooLarge) {
        refuse(ErrorKind::TooLarge, "the request body is larger than the gateway's limit of " +
                                        std::to_string(config.maxBodyBytes) + " bytes");
        return;
    }
    if (request.method == "GET" && path == "/healthz") {
        // No token: a probe learns only whether to send traffic here.
        const bool draining = intakeClosed.load();
        const Health health = healthOf(draining ? DispatcherStats{} : dispatcher.stats(), draining);
        responder.send(jsonReply(health.status, health.body));
        return;
    }
    const bool post = request.method == "POST";
    constexpr std::string_view kModelPrefix = "/v1/models/";
    const bool oneModel = request.method == "GET" && path.size() > kModelPrefix.size() && path.rfind(kModelPrefix, 0) == 0;
    const bool responseObject = isStoredResponsePath(request.method, path);
    const bool known = (post && (path == "/v1/chat/completions" || path == "/v1/messages" ||
                                 path == "/v1/messages/count_tokens" || path == "/v1/responses" ||
                                 path == kCompact || path == kInputTokens || path == "/v1/embeddings")) ||
                       (request.method == "GET" && path == "/v1/models") || oneModel || responseObject;
    if (!known) {
        refuse(ErrorKind::NoRoute,
               "the gateway serves no " + request.method + " " + std::string(prefixed ? path.substr(3) : path));
        return;
    }
    // Authentication before anything is read from the body.
    const std::shared_ptr<const TokenAuth> table = currentAuth();
    TokenPtr token;
    if (!table->open()) {
        const auto presented = TokenAuth::presented(request);
        if (!presented) {
            refuse(ErrorKind::Authentication,
                   "missing gateway token: send it as \"authorization: Bearer TOKEN\" or \"x-api-key: TOKEN\"");
            return;
        }
        token = table->match(*presented);
        if (token == nullptr) {
            refuse(ErrorKind::Authentication, "invalid gateway token");
            return;
        }
    }
    if (path == "/v1/models") {
        responder.send(jsonReply(200, modelList(dialect, servedModels(token.get(), dialect))));
        return;
    }
    if (oneModel) {
        const std::string id(path.substr(kModelPrefix.size()));
        const auto served = servedModels(token.get(), dialect);
        if (std::find(served.begin(), served.end(), id) == served.end()) {
            refuse(ErrorKind::NotFound, notServed(id, dialect));
            return;
        }
        responder.send(jsonReply(200, modelEntry(dialect, id)));
        return;
    }
    if (responseObject) {
        storedResponse(std::move(request), std::move(responder), std::move(token));
        return;
    }
    const bool messages = path.rfind("/v1/messages", 0) == 0;
    completion(std::move(request), std::move(responder), messages ? ApiFlavor::Anthropic : ApiFlavor::OpenAI,
               std::move(token));
}

void Gateway::Impl::completion(net::InboundRequest&& request, net::HttpResponder responder, ApiFlavor flavor,
                               TokenPtr token, bool ownerFetched)
{
    const Refuser refuse{*this, responder, flavor};
    if (intakeClosed.load()) {
        refuse(ErrorKind::Draining, "this gateway is draining: it takes no new requests");
        return;
    }
    // The body is read and forwarded as it came; a compressed one would be
    // neither, so it is refused by name rather than as malformed JSON.
    if (const auto encoding = request.header("content-encoding")) {
        const std::string coding = http::lowerAscii(net::trimHeaderValue(*encoding));
        if (!coding.empty() && coding != "identity") {
            refuse(ErrorKind::UnsupportedMedia,
                   "content-encoding " + coding + ": the gateway takes request bodies uncompressed");
            return;
        }
    }
    if (flavor == ApiFlavor::OpenAI && request.path() == "/v1/chat/completions") {
        if (auto chat = scanChatRequest(request.body)) {
            scannedChat(std::move(request), std::move(responder), std::move(token), std::move(*chat));
            return;
        }
    }
    json body;
    if (!readJsonDocument(request.body, body) || !body.is_object()) {
        refuse(ErrorKind::InvalidRequest, bodyProblem(request.body));
        return;
    }
    // A continuation of a response made through another gateway of the
    // namespace: who made it is asked of Redis first, off this thread.
    if (const auto previous = body.find("previous_response_id");
        !ownerFetched && request.path().rfind(kResponses, 0) == 0 && previous != body.end() && previous->is_string() &&
        responseOwners.worthFetching(previous->get_ref<const std::string&>())) {
        fetchOwnerThen(previous->get<std::string>(), Deferred{std::move(request), std::move(responder), std::move(token)},
                       [flavor](Impl& gw, Deferred& d) {
                           gw.completion(std::move(d.request), std::move(d.responder), flavor, std::move(d.token), true);
                       });
        return;
    }
    if (request.path() == kInputTokens && !body.contains("model")) {
        // The count may name no model: the response it continues says
        // where it goes. The body goes on as it came.
        if (auto owner = continuedOwner(body, token.get())) {
            body["model"] = owner->model;
        }
    }
    const auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        refuse(ErrorKind::InvalidRequest, "body.model: a model name is required");
        return;
    }
    std::string modelName = model->get<std::string>();
    if (const auto refusal = modelRefusal(modelName, flavor, token.get())) {
        refuse(refusal->first, refusal->second);
        return;
    }
    if (request.path() == kCountTokens && (!body.contains("messages") || !body["messages"].is_array())) {
        refuse(ErrorKind::InvalidRequest, "body.messages: an array of messages is required");
        return;
    }
    bool stream = false;
    std::optional<Dispatcher::Prepared> prepared;
    try {
        prepared = prepareJob(request, std::move(body), flavor, token.get(), stream);
    } catch (const std::exception& e) {
        refuse(ErrorKind::InvalidRequest, e.what());
        return;
    }
    openExchange(std::move(responder), flavor, stream, std::move(token), std::move(modelName),
                 std::move(*prepared));
}

void Gateway::Impl::scannedChat(net::InboundRequest&& request, net::HttpResponder responder, TokenPtr token,
                                ScannedChat&& chat)
{
    const Refuser refuse{*this, responder, ApiFlavor::OpenAI};
    if (const auto refusal = modelRefusal(chat.model, ApiFlavor::OpenAI, token.get())) {
        refuse(refusal->first, refusal->second);
        return;
    }
    std::string modelName = chat.model;
    const bool stream = chat.stream;
    JobSpec spec = jobFor(request, ApiFlavor::OpenAI, token.get());
    spec.chat = std::make_shared<const ScannedChat>(std::move(chat));
    std::optional<Dispatcher::Prepared> prepared;
    try {
        prepared = dispatcher.prepare(std::move(spec));
    } catch (const std::exception& e) {
        refuse(ErrorKind::InvalidRequest, e.what());
        return;
    }
    openExchange(std::move(responder), ApiFlavor::OpenAI, stream, std::move(token), std::move(modelName),
                 std::move(*prepared));
}

std::optional<std::pair<ErrorKind, std::string>> Gateway::Impl::modelRefusal(const std::string& model,
                                                                             ApiFlavor flavor,
                                                                             const GatewayToken* token) const
{
    if (token != nullptr && !token->allows(model)) {
        return std::pair(ErrorKind::Permission, "gateway token " + token->name + " may not use model " + model);
    }
    if (dispatcher.config()->route(flavor, model) == nullptr) {
        return std::pair(ErrorKind::NotFound, notServed(model, flavor));
    }
    return std::nullopt;
}

JobSpec Gateway::Impl::jobFor(net::InboundRequest& request, ApiFlavor flavor, const GatewayToken* token)
{
    // Provider credentials are Sluice's to add; never forwarded from clients
    // (the body goes on, and the few headers that say what to do with it).
    JobSpec spec;
    spec.customId = "gw-" + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
    spec.flavor = flavor;
    if (const auto route = routeOfPath(request.path())) {
        spec.endpoint = route->endpoint;
    } else if (request.path() == kCompact || request.path() == kInputTokens) {
        spec.endpoint = Endpoint::Responses;
        spec.method = "POST";
        spec.objectPath = request.target.substr(kResponses.size());
    } else if (request.path() == kCountTokens) {
        // The provider's own count (its tokenizer, its images and tools),
        // as the SDK expects; like input_tokens it holds a connection and
        // spends no request or token budget.
        spec.endpoint = Endpoint::Completion;
        spec.method = "POST";
        spec.objectPath = "/count_tokens";
    }
    spec.tenant = token != nullptr ? token->tenant : dispatcher.config()->defaults.tenant;
    spec.priority = token != nullptr ? std::optional(token->priority) : std::nullopt;
    spec.headerLines = passedHeaderLines(request.headers, flavor);
    // The client's own text goes on as it came (unless preparing must
    // change the body): no second serialisation, and numbers, key order and
    // escapes reach the provider exactly as the SDK wrote them.
    spec.bodyText = std::move(request.body);
    return spec;
}

Dispatcher::Prepared Gateway::Impl::prepareJob(net::InboundRequest& request, json body, ApiFlavor flavor,
                                               const GatewayToken* token, bool& stream)
{
    JobSpec spec = jobFor(request, flavor, token);
    const auto streamField = body.find("stream");
    stream = spec.endpoint != Endpoint::Embeddings && spec.objectPath.empty() && streamField != body.end() &&
             streamField->is_boolean() && streamField->get<bool>();
    if (spec.endpoint == Endpoint::Responses) {
        // A continuation is known only to the project of the key that made
        // what it continues: it goes on that key, or the provider answers 400.
        const auto previous = body.find("previous_response_id");
        if (previous != body.end() && previous->is_string()) {
            const auto model = body.find("model");
            if (auto owner = responseOwners.find(previous->get_ref<const std::string&>());
                owner && owner->tenant == spec.tenant && model != body.end() && model->is_string() &&
                dispatcher.config()->route(flavor, model->get_ref<const std::string&>(), owner->provider) != nullptr) {
                spec.provider = std::move(owner->provider);
                spec.key = std::move(owner->key);
                spec.contextTokens = owner->contextTokens;
            }
        }
    }
    spec.body = std::move(body);
    return dispatcher.prepare(std::move(spec));
}

std::optional<ResponseOwner> Gateway::Impl::continuedOwner(const json& body, const GatewayToken* token)
{
    const auto previous = body.find("previous_response_id");
    if (previous == body.end() || !previous->is_string()) {
        return std::nullopt;
    }
    std::optional<ResponseOwner> owner = responseOwners.find(previous->get_ref<const std::string&>());
    const std::string& tenant = token != nullptr ? token->tenant : dispatcher.config()->defaults.tenant;
    if (owner && owner->tenant != tenant) {
        return std::nullopt;
    }
    return owner ? owner : soleResponsesKey();
}

std::optional<ResponseOwner> Gateway::Impl::soleResponsesKey() const
{
    std::optional<ResponseOwner> only;
    for (const ProviderConfig& p : dispatcher.config()->providers) {
        if (p.removed || p.flavor != ApiFlavor::OpenAI) {
            continue;
        }
        if (only || p.keys.size() != 1 || p.models.empty()) {
            return std::nullopt;
        }
        only = ResponseOwner{p.name, p.keys.front().name, p.models.front().name, {}};
    }
    return only;
}

void Gateway::Impl::fetchOwnerThen(const std::string& id, Deferred deferred,
                                   std::function<void(Impl&, Deferred&)> resume)
{
    auto held = std::make_shared<Deferred>(std::move(deferred));
    std::weak_ptr<Impl> weak = weak_from_this();
    responseOwners.fetch(id, [weak, held, resume = std::move(resume)](std::optional<ResponseOwner>) {
        if (const auto self = weak.lock()) {
            resume(*self, *held);
        }
    });
}

void Gateway::Impl::storedResponse(net::InboundRequest&& request, net::HttpResponder responder, TokenPtr token,
                                   bool ownerFetched)
{
    const Refuser refuse{*this, responder, ApiFlavor::OpenAI};
    if (intakeClosed.load()) {
        refuse(ErrorKind::Draining, "this gateway is draining: it takes no new requests");
        return;
    }
    const std::string_view rest = request.path().substr(kResponses.size() + 1);
    const std::string id(rest.substr(0, rest.find('/')));
    if (!ownerFetched && responseOwners.worthFetching(id)) {
        fetchOwnerThen(id, Deferred{std::move(request), std::move(responder), std::move(token)},
                       [](Impl& gw, Deferred& d) {
                           gw.storedResponse(std::move(d.request), std::move(d.responder), std::move(d.token), true);
                       });
        return;
    }
    const std::string tenant = token != nullptr ? token->tenant : dispatcher.config()->defaults.tenant;
    std::optional<ResponseOwner> owner = responseOwners.find(id);
    // Another tenant's response is answered as unknown: its id says nothing
    // about whether it exists.
    if (owner && owner->tenant != tenant) {
        owner.reset();
    } else if (!owner) {
        owner = soleResponsesKey();
    }
    if (!owner) {
        refuse(ErrorKind::NoRoute, "No response found with id '" + id +
                                        "': this gateway did not pass it on to this tenant since it started (or "
                                        "has forgotten it), so it cannot tell which provider key holds it");
        return;
    }
    JobSpec spec;
    spec.customId = "gw-" + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
    spec.flavor = ApiFlavor::OpenAI;
    spec.endpoint = Endpoint::Responses;
    spec.method = request.method;
    spec.objectPath = request.target.substr(kResponses.size());
    spec.provider = owner->provider;
    spec.key = owner->key;
    spec.tenant = tenant;
    spec.priority = token != nullptr ? std::optional(token->priority) : std::nullopt;
    spec.body = json{{"model", owner->model}};
    spec.bodyText = std::move(request.body);
    spec.headerLines = passedHeaderLines(request.headers, ApiFlavor::OpenAI);
    std::optional<Dispatcher::Prepared> prepared;
    try {
        prepared = dispatcher.prepare(std::move(spec));
    } catch (const std::exception& e) {
        refuse(ErrorKind::NoRoute, "response " + id + " was made on key " + owner->key + " of provider " +
                                        owner->provider + ", which is no longer configured: " + e.what());
        return;
    }
    const bool stream = prepared->job->info.stream;
    openExchange(std::move(responder), ApiFlavor::OpenAI, stream, std::move(token), owner->model, std::move(*prepared));
}

Gateway::Gateway(GatewayConfig config, Dispatcher& dispatcher, Clock& clock, int ioThreads,
                 std::shared_ptr<TenantStats> tenantStats, net::EventLoop* loop)
    : m_impl(std::make_shared<Impl>(std::move(config), dispatcher, clock, ioThreads, std::move(tenantStats), loop))
{
}

Gateway::~Gateway()
{
    // Before anything a lookup's callback uses can go: none runs after this.
    m_impl->responseOwners.stopFetching();
    stop();
}

std::uint16_t Gateway::start()
{
    Impl& d = *m_impl;
    if (d.server) {
        return d.server->port();
    }
    if (std::string why = checkExposure(d.config); !why.empty()) {
        throw InputError(why);
    }
    net::HttpServerOptions opt;
    opt.host = d.config.host;
    opt.port = d.config.port;
    opt.threads = d.ioThreads;
    opt.loop = d.loop;
    opt.maxBodyBytes = d.config.maxBodyBytes;
    opt.requestTimeout = d.config.requestTimeout;
    std::weak_ptr<Impl> weak = m_impl;
    d.server = std::make_unique<net::HttpServer>(opt, [weak](net::InboundRequest&& r, net::HttpResponder responder) {
        if (auto impl = weak.lock()) {
            impl->handle(std::move(r), std::move(responder));
        }
    });
    d.gate.start();
    d.timers.start();
    if (d.intakeClosed.load()) {
        d.server->drain();  // drained before this start: it stays drained
    }
    return d.server->start();
}

void Gateway::stop()
{
    Impl& d = *m_impl;
    if (!d.server) {
        return;
    }
    d.server->stop();
    d.timers.stop();
    d.gate.stop();
    d.server.reset();
}

std::uint16_t Gateway::port() const noexcept
{
    return m_impl->server ? m_impl->server->port() : 0;
}

void Gateway::shareResponseOwners(SharedOwnerStore store)
{
    m_impl->responseOwners.share(std::move(store));
}

GatewayStats Gateway::stats() const
{
    const Counters& c = m_impl->counters;
    GatewayStats s;
    s.requests = c.requests.load();
    s.submitted = c.submitted.load();
    s.completed = c.completed.load();
    s.refusedHold = c.refusedHold.load();
    s.clientErrors = c.clientErrors.load();
    s.upstreamErrors = c.upstreamErrors.load();
    s.clientsGone = c.clientsGone.load();
    return s;
}

std::vector<TenantRow> Gateway::tenants() const
{
    const Impl& d = *m_impl;
    const std::shared_ptr<const TokenAuth> auth = d.currentAuth();
    std::vector<std::string> names;
    for (const TokenPtr& t : auth->tokens()) {
        names.push_back(t->name);
    }
    std::vector<TenantRow> rows;
    for (TenantFigures& f : d.tenantStats->snapshot(names)) {
        const auto it = std::find_if(auth->tokens().begin(), auth->tokens().end(),
                                     [&](const TokenPtr& x) { return x->name == f.token; });
        if (it == auth->tokens().end()) {
            continue;  // revoked since: its figures are kept, not shown
        }
        const GatewayToken* t = it->get();
        TenantRow row;
        row.tenant = t->tenant;
        row.priority = t->priority;
        row.models.assign(t->models.begin(), t->models.end());
        if (const auto b = d.gate.budget(t->name)) {
            row.limits = b->limits;
            row.paused = b->paused;
        }
        row.figures = std::move(f);
        rows.push_back(std::move(row));
    }
    return rows;
}

bool Gateway::setTenantLimits(const std::string& token, const std::vector<LimitSpec>& limits)
{
    return m_impl->gate.setLimits(token, limits);
}

bool Gateway::setTenantPaused(const std::string& token, bool paused)
{
    return m_impl->gate.setPaused(token, paused);
}

void Gateway::setTokens(const std::vector<GatewayToken>& tokens)
{
    Impl& d = *m_impl;
    GatewayConfig next = d.config;
    next.tokens = tokens;
    if (std::string why = checkExposure(next); !why.empty()) {
        throw InputError(why);
    }
    const std::shared_ptr<const TokenAuth> old = d.currentAuth();
    // A token unchanged keeps its shared object, so its gate scope (usage,
    // held requests, live limits and pause) is left alone.
    const auto same = [](const GatewayToken& a, const GatewayToken& b) {
        return a.name == b.name && a.digest == b.digest && a.tenant == b.tenant && a.priority == b.priority &&
               a.models == b.models;
    };
    std::vector<TokenPtr> table;
    std::vector<TokenPtr> added;
    for (const GatewayToken& t : tokens) {
        const auto it = std::find_if(old->tokens().begin(), old->tokens().end(),
                                     [&](const TokenPtr& o) { return same(*o, t); });
        if (it != old->tokens().end()) {
            table.push_back(*it);
        } else {
            added.push_back(std::make_shared<const GatewayToken>(t));
            table.push_back(added.back());
        }
    }
    // Removed first: a request matched against the old table just before
    // the swap finds the gate refusing it as revoked. Added before the
    // swap: no request can present a new token until the table has it.
    for (const TokenPtr& o : old->tokens()) {
        if (std::find(table.begin(), table.end(), o) == table.end()) {
            d.gate.removeToken(o->name);
        }
    }
    for (const TokenPtr& t : added) {
        d.gate.addToken(t);
    }
    auto fresh = std::make_shared<const TokenAuth>(std::move(table));
    {
        std::lock_guard guard(d.authMutex);
        d.auth = std::move(fresh);
    }
    d.config.tokens = tokens;
}

void Gateway::drain()
{
    m_impl->intakeClosed = true;
    if (m_impl->server) {
        m_impl->server->drain();
    }
}

std::size_t Gateway::requestsUnderWay() const noexcept
{
    return m_impl->server ? m_impl->server->busyConnections() : 0;
}

}  // namespace sluice::gateway
