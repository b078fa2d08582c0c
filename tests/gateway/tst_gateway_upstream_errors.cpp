// What the gateway makes of a provider's failures, over real HTTP on
// loopback: a real Dispatcher in front of a scripted provider that is not
// Sluice's mock (it answers each request as the test set it up to), with
// two OpenAI keys and an Anthropic one.
// - An error the provider gave keeps its request id (the SDKs show it with
//   the error) and carries the tenant's own rate-limit headers.
// - A plain answer cut before its end is retried: nothing of it had reached
//   the client, which buffers nothing of it.
// - A 403 ("this project may not use this model") sets that key and model
//   aside, not the key: the model goes on the other key, the key keeps
//   serving its other models, and with no key left the client sees the
//   provider's 403, then the gateway's while the refusal stands.
// - Anthropic's count_tokens is the provider's count.
// - A wrong key on an OpenAI path is answered in OpenAI's shape.
// - GET /healthz says when a provider has no key left (401s quarantine
//   them), and 503 when none has.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/gateway_config.h"
#include "net/http_server.h"
#include "support/http_client.h"
#include "support/scripted_dispatch.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// What one request to the provider was.
struct Seen {
    std::string path;
    std::string key;  // the credential it came with
    std::string model;
};

// Answers as scripted: the next plain answers can be cut (200, half a body,
// then the connection reset); key sk-one gets a 403 for gpt-4o; anything
// else is a small chat completion, or a count on count_tokens. Every
// answer names its request id.
class ScriptedProvider {
public:
    ScriptedProvider()
        : m_server(net::HttpServerOptions{}, [this](net::InboundRequest&& r, net::HttpResponder responder) {
              responder.send(answer(r));
          })
    {
        m_port = m_server.start();
    }
    ~ScriptedProvider() { m_server.stop(); }

    std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    void cutNext(int n)
    {
        std::lock_guard guard(m_mutex);
        m_cuts = n;
    }
    std::vector<Seen> seen()
    {
        std::lock_guard guard(m_mutex);
        return m_seen;
    }

private:
    net::HttpReply answer(const net::InboundRequest& r)
    {
        const json body = json::parse(r.body, nullptr, false);
        Seen s{std::string(r.path()), "", body.is_object() ? body.value("model", std::string()) : std::string()};
        if (const auto bearer = r.header("authorization")) {
            s.key = std::string(*bearer).substr(7);
        } else if (const auto key = r.header("x-api-key")) {
            s.key = std::string(*key);
        }
        bool cut = false;
        std::string id;
        {
            std::lock_guard guard(m_mutex);
            m_seen.push_back(s);
            id = "req_" + std::to_string(m_seen.size());
            if (m_cuts > 0 && s.path == "/v1/chat/completions") {
                --m_cuts;
                cut = true;
            }
        }
        net::HttpReply reply;
        if (s.path == "/v1/messages/count_tokens") {
            reply = net::HttpReply::whole(200, "application/json", R"({"input_tokens":4242})");
        } else if (s.key == "sk-one" && s.model == "gpt-4o") {
            reply = net::HttpReply::whole(
                403, "application/json",
                json{{"error",
                      {{"message", "Project `proj_one` does not have access to model `gpt-4o`"},
                       {"type", "invalid_request_error"},
                       {"param", nullptr},
                       {"code", "model_not_found"}}}}
                    .dump());
        } else if (s.model == "revoked" || s.model == "claude-revoked") {
            // The key was revoked: a 401 quarantines it.
            reply = net::HttpReply::whole(
                401, "application/json",
                s.model == "revoked"
                    ? json{{"error", {{"message", "Incorrect API key provided"}, {"type", "invalid_request_error"},
                                      {"param", nullptr}, {"code", "invalid_api_key"}}}}
                          .dump()
                    : json{{"type", "error"}, {"error", {{"type", "authentication_error"}, {"message", "invalid x-api-key"}}}}
                          .dump());
        } else if (s.path == "/v1/chat/completions" && s.model == "bad") {
            reply = net::HttpReply::whole(
                400, "application/json",
                json{{"error", {{"message", "no such thing"}, {"type", "invalid_request_error"}, {"param", "model"}, {"code", nullptr}}}}
                    .dump());
        } else {
            const std::string text =
                json{{"id", "chatcmpl-" + id}, {"object", "chat.completion"}, {"created", 1}, {"model", s.model},
                     {"choices", json::array({{{"index", 0},
                                               {"message", {{"role", "assistant"}, {"content", "whole answer"}}},
                                               {"finish_reason", "stop"}}})},
                     {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
                    .dump();
            reply = net::HttpReply::whole(200, "application/json", text);
            if (cut) {
                reply.declaredLength = text.size();
                reply.parts.front().data.resize(text.size() / 2);
                reply.ending = net::HttpEnding::Reset;
            }
        }
        reply.headers.emplace_back(r.path().rfind("/v1/messages", 0) == 0 ? "request-id" : "x-request-id", id);
        return reply;
    }

    net::HttpServer m_server;
    std::uint16_t m_port = 0;
    std::mutex m_mutex;
    int m_cuts = 0;
    std::vector<Seen> m_seen;
};

Config twoKeys(const std::string& baseUrl)
{
    const json openai = {{"name", "openai"},
                         {"flavor", "openai"},
                         {"base_url", baseUrl},
                         {"learn_limits", false},
                         {"models", {{"gpt-4o-mini", json::object()}, {"gpt-4o", json::object()}, {"bad", json::object()},
                                     {"revoked", json::object()}}},
                         {"keys", json::array({{{"name", "one"}, {"env", "ONE"}}, {{"name", "two"}, {"env", "TWO"}}})}};
    const json anthropic = {{"name", "anthropic"},
                            {"flavor", "anthropic"},
                            {"base_url", baseUrl},
                            {"learn_limits", false},
                            {"models", {{"claude-haiku-4-5", json::object()}, {"claude-revoked", json::object()}}},
                            {"keys", json::array({{{"name", "ant"}, {"env", "ANT"}}})}};
    const json root = {{"providers", json::array({openai, anthropic})},
                       {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}, {"max_attempts", 4}}}};
    return loadConfig(JsonSource("upstream-errors.json", root.dump(2)), [](const std::string& name) {
        return std::optional<std::string>(name == "ONE" ? "sk-one" : name == "TWO" ? "sk-two" : "sk-ant");
    });
}

std::string chat(const std::string& model)
{
    return json{{"model", model}, {"max_tokens", 8}, {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}}
        .dump();
}

const test::Headers kAsA{{"content-type", "application/json"}, {"authorization", "Bearer secret-a"}};

}  // namespace

class TestGatewayUpstreamErrors : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void anErrorKeepsItsRequestIdAndTheTenantsHeaders();
    void aPlainAnswerCutBeforeItsEndIsRetried();
    void a403SetsAsideTheKeyForThatModelOnly();
    void countTokensIsTheProvidersCount();
    void aWrongKeyOnAnOpenAiPathGetsOpenAisShape();
    void healthSaysWhenNoKeyIsLeft();

private:
    std::size_t seenOn(const std::string& key, const std::string& model);

    SystemClock m_clock;
    std::optional<ScriptedProvider> m_provider;
    std::optional<Admission> m_admission;
    test::OutcomeRecorder m_outcomes;
    std::optional<Dispatcher> m_dispatcher;
    std::optional<gateway::Gateway> m_gateway;
    std::string m_url;
};

void TestGatewayUpstreamErrors::init()
{
    m_provider.emplace();
    m_admission.emplace(m_clock);
    m_dispatcher.emplace(twoKeys(m_provider->baseUrl()), m_clock, *m_admission, m_outcomes);
    m_dispatcher->start();
    gateway::GatewayConfig gc;
    gc.port = 0;
    gc.hold = 10s;
    gateway::GatewayToken a;
    a.name = "a";
    a.tenant = "team-a";
    a.digest = gateway::sha256("secret-a");
    a.limits = {perMinute(Measure::Requests, 1000, 17)};
    gc.tokens = {a};
    m_gateway.emplace(gc, *m_dispatcher, m_clock, 1);
    m_url = "http://127.0.0.1:" + std::to_string(m_gateway->start());
}

void TestGatewayUpstreamErrors::cleanup()
{
    m_gateway.reset();
    m_dispatcher.reset();
    m_admission.reset();
    m_provider.reset();
}

std::size_t TestGatewayUpstreamErrors::seenOn(const std::string& key, const std::string& model)
{
    std::size_t n = 0;
    for (const Seen& s : m_provider->seen()) {
        n += s.key == key && s.model == model ? 1 : 0;
    }
    return n;
}

void TestGatewayUpstreamErrors::anErrorKeepsItsRequestIdAndTheTenantsHeaders()
{
    test::HttpClient http(m_url);
    const test::HttpResponse r = http.post("/v1/chat/completions", chat("bad"), kAsA);
    QCOMPARE(r.status, 400L);
    QCOMPARE(json::parse(r.body)["error"]["message"], json("no such thing"));
    QCOMPARE(r.header("x-request-id").value_or(""), std::string("req_1"));
    QCOMPARE(r.header("x-ratelimit-limit-requests").value_or(""), std::string("1000"));
}

void TestGatewayUpstreamErrors::aPlainAnswerCutBeforeItsEndIsRetried()
{
    m_provider->cutNext(2);
    test::HttpClient http(m_url);
    const test::HttpResponse r = http.post("/v1/chat/completions", chat("gpt-4o-mini"), kAsA);
    QVERIFY2(r.status == 200, r.body.c_str());
    // The third answer, whole, and only it: nothing of the two cut ones.
    const json doc = json::parse(r.body);
    QCOMPARE(doc["choices"][0]["message"]["content"], json("whole answer"));
    QCOMPARE(doc["id"], json("chatcmpl-req_3"));
    QCOMPARE(r.header("x-request-id").value_or(""), std::string("req_3"));
    QCOMPARE(m_provider->seen().size(), std::size_t{3});
}

void TestGatewayUpstreamErrors::a403SetsAsideTheKeyForThatModelOnly()
{
    test::HttpClient http(m_url);
    // Key one alone: the provider's own 403 reaches the client.
    m_dispatcher->setKeyEnabled("openai", "two", false);
    test::HttpResponse r = http.post("/v1/chat/completions", chat("gpt-4o"), kAsA);
    QCOMPARE(r.status, 403L);
    QVERIFY2(r.body.find("does not have access to model") != std::string::npos, r.body.c_str());
    QCOMPARE(seenOn("sk-one", "gpt-4o"), std::size_t{1});
    // The key still serves its other models.
    r = http.post("/v1/chat/completions", chat("gpt-4o-mini"), kAsA);
    QVERIFY2(r.status == 200, r.body.c_str());
    // While the refusal stands, the gateway answers 403 itself: the
    // provider is not asked again.
    r = http.post("/v1/chat/completions", chat("gpt-4o"), kAsA);
    QCOMPARE(r.status, 403L);
    QVERIFY2(r.body.find("refused key one model gpt-4o") != std::string::npos, r.body.c_str());
    QCOMPARE(seenOn("sk-one", "gpt-4o"), std::size_t{1});
    // With key two back, the model goes there, and only there.
    m_dispatcher->setKeyEnabled("openai", "two", true);
    for (int i = 0; i < 3; ++i) {
        r = http.post("/v1/chat/completions", chat("gpt-4o"), kAsA);
        QVERIFY2(r.status == 200, r.body.c_str());
    }
    QCOMPARE(seenOn("sk-two", "gpt-4o"), std::size_t{3});
    QCOMPARE(seenOn("sk-one", "gpt-4o"), std::size_t{1});
    // Nothing was quarantined: key one takes gpt-4o-mini when two cannot.
    m_dispatcher->setKeyEnabled("openai", "two", false);
    const std::size_t before = seenOn("sk-one", "gpt-4o-mini");
    r = http.post("/v1/chat/completions", chat("gpt-4o-mini"), kAsA);
    QVERIFY2(r.status == 200, r.body.c_str());
    QCOMPARE(seenOn("sk-one", "gpt-4o-mini"), before + 1);
}

void TestGatewayUpstreamErrors::countTokensIsTheProvidersCount()
{
    test::HttpClient http(m_url);
    const test::HttpResponse r = http.post(
        "/v1/messages/count_tokens",
        json{{"model", "claude-haiku-4-5"}, {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}}.dump(),
        {{"content-type", "application/json"}, {"x-api-key", "secret-a"}, {"anthropic-version", "2023-06-01"}});
    QVERIFY2(r.status == 200, r.body.c_str());
    QCOMPARE(json::parse(r.body)["input_tokens"], json(4242));
    QCOMPARE(r.header("request-id").value_or(""), std::string("req_1"));
    const std::vector<Seen> seen = m_provider->seen();
    QCOMPARE(seen.size(), std::size_t{1});
    QCOMPARE(seen[0].path, std::string("/v1/messages/count_tokens"));
    QCOMPARE(seen[0].key, std::string("sk-ant"));
}

void TestGatewayUpstreamErrors::aWrongKeyOnAnOpenAiPathGetsOpenAisShape()
{
    test::HttpClient http(m_url);
    for (const char* path : {"/v1/chat/completions", "/v1/responses", "/v1/embeddings"}) {
        const test::HttpResponse r = http.post(path, chat("gpt-4o-mini"), {{"content-type", "application/json"}, {"x-api-key", "wrong"}});
        QCOMPARE(r.status, 401L);
        const json doc = json::parse(r.body);
        QVERIFY2(doc.contains("error") && doc["error"].contains("message") && !doc.contains("type"), r.body.c_str());
    }
    QVERIFY(m_provider->seen().empty());
}

void TestGatewayUpstreamErrors::healthSaysWhenNoKeyIsLeft()
{
    test::HttpClient http(m_url);
    const auto health = [&http] {
        const test::HttpResponse r = http.get("/healthz");
        return std::to_string(r.status) + " " + r.body;
    };
    QCOMPARE(health(), std::string(R"(200 {"status":"serving"})"));
    // Anthropic's only key is revoked.
    test::HttpResponse r = http.post(
        "/v1/messages",
        json{{"model", "claude-revoked"}, {"max_tokens", 8}, {"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}}
            .dump(),
        {{"content-type", "application/json"}, {"x-api-key", "secret-a"}, {"anthropic-version", "2023-06-01"}});
    // Retried on no other key: the gateway's 503, which names the cause.
    QCOMPARE(r.status, 503L);
    QVERIFY2(r.body.find("quarantined") != std::string::npos, r.body.c_str());
    // The status is published as the dispatcher's loop turns.
    QTRY_COMPARE_WITH_TIMEOUT(health(), std::string(R"(200 {"status":"degraded","providers_without_a_usable_key":1})"),
                              5000);
    // Then both of OpenAI's: the request tries one, then the other.
    r = http.post("/v1/chat/completions", chat("revoked"), kAsA);
    QCOMPARE(r.status, 503L);
    QCOMPARE(seenOn("sk-one", "revoked") + seenOn("sk-two", "revoked"), std::size_t{2});
    QTRY_COMPARE_WITH_TIMEOUT(health(), std::string(R"(503 {"status":"no_usable_key","providers_without_a_usable_key":2})"),
                              5000);
    // An operator enables a key again: serving, degraded.
    m_dispatcher->setKeyEnabled("openai", "two", true);
    QTRY_COMPARE_WITH_TIMEOUT(health(), std::string(R"(200 {"status":"degraded","providers_without_a_usable_key":1})"),
                              5000);
}

QTEST_GUILESS_MAIN(TestGatewayUpstreamErrors)
#include "tst_gateway_upstream_errors.moc"
