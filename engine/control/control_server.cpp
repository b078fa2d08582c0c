#include "control/control_server.h"

#include "control/control_protocol.h"
#include "core/json_source.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <map>
#include <stdexcept>

namespace sluice::control {

using nlohmann::json;

namespace {

constexpr const char* kJson = "application/json";

net::HttpReply jsonReply(int status, const json& body)
{
    return net::HttpReply::whole(status, kJson, body.dump() + "\n");
}

net::HttpReply errorReply(int status, const std::string& message)
{
    return jsonReply(status, json{{"error", message}});
}

// A request the endpoint refuses, with the status to answer.
struct Refusal : std::runtime_error {
    Refusal(int s, const std::string& what) : std::runtime_error(what), status(s) {}
    int status;
};

int hexValue(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string percentDecode(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
                   hexValue(s[i + 2]) >= 0) {
            out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> queryOf(std::string_view target)
{
    std::map<std::string, std::string> out;
    const auto q = target.find('?');
    if (q == std::string_view::npos) {
        return out;
    }
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const auto eq = pair.find('=');
        out[percentDecode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1));
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    }
    return out;
}

std::int64_t queryInt(const std::map<std::string, std::string>& q, const char* name, std::int64_t fallback)
{
    const auto it = q.find(name);
    if (it == q.end()) {
        return fallback;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size()) {
        throw Refusal(400, std::string("query parameter ") + name + ": not an integer: \"" + it->second + "\"");
    }
    return v;
}

json bodyOf(const net::InboundRequest& request)
{
    json j = json::parse(request.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        throw Refusal(400, "request body: not a JSON object");
    }
    return j;
}

std::string stringField(const json& j, const char* name, bool required)
{
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        if (required) {
            throw Refusal(400, std::string("request body: missing \"") + name + "\"");
        }
        return {};
    }
    if (!it->is_string()) {
        throw Refusal(400, std::string("request body: \"") + name + "\" is not a string");
    }
    return it->get<std::string>();
}

// Compares without stopping at the first difference, so the time taken does
// not say how much of a guess was right.
bool sameSecret(std::string_view a, std::string_view b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

metrics::ScopeKey scopeOf(const std::map<std::string, std::string>& q)
{
    const auto value = [&](const char* name) {
        const auto it = q.find(name);
        return it == q.end() ? std::string() : it->second;
    };
    const std::string provider = value("provider");
    const std::string key = value("key");
    const std::string model = value("model");
    if (provider.empty()) {
        return metrics::ScopeKey::global();
    }
    if (!key.empty() && !model.empty()) {
        return metrics::ScopeKey::ofKeyModel(provider, key, model);
    }
    if (!key.empty()) {
        return metrics::ScopeKey::ofKey(provider, key);
    }
    if (!model.empty()) {
        return metrics::ScopeKey::ofModel(provider, model);
    }
    return metrics::ScopeKey::ofProvider(provider);
}

}  // namespace

bool isLoopback(const std::string& host)
{
    return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

ControlServer::ControlServer(ControlOptions options, ControlTarget target)
    : m_options(std::move(options)), m_target(std::move(target))
{
    if (m_target.clock == nullptr || m_target.dispatcher == nullptr || m_target.admission == nullptr) {
        throw std::invalid_argument("ControlServer: a clock, a dispatcher and an admission are required");
    }
    if (m_options.token && m_options.token->empty()) {
        throw InputError("--control-token-env: the variable is empty");
    }
    if (!isLoopback(m_options.host) && !m_options.token) {
        throw InputError("--control " + m_options.host +
                         ": an address other than loopback needs a token (--control-token-env VAR)");
    }
    if (m_target.deadLetters != nullptr) {
        m_book = m_target.deadLetters;
    } else if (m_target.store != nullptr) {
        m_storeBook = std::make_unique<StoreDeadLetters>(*m_target.store);
        m_book = m_storeBook.get();
    }
    net::HttpServerOptions so;
    so.host = m_options.host;
    so.port = m_options.port;
    so.maxBodyBytes = 4u << 20;
    so.requestTimeout = std::chrono::seconds(30);
    m_server = std::make_unique<net::HttpServer>(
        so, [this](net::InboundRequest&& request, net::HttpResponder responder) {
            handle(std::move(request), std::move(responder));
        });
}

ControlServer::~ControlServer()
{
    stop();
}

std::uint16_t ControlServer::start()
{
    return m_server->start();
}

void ControlServer::stop()
{
    if (m_server) {
        m_server->stop();
    }
}

std::uint16_t ControlServer::port() const noexcept
{
    return m_server->port();
}

std::string ControlServer::url() const
{
    const bool v6 = m_options.host.find(':') != std::string::npos && m_options.host.front() != '[';
    return "http://" + (v6 ? "[" + m_options.host + "]" : m_options.host) + ":" + std::to_string(port());
}

bool ControlServer::authorized(const net::InboundRequest& request) const
{
    if (!m_options.token) {
        return true;
    }
    const auto header = request.header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!header || header->substr(0, kBearer.size()) != kBearer) {
        return false;
    }
    return sameSecret(header->substr(kBearer.size()), m_options.token->view());
}

DeadLetterBook& ControlServer::requireBook() const
{
    if (m_book == nullptr) {
        throw Refusal(501, "this instance (sluice-cli " + m_target.kind + ") keeps no dead letters");
    }
    return *m_book;
}

// A book that lists but cannot requeue (serve) says why: 409.
DeadLetterBook& ControlServer::requireRequeue() const
{
    DeadLetterBook& book = requireBook();
    if (std::string why = book.requeueRefusal(); !why.empty()) {
        throw Refusal(409, why);
    }
    return book;
}

void ControlServer::poke() const
{
    if (m_target.poke) {
        m_target.poke();
    }
}

void ControlServer::handle(net::InboundRequest&& request, net::HttpResponder responder)
{
    if (!authorized(request)) {
        net::HttpReply r = errorReply(401, "a bearer token is required (Authorization: Bearer TOKEN)");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        responder.send(std::move(r));
        return;
    }
    if (request.bodyTooLarge) {
        responder.send(errorReply(413, "request body too large"));
        return;
    }
    try {
        responder.send(route(request));
    } catch (const Refusal& r) {
        responder.send(errorReply(r.status, r.what()));
    } catch (const ProtocolError& e) {
        responder.send(errorReply(400, e.what()));
    } catch (const InputError& e) {
        responder.send(errorReply(400, e.what()));
    } catch (const std::exception& e) {
        responder.send(errorReply(500, e.what()));
    }
}

net::HttpReply ControlServer::route(const net::InboundRequest& request)
{
    const std::string path(request.path());
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    const json ok{{"ok", true}};
    if (get && path == "/v1/status") {
        return statusReply();
    }
    if (get && path == "/v1/series") {
        return seriesReply(request);
    }
    if (get && path == "/v1/rollups") {
        return rollupsReply(request);
    }
    if (get && path == "/v1/config") {
        return jsonReply(200, configToJson(*m_target.dispatcher->config()));
    }
    if (post && path == "/v1/limits") {
        return setLimits(request);
    }
    if (post && path == "/v1/pause") {
        m_target.dispatcher->pause();
        return jsonReply(200, ok);
    }
    if (post && path == "/v1/resume") {
        m_target.dispatcher->resume();
        return jsonReply(200, ok);
    }
    if (post && path == "/v1/drain") {
        return drain();
    }
    if (post && path == "/v1/keys/enabled") {
        return setKeyEnabled(request);
    }
    if (get && path == "/v1/dead-letters") {
        return deadLettersReply(request);
    }
    if (get && path.rfind("/v1/jobs/", 0) == 0) {
        return jobReply(path);
    }
    if (post && path == "/v1/dead-letters/requeue") {
        return requeue(request);
    }
    if (post && path == "/v1/dead-letters/edit") {
        return editAndRequeue(request);
    }
    if (path.rfind("/v1/", 0) == 0 && (get || post)) {
        return errorReply(404, "no such control route: " + request.method + " " + path);
    }
    return errorReply(path.rfind("/v1/", 0) == 0 ? 405 : 404, "no such control route: " + path);
}

// GET /v1/status
net::HttpReply ControlServer::statusReply() const
{
    ControlStatus s;
    s.kind = m_target.kind;
    s.dispatch = m_target.dispatcher->stats();
    s.scopes = m_target.admission->snapshotAll();
    if (m_book != nullptr) {
        s.queue = m_book->counts();
        s.deadLetters = true;
        s.requeueRefusal = m_book->requeueRefusal();
    }
    if (m_target.events != nullptr) {
        s.events = m_target.events->latest();
    }
    s.canDrain = static_cast<bool>(m_target.drain);
    s.draining = m_draining.load();
    s.spendTodayMicroUsd = s.dispatch.spendMicroUsd;
    if (m_target.metrics != nullptr) {
        s.seriesSince = m_target.metrics->snapshot().since;
    }
    return jsonReply(200, statusToJson(s, *m_target.clock));
}

// GET /v1/series
net::HttpReply ControlServer::seriesReply(const net::InboundRequest& request) const
{
    if (m_target.metrics == nullptr) {
        throw Refusal(501, "this instance records no live series");
    }
    const auto q = queryOf(request.target);
    const std::int64_t widthS = queryInt(q, "width_s", 1);
    const Duration width = std::chrono::seconds(widthS);
    const TimePoint now = m_target.clock->now();
    const TimePoint since = m_target.metrics->snapshot().since;
    TimePoint from = since;
    if (q.count("since_ms") != 0) {
        from = std::max(since, fromWallMs(*m_target.clock, queryInt(q, "since_ms", 0)));
    }
    SeriesPage page;
    try {
        // The recorder gives buckets that start at `from` or later:
        // moved back by almost a width, the bucket holding `from`
        // comes too (the run's first second, a cursor's bucket).
        page.points = m_target.metrics->series(scopeOf(q), width, from - width + Duration(1), now + width);
    } catch (const std::invalid_argument& e) {
        throw Refusal(400, std::string("width_s: ") + e.what());
    }
    if (!page.points.empty()) {
        page.cursor = page.points.back().start;
    }
    return jsonReply(200, seriesToJson(page, *m_target.clock));
}

// GET /v1/rollups
net::HttpReply ControlServer::rollupsReply(const net::InboundRequest& request) const
{
    if (!m_target.rollups) {
        throw Refusal(501, "this instance (sluice-cli " + m_target.kind + ") keeps no usage rollups");
    }
    const auto q = queryOf(request.target);
    const WallTime from = wallFromMs(queryInt(q, "from_ms", 0));
    const WallTime to = q.count("to_ms") != 0 ? wallFromMs(queryInt(q, "to_ms", 0))
                                              : m_target.clock->wallNow() + std::chrono::minutes(1);
    if (from >= to) {
        throw Refusal(400, "from_ms must be before to_ms");
    }
    return jsonReply(200, rollupsToJson(m_target.rollups(from, to)));
}

// POST /v1/limits
net::HttpReply ControlServer::setLimits(const net::InboundRequest& request)
{
    const json body = bodyOf(request);
    LimitTarget target{stringField(body, "provider", false), stringField(body, "key", false),
                       stringField(body, "model", false)};
    const auto limits = body.find("limits");
    if (limits == body.end()) {
        throw Refusal(400, "request body: missing \"limits\"");
    }
    m_target.dispatcher->setLimits(target, limitsFromJson(*limits));
    return jsonReply(200, json{{"ok", true}});
}

// POST /v1/drain
net::HttpReply ControlServer::drain()
{
    // As the console's Drain on its own engine: intake closed, and
    // dispatch resumed so the queue runs until it is empty.
    if (!m_target.drain) {
        throw Refusal(501, "this instance (sluice-cli " + m_target.kind + ") has no intake to close");
    }
    m_target.drain();
    m_draining = true;
    m_target.dispatcher->resume();
    return jsonReply(200, json{{"ok", true}});
}

// POST /v1/keys/enabled
net::HttpReply ControlServer::setKeyEnabled(const net::InboundRequest& request)
{
    const json body = bodyOf(request);
    const auto enabled = body.find("enabled");
    if (enabled == body.end() || !enabled->is_boolean()) {
        throw Refusal(400, "request body: \"enabled\" must be true or false");
    }
    m_target.dispatcher->setKeyEnabled(stringField(body, "provider", true), stringField(body, "key", true),
                                       enabled->get<bool>());
    return jsonReply(200, json{{"ok", true}});
}

// GET /v1/dead-letters
net::HttpReply ControlServer::deadLettersReply(const net::InboundRequest& request) const
{
    DeadLetterBook& book = requireBook();
    const auto q = queryOf(request.target);
    store::DeadLetterFilter f;
    for (const auto& [name, field] : {std::pair{"error_class", &f.errorClass}, std::pair{"key_label", &f.keyLabel},
                                      std::pair{"model", &f.model}}) {
        if (const auto it = q.find(name); it != q.end() && !it->second.empty()) {
            *field = it->second;
        }
    }
    if (q.count("died_from_ms") != 0) {
        f.diedFrom = wallFromMs(queryInt(q, "died_from_ms", 0));
    }
    if (q.count("died_to_ms") != 0) {
        f.diedTo = wallFromMs(queryInt(q, "died_to_ms", 0));
    }
    const auto limit = static_cast<std::size_t>(std::clamp<std::int64_t>(queryInt(q, "limit", 100), 1, 10000));
    return jsonReply(200, json{{"dead_letters", deadLettersToJson(book.list(f, limit))}});
}

// GET /v1/jobs/ID
net::HttpReply ControlServer::jobReply(const std::string& path) const
{
    DeadLetterBook& book = requireBook();
    const std::string idText = path.substr(9);
    store::JobId id = 0;
    const auto [end, ec] = std::from_chars(idText.data(), idText.data() + idText.size(), id);
    if (ec != std::errc() || end != idText.data() + idText.size()) {
        throw Refusal(400, "job id: not a number: \"" + idText + "\"");
    }
    const std::optional<JobDetail> d = book.job(id);
    if (!d || !d->job) {
        throw Refusal(404, "no job " + idText);
    }
    return jsonReply(200, jobDetailToJson(*d));
}

// POST /v1/dead-letters/requeue
net::HttpReply ControlServer::requeue(const net::InboundRequest& request)
{
    DeadLetterBook& book = requireRequeue();
    const json body = bodyOf(request);
    std::size_t n = 0;
    if (const auto id = body.find("id"); id != body.end()) {
        if (!id->is_number_unsigned()) {
            throw Refusal(400, "request body: \"id\" is not a job id");
        }
        n = book.requeue(id->get<store::JobId>()) ? 1 : 0;
    } else if (const auto filter = body.find("filter"); filter != body.end()) {
        n = book.requeueDead(deadLetterFilterFromJson(*filter));
    } else {
        throw Refusal(400, "request body: \"id\" or \"filter\" is required");
    }
    poke();
    return jsonReply(200, json{{"requeued", n}});
}

// POST /v1/dead-letters/edit
net::HttpReply ControlServer::editAndRequeue(const net::InboundRequest& request)
{
    DeadLetterBook& book = requireRequeue();
    const json body = bodyOf(request);
    const auto id = body.find("id");
    if (id == body.end() || !id->is_number_unsigned()) {
        throw Refusal(400, "request body: \"id\" is not a job id");
    }
    const std::string newBody = stringField(body, "body", true);
    const json parsed = json::parse(newBody, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        throw Refusal(400, "body: not a JSON object");
    }
    const bool ok = book.editAndRequeue(id->get<store::JobId>(), newBody);
    poke();
    return jsonReply(200, json{{"requeued", ok ? 1 : 0}});
}

}  // namespace sluice::control
