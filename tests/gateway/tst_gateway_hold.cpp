// The gateway's hold over real HTTP on loopback: a real Dispatcher in front
// of the mock, whose answers take 1.5 s, one connection allowed to the
// model, and a hold of 0.5 s. The hold bounds the wait for admission, not
// the provider's answer: the request already sent is answered when the
// provider answers, and only the one still queued behind it is told to come
// back. Before, both holds ran out while the second waited, and the gateway
// gave up the first as well: its client got a 429 for a request the
// provider had received and charged.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "gateway/gateway.h"
#include "mock/mock_provider.h"
#include "support/http_client.h"
#include "support/mock_fixture.h"
#include "support/scripted_dispatch.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <future>
#include <optional>
#include <string>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Config oneConnection(const std::string& baseUrl)
{
    const json provider = {{"name", "openai"},
                           {"flavor", "openai"},
                           {"base_url", baseUrl},
                           {"learn_limits", false},
                           {"models", {{"gpt-4o-mini", {{"limits", {{"concurrency", 1}}}}}}},
                           {"keys", json::array({{{"name", "main"}, {"env", "KEY"}}})}};
    const json root = {{"providers", json::array({provider})}};
    return loadConfig(JsonSource("hold.json", root.dump(2)), [](const std::string&) -> std::optional<std::string> {
        return "sk-mock";
    });
}

std::string chat()
{
    return json{{"model", "gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})},
                {"max_tokens", 8}}
        .dump();
}

}  // namespace

class TestGatewayHold : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void aRequestAlreadySentOutlivesItsHold();
};

void TestGatewayHold::aRequestAlreadySentOutlivesItsHold()
{
    SystemClock clock;
    mock::MockConfig m = test::quietConfig();
    m.latency.baseMs = 1500;
    m.limitsEnabled = false;
    mock::MockProvider provider(clock, m);
    provider.start();
    Admission admission(clock);
    test::OutcomeRecorder outcomes;
    Dispatcher dispatcher(oneConnection(provider.baseUrl()), clock, admission, outcomes);
    dispatcher.start();
    gateway::GatewayConfig gc;
    gc.port = 0;
    gc.hold = 500ms;
    gateway::Gateway gw(gc, dispatcher, clock, 1);
    const std::string url = "http://127.0.0.1:" + std::to_string(gw.start());
    const test::Headers headers{{"content-type", "application/json"}};

    auto sent = std::async(std::launch::async, [&] { return test::HttpClient(url).post("/v1/chat/completions", chat(), headers); });
    QTRY_COMPARE(dispatcher.stats().inFlight, std::uint64_t{1});
    auto queued = std::async(std::launch::async, [&] { return test::HttpClient(url).post("/v1/chat/completions", chat(), headers); });
    const test::HttpResponse second = queued.get();
    const test::HttpResponse first = sent.get();
    QVERIFY2(first.status == 200, first.body.c_str());
    QCOMPARE(json::parse(first.body)["object"], json("chat.completion"));
    QCOMPARE(second.status, 429L);
    QVERIFY(second.header("retry-after").has_value());
    // Only the one sent reached the provider; the dispatcher gave up the
    // other in its queue.
    QCOMPARE(provider.stats().requests, std::int64_t{1});
    QVERIFY(outcomes.waitFor(2));
    QTRY_COMPARE(dispatcher.stats().finished(), std::uint64_t{2});
    QCOMPARE(dispatcher.stats().completed, std::uint64_t{1});
    QCOMPARE(dispatcher.stats().cancelled, std::uint64_t{1});
}

QTEST_GUILESS_MAIN(TestGatewayHold)
#include "tst_gateway_hold.moc"
