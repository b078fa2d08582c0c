// Gateway tokens created and revoked while the gateway serves
// (Gateway::setTokens), over real HTTP on loopback: a real Dispatcher in
// front of a small provider whose streams stay open until the test lets
// them end, so requests are certainly under way when the tokens change.
// A new token works from its next request; a revoked one is answered 401,
// both its next request and the one its own budget was holding; streams
// under way (another token's, and the revoked token's own) run to their
// end untouched; all of it with the gateway on io threads of its own and
// on the dispatcher's event loop. A body goes to the provider byte for byte
// as the client wrote it, unless Sluice must add to it (a stream's usage).
// Tests wait on conditions, never on sleeps.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/loop_transport.h"
#include "net/event_loop.h"
#include "net/http_server.h"
#include "support/http_client.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// An OpenAI-flavoured provider: a completion is answered at once; a stream
// sends its head and first chunk, then waits for release().
class HoldingProvider {
public:
    HoldingProvider()
        : m_server(net::HttpServerOptions{}, [this](net::InboundRequest&& r, net::HttpResponder responder) {
              handle(std::move(r), std::move(responder));
          })
    {
        m_port = m_server.start();
    }
    ~HoldingProvider()
    {
        release();
        m_server.stop();
    }

    std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(m_port); }

    // Waits until `n` streams have been opened in all.
    bool waitOpened(std::size_t n)
    {
        std::unique_lock lock(m_mutex);
        return m_cv.wait_for(lock, 20s, [&] { return m_opened >= n; });
    }

    // Ends every stream open now, each with its second chunk, usage and [DONE].
    void release()
    {
        std::vector<std::shared_ptr<net::HttpStream>> open;
        {
            std::lock_guard guard(m_mutex);
            open.swap(m_open);
        }
        for (const auto& s : open) {
            s->write(chunk(R"({"content":" world"})"));
            s->write("data: " + json{{"id", "c"}, {"object", "chat.completion.chunk"}, {"choices", json::array()},
                                     {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}
                                        .dump() +
                     "\n\n");
            s->write("data: [DONE]\n\n");
            s->end();
        }
    }

private:
    static std::string chunk(const std::string& delta)
    {
        return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":" + delta +
               "}]}\n\n";
    }

public:
    std::vector<std::string> bodies()
    {
        std::lock_guard guard(m_mutex);
        return m_bodies;
    }

private:
    void handle(net::InboundRequest&& request, net::HttpResponder responder)
    {
        {
            std::lock_guard guard(m_mutex);
            m_bodies.push_back(request.body);
        }
        const json body = json::parse(request.body, nullptr, false);
        if (body.is_object() && body.value("stream", false)) {
            net::HttpReply head;
            head.status = 200;
            head.headers = {{"content-type", "text/event-stream"}};
            auto stream = responder.stream(std::move(head));
            stream->write(chunk(R"({"role":"assistant","content":"hello"})"));
            std::lock_guard guard(m_mutex);
            m_open.push_back(std::move(stream));
            ++m_opened;
            m_cv.notify_all();
            return;
        }
        const json answer = {{"id", "c"},
                             {"object", "chat.completion"},
                             {"choices", json::array({{{"index", 0},
                                                       {"message", {{"role", "assistant"}, {"content", "hi"}}},
                                                       {"finish_reason", "stop"}}})},
                             {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 1}, {"total_tokens", 6}}}};
        responder.send(net::HttpReply::whole(200, "application/json", answer.dump()));
    }

    net::HttpServer m_server;
    std::uint16_t m_port = 0;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<std::shared_ptr<net::HttpStream>> m_open;
    std::size_t m_opened = 0;
    std::vector<std::string> m_bodies;  // every request's body, as it arrived
};

class QuietListener : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override {}
};

gateway::GatewayToken token(const std::string& name, std::vector<LimitSpec> limits = {})
{
    gateway::GatewayToken t;
    t.name = name;
    t.tenant = "team-" + name;
    t.digest = gateway::sha256("secret-" + name);
    t.limits = std::move(limits);
    return t;
}

Config sluiceConfig(const std::string& baseUrl)
{
    const json provider = {{"name", "held"},
                           {"flavor", "openai"},
                           {"base_url", baseUrl},
                           {"learn_limits", false},
                           {"timeouts", {{"connect_s", 2}, {"total_s", 60}}},
                           {"keys", json::array({{{"name", "main"}, {"env", "HELD_KEY"}}})}};
    const json root = {{"providers", json::array({provider})}};
    return loadConfig(JsonSource("live-tokens.json", root.dump(2)), [](const std::string& name) {
        return name == "HELD_KEY" ? std::optional<std::string>("sk-held") : std::nullopt;
    });
}

std::string chatBody(bool stream)
{
    return json{{"model", "gpt-4o-mini"},
                {"max_tokens", 8},
                {"stream", stream},
                {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}}
        .dump();
}

// One request on a client of its own, off the test's thread.
std::future<test::HttpResponse> send(const std::string& url, const std::string& secret, bool stream)
{
    return std::async(std::launch::async, [url, secret, stream] {
        test::HttpClient http(url);
        http.setTimeout(30s);
        return http.post("/v1/chat/completions", chatBody(stream),
                         {{"content-type", "application/json"}, {"authorization", "Bearer " + secret}});
    });
}

const gateway::TenantRow* row(const std::vector<gateway::TenantRow>& rows, const std::string& name)
{
    for (const gateway::TenantRow& r : rows) {
        if (r.figures.token == name) {
            return &r;
        }
    }
    return nullptr;
}

std::int64_t figure(const gateway::Gateway& gw, const std::string& name, std::int64_t gateway::TenantFigures::*field)
{
    const auto rows = gw.tenants();
    const gateway::TenantRow* r = row(rows, name);
    return r != nullptr ? r->figures.*field : -1;
}

}  // namespace

class TestGatewayLiveTokens : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void tokensChangeWhileStreamsRun_data();
    void tokensChangeWhileStreamsRun();
    void exposedGatewayKeepsATokenOrRefuses();
    void bodyGoesOnAsTheClientWroteIt();
};

void TestGatewayLiveTokens::tokensChangeWhileStreamsRun_data()
{
    // The gateway on io threads of its own, and on the dispatcher's event
    // loop (sluice-cli serve's default).
    QTest::addColumn<bool>("sharedLoop");
    QTest::newRow("own io thread") << false;
    QTest::newRow("dispatcher's loop") << true;
}

void TestGatewayLiveTokens::tokensChangeWhileStreamsRun()
{
    QFETCH(bool, sharedLoop);
    HoldingProvider provider;
    SystemClock clock;
    Admission admission{clock};
    QuietListener listener;
    net::EventLoop loop;
    std::optional<gateway::LoopTransport> transport;
    DispatcherOptions options;
    if (sharedLoop) {
        options.transport = &transport.emplace(loop);
    }
    Dispatcher dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, listener, options);
    dispatcher.start();
    gateway::GatewayConfig gc;
    gc.port = 0;
    gc.hold = 20s;
    // b may have one request under way: a second one is held by its budget.
    gc.tokens = {token("a"), token("b", {concurrency(1)})};
    gateway::Gateway gw(gc, dispatcher, clock, 1, nullptr, sharedLoop ? &loop : nullptr);
    const std::string url = "http://127.0.0.1:" + std::to_string(gw.start());

    auto streamA = send(url, "secret-a", true);
    QVERIFY(provider.waitOpened(1));
    auto streamB = send(url, "secret-b", true);
    QVERIFY(provider.waitOpened(2));
    auto heldB = send(url, "secret-b", false);
    QTRY_COMPARE_WITH_TIMEOUT(figure(gw, "b", &gateway::TenantFigures::waiting), std::int64_t(1), 20'000);
    QCOMPARE(figure(gw, "a", &gateway::TenantFigures::inFlight), std::int64_t(1));

    // A token that is not there yet is refused; once added it works at
    // once, on the same running gateway.
    test::HttpClient http(url);
    const test::Headers asC{{"content-type", "application/json"}, {"authorization", "Bearer secret-c"}};
    QCOMPARE(http.post("/v1/chat/completions", chatBody(false), asC).status, 401L);
    const std::uint16_t port = gw.port();
    gw.setTokens({token("a"), token("b", {concurrency(1)}), token("c")});
    QCOMPARE(gw.port(), port);
    test::HttpResponse r = http.post("/v1/chat/completions", chatBody(false), asC);
    QVERIFY2(r.status == 200, r.body.c_str());
    QCOMPARE(json::parse(r.body)["choices"][0]["message"]["content"].get<std::string>(), std::string("hi"));

    // b revoked: the request its budget held is answered 401 now, and so is
    // its next one.
    gw.setTokens({token("a"), token("c")});
    QCOMPARE(heldB.wait_for(20s), std::future_status::ready);
    r = heldB.get();
    QCOMPARE(r.status, 401L);
    QVERIFY2(r.body.find("revoked") != std::string::npos, r.body.c_str());
    const test::Headers asB{{"content-type", "application/json"}, {"authorization", "Bearer secret-b"}};
    QCOMPARE(http.post("/v1/chat/completions", chatBody(false), asB).status, 401L);
    QCOMPARE(http.post("/v1/chat/completions", chatBody(false), asC).status, 200L);

    // The streams under way all along were not touched: both end whole.
    QCOMPARE(streamA.wait_for(0s), std::future_status::timeout);
    provider.release();
    for (auto* f : {&streamA, &streamB}) {
        QCOMPARE(f->wait_for(20s), std::future_status::ready);
        const test::HttpResponse s = f->get();
        QVERIFY2(s.completed() && s.status == 200, s.error.c_str());
        QVERIFY2(s.body.find("hello") != std::string::npos && s.body.find(" world") != std::string::npos, s.body.c_str());
        QVERIFY2(s.body.find("[DONE]") != std::string::npos, s.body.c_str());
    }
    QCOMPARE(gw.stats().clientsGone, std::uint64_t(0));
    const auto rows = gw.tenants();
    QVERIFY(row(rows, "a") != nullptr && row(rows, "c") != nullptr);
    QVERIFY(row(rows, "b") == nullptr);
    QCOMPARE(row(rows, "a")->figures.requests, std::uint64_t(1));
    QCOMPARE(row(rows, "c")->figures.requests, std::uint64_t(2));
    gw.stop();
    dispatcher.stop();
}

void TestGatewayLiveTokens::exposedGatewayKeepsATokenOrRefuses()
{
    HoldingProvider provider;
    SystemClock clock;
    Admission admission{clock};
    QuietListener listener;
    Dispatcher dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, listener, DispatcherOptions{});
    gateway::GatewayConfig gc;
    gc.host = "0.0.0.0";
    gc.tokens = {token("a")};
    gateway::Gateway gw(gc, dispatcher, clock);
    // No tokens on a non-loopback address would serve anyone: refused, and
    // the table is as it was.
    QVERIFY_THROWS_EXCEPTION(InputError, gw.setTokens({}));
    QCOMPARE(gw.tenants().size(), std::size_t(1));
}

void TestGatewayLiveTokens::bodyGoesOnAsTheClientWroteIt()
{
    HoldingProvider provider;
    SystemClock clock;
    Admission admission{clock};
    QuietListener listener;
    Dispatcher dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, listener, DispatcherOptions{});
    dispatcher.start();
    gateway::GatewayConfig gc;
    gc.port = 0;
    gc.tokens = {token("a")};
    gateway::Gateway gw(gc, dispatcher, clock);
    const std::string url = "http://127.0.0.1:" + std::to_string(gw.start());
    test::HttpClient http(url);
    const test::Headers asA{{"content-type", "application/json"}, {"authorization", "Bearer secret-a"}};

    // Spacing, key order, a float written 1.0, an escaped character and a
    // field Sluice does not know: what a re-serialisation would change.
    const std::string written =
        "{ \"messages\": [{\"role\": \"user\", \"content\": \"caf\\u00e9\"}],\n  \"temperature\": 1.0, "
        "\"model\": \"gpt-4o-mini\", \"max_tokens\": 8, \"x_vendor\": {\"b\": 2, \"a\": 1} }";
    QCOMPARE(http.post("/v1/chat/completions", written, asA).status, 200L);
    QCOMPARE(provider.bodies().size(), std::size_t(1));
    QCOMPARE(provider.bodies().front(), written);

    // A stream that did not ask for usage: Sluice asks, since it settles by it.
    auto streamed = std::async(std::launch::async, [&] {
        test::HttpClient own(url);
        own.setTimeout(30s);
        return own.post("/v1/chat/completions", chatBody(true), asA);
    });
    QVERIFY(provider.waitOpened(1));
    provider.release();
    QCOMPARE(streamed.get().status, 200L);
    const json sent = json::parse(provider.bodies().back());
    QCOMPARE(sent["stream_options"]["include_usage"], json(true));
    QCOMPARE(sent["messages"], json::parse(chatBody(true))["messages"]);
}

QTEST_GUILESS_MAIN(TestGatewayLiveTokens)
#include "tst_gateway_live_tokens.moc"
