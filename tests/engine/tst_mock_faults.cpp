// Injected faults in both dialects, the behaviour model (latency, seeds),
// and live control over HTTP: GET /mock/stats matching what was sent, POST
// /mock/config changing faults and limits on the fly, bad patches refused.
#include "support/mock_fixture.h"

#include <QtTest>

using namespace sluice;
using namespace sluice::mock;
using namespace sluice::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

MockConfig withFault(Fault f, double rate = 1.0)
{
    MockConfig c = quietConfig();
    c.faults[f] = rate;
    return c;
}

HttpResponse openAiStream(MockFixture& f, int maxTokens = 20)
{
    return f.http.post("/v1/chat/completions",
                       openAiBody("gpt-4o-mini", maxTokens, R"(,"stream":true,"stream_options":{"include_usage":true})"),
                       openAiHeaders());
}

HttpResponse anthropicStream(MockFixture& f, int maxTokens = 20)
{
    return f.http.post("/v1/messages", anthropicBody("claude-haiku-4-5", maxTokens, R"(,"stream":true)"),
                       anthropicHeaders());
}

bool anyFrameIsNotJson(const std::vector<SseEvent>& events)
{
    for (const auto& e : events) {
        if (e.data != "[DONE]" && parseJson(e.data).is_discarded()) {
            return true;
        }
    }
    return false;
}

}  // namespace

class TestMockFaults : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void serverErrors_data();
    void serverErrors();
    void connectionResetMidBody();
    void connectionResetMidStream();
    void stallOutlastsTheClient();
    void malformedJsonBody();
    void malformedJsonFrame();
    void sseErrorAfter200();
    void streamCutBeforeUsage();
    void missingRateLimitHeaders();
    void azureMinusOne();
    void streamFaultsLeaveNonStreamingAlone();
    void faultRatesAreSeeded();
    void latencyIsTimed();

    void statsOverHttpMatchWhatWasSent();
    void configPatchOverHttp();
    void badPatchIsRefusedNamingTheField_data();
    void badPatchIsRefusedNamingTheField();
    void listenCannotChangeWhileRunning();
};

void TestMockFaults::serverErrors_data()
{
    QTest::addColumn<int>("fault");
    QTest::addColumn<bool>("anthropic");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("type");
    QTest::newRow("OpenAI 500") << int(Fault::Http500) << false << 500 << "server_error";
    QTest::newRow("OpenAI 503") << int(Fault::Http503) << false << 503 << "server_error";
    QTest::newRow("OpenAI 529") << int(Fault::Http529) << false << 529 << "server_error";
    QTest::newRow("Anthropic 500") << int(Fault::Http500) << true << 500 << "api_error";
    QTest::newRow("Anthropic 503") << int(Fault::Http503) << true << 503 << "api_error";
    QTest::newRow("Anthropic 529") << int(Fault::Http529) << true << 529 << "overloaded_error";
}

void TestMockFaults::serverErrors()
{
    QFETCH(int, fault);
    QFETCH(bool, anthropic);
    QFETCH(int, status);
    QFETCH(QString, type);
    MockFixture f(withFault(static_cast<Fault>(fault)));
    const auto r = anthropic ? f.http.post("/v1/messages", anthropicBody(), anthropicHeaders())
                             : f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QVERIFY(r.completed());
    QCOMPARE(r.status, static_cast<long>(status));
    const json e = parseJson(r.body);
    const std::string got = e["error"]["type"].get<std::string>();
    QCOMPARE(QString::fromStdString(got), type);
    if (anthropic) {
        QCOMPARE(e["type"], json("error"));
        QVERIFY(r.header("anthropic-ratelimit-requests-remaining").has_value());
    } else {
        QVERIFY(r.header("x-ratelimit-remaining-requests").has_value());
    }
    const MockStats s = f.mock.stats();
    QCOMPARE(s.faultCount(static_cast<Fault>(fault)), std::int64_t{1});
    QCOMPARE(s.errorCount(status), std::int64_t{1});
    QCOMPARE(s.accepted, std::int64_t{1});  // charged against the limits, then failed
    QCOMPARE(s.outputTokens, std::int64_t{0});
}

void TestMockFaults::connectionResetMidBody()
{
    MockFixture f(withFault(Fault::ConnectionReset));
    const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QVERIFY(!r.completed());
    QVERIFY2(r.curlCode == CURLE_RECV_ERROR || r.curlCode == CURLE_PARTIAL_FILE, r.error.c_str());
    QCOMPARE(r.status, 200L);
    QVERIFY(!r.body.empty());
    QVERIFY(r.body.size() < std::stoul(r.header("content-length").value_or("0")));
    QCOMPARE(f.mock.stats().faultCount(Fault::ConnectionReset), std::int64_t{1});
    // The next request on a fresh connection is served normally.
    f.mock.applyPatch(R"({"faults":{"connectionReset":0}})");
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status, 200L);
}

void TestMockFaults::connectionResetMidStream()
{
    MockFixture f(withFault(Fault::ConnectionReset));
    const auto r = anthropicStream(f, 40);
    QVERIFY(!r.completed());
    const auto events = parseSse(r.body);
    QVERIFY(!events.empty());
    QCOMPARE(events.front().event, std::string("message_start"));
    QVERIFY(events.back().event != "message_stop");
}

void TestMockFaults::stallOutlastsTheClient()
{
    MockFixture f(withFault(Fault::Stall));
    f.http.setTimeout(300ms);
    const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QCOMPARE(r.curlCode, CURLE_OPERATION_TIMEDOUT);
    QCOMPARE(r.status, 0L);  // not even a status line
    QVERIFY(r.body.empty());
    QCOMPARE(f.mock.stats().faultCount(Fault::Stall), std::int64_t{1});
    QTRY_COMPARE(f.mock.stats().openConnections, std::size_t(0));  // closed when the client gave up
}

void TestMockFaults::malformedJsonBody()
{
    MockFixture f(withFault(Fault::MalformedJson));
    const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QVERIFY(r.completed());  // well framed, badly formed
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.header("content-type").value_or(""), std::string("application/json"));
    QVERIFY(parseJson(r.body).is_discarded());
    QVERIFY(r.body.rfind("{\"id\":", 0) == 0);
}

void TestMockFaults::malformedJsonFrame()
{
    MockFixture f(withFault(Fault::MalformedJson));
    const auto r = openAiStream(f, 40);
    QVERIFY(r.completed());
    const auto events = parseSse(r.body);
    QVERIFY(anyFrameIsNotJson(events));
    QCOMPARE(events.back().data, std::string("[DONE]"));
}

void TestMockFaults::sseErrorAfter200()
{
    MockFixture f(withFault(Fault::SseError));
    auto r = openAiStream(f, 40);
    QVERIFY(r.completed());
    QCOMPARE(r.status, 200L);
    auto events = parseSse(r.body);
    const json last = parseJson(events.back().data);
    QCOMPARE(last["error"]["type"], json("server_error"));
    for (const auto& e : events) {
        QVERIFY(e.data != "[DONE]");
        QVERIFY(!parseJson(e.data).contains("usage") || parseJson(e.data)["usage"].is_null());
    }

    r = anthropicStream(f, 40);
    QVERIFY(r.completed());
    QCOMPARE(r.status, 200L);
    events = parseSse(r.body);
    QCOMPARE(events.back().event, std::string("error"));
    QCOMPARE(parseJson(events.back().data)["error"]["type"], json("overloaded_error"));
    QCOMPARE(f.mock.stats().faultCount(Fault::SseError), std::int64_t{2});
}

void TestMockFaults::streamCutBeforeUsage()
{
    MockFixture f(withFault(Fault::StreamCut));
    auto r = openAiStream(f, 40);
    QVERIFY(!r.completed());  // the transfer ends without its last chunk
    QCOMPARE(r.status, 200L);
    auto events = parseSse(r.body);
    QVERIFY(!events.empty());
    for (const auto& e : events) {
        QVERIFY(e.data != "[DONE]");
        QVERIFY(parseJson(e.data)["usage"].is_null());
    }
    r = anthropicStream(f, 40);
    QVERIFY(!r.completed());
    events = parseSse(r.body);
    for (const auto& e : events) {
        QVERIFY(e.event != "message_delta" && e.event != "message_stop");
    }
    // The output counts the tokens that went out before the cut.
    std::int64_t deltas = 0;
    for (const auto& e : events) {
        deltas += e.event == "content_block_delta" ? 1 : 0;
    }
    QVERIFY(f.mock.stats().outputTokens >= deltas);
}

void TestMockFaults::missingRateLimitHeaders()
{
    MockFixture f(withFault(Fault::MissingRateLimitHeaders));
    auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QCOMPARE(r.status, 200L);
    QVERIFY(!r.hasHeaderStartingWith("x-ratelimit-"));
    QVERIFY(r.header("x-request-id").has_value());
    r = f.http.post("/v1/messages", anthropicBody(), anthropicHeaders());
    QCOMPARE(r.status, 200L);
    QVERIFY(!r.hasHeaderStartingWith("anthropic-ratelimit-"));
}

void TestMockFaults::azureMinusOne()
{
    MockFixture f(withFault(Fault::AzureMinusOne));
    const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.header("x-ratelimit-limit-requests").value_or(""), std::string("-1"));
    QCOMPARE(r.header("x-ratelimit-remaining-tokens").value_or(""), std::string("-1"));
    QCOMPARE(r.header("x-ratelimit-reset-tokens").value_or(""), std::string("0"));
}

void TestMockFaults::streamFaultsLeaveNonStreamingAlone()
{
    MockConfig c = quietConfig();
    c.faults[Fault::SseError] = 0.5;
    c.faults[Fault::StreamCut] = 0.5;
    MockFixture f(c);
    for (int i = 0; i < 5; ++i) {
        const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
        QVERIFY(r.completed());
        QVERIFY(!parseJson(r.body).is_discarded());
    }
    QCOMPARE(f.mock.stats().faultCount(Fault::SseError) + f.mock.stats().faultCount(Fault::StreamCut), std::int64_t{0});
}

void TestMockFaults::faultRatesAreSeeded()
{
    const auto run = [](std::uint64_t seed) {
        MockConfig c = withFault(Fault::Http503, 0.3);
        c.seed = seed;
        MockFixture f(c);
        std::string pattern;
        for (int i = 0; i < 60; ++i) {
            pattern += f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status == 503 ? 'x' : '.';
        }
        const auto failures = std::count(pattern.begin(), pattern.end(), 'x');
        // 60 draws at 0.3: 18 expected; the bounds are far in the tails.
        const bool plausible = failures >= 5 && failures <= 35;
        const bool counted = f.mock.stats().errorCount(503) == failures;
        return std::tuple{pattern, plausible, counted};
    };
    const auto [a, plausibleA, countedA] = run(7);
    const auto [b, plausibleB, countedB] = run(7);
    const auto [c, plausibleC, countedC] = run(8);
    QVERIFY2(plausibleA && plausibleC, a.c_str());
    QVERIFY(countedA && countedB && countedC);
    QCOMPARE(a, b);
    QVERIFY(a != c);
}

void TestMockFaults::latencyIsTimed()
{
    MockConfig c = quietConfig();
    c.latency.baseMs = 120;
    c.latency.firstTokenMs = 80;
    c.latency.perOutputTokenMs = 1;
    c.output.distribution = DistributionKind::Fixed;
    c.output.mean = 20;
    MockFixture f(c);
    // Lower bounds only: timers may fire late on a loaded machine, never early.
    auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QVERIFY2(r.seconds >= 0.139, std::to_string(r.seconds).c_str());  // 120 + 20 × 1 ms
    r = openAiStream(f, 50);
    QVERIFY(r.completed());
    QVERIFY2(r.seconds >= 0.098, std::to_string(r.seconds).c_str());  // 80 + 19 × 1 ms
}

void TestMockFaults::statsOverHttpMatchWhatWasSent()
{
    MockConfig c = quietConfig();
    c.models["gpt-4o-mini"].limits.requestsPerMinute = 3;
    MockFixture f(c);
    std::int64_t input = 0;
    std::int64_t output = 0;
    for (int i = 0; i < 3; ++i) {
        const json usage = parseJson(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).body)["usage"];
        input += usage["prompt_tokens"].get<std::int64_t>();
        output += usage["completion_tokens"].get<std::int64_t>();
    }
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status, 429L);
    QCOMPARE(f.http.post("/v1/chat/completions", "{", openAiHeaders()).status, 400L);
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders("sk-nobody")).status, 401L);
    const json usage = parseJson(f.http.post("/v1/messages", anthropicBody(), anthropicHeaders()).body)["usage"];
    input += usage["input_tokens"].get<std::int64_t>();
    output += usage["output_tokens"].get<std::int64_t>();

    const auto r = f.http.get("/mock/stats");
    QCOMPARE(r.status, 200L);
    const json s = parseJson(r.body);
    QCOMPARE(s["requests"], json(7));
    QCOMPARE(s["accepted"], json(4));
    QCOMPARE(s["rateLimited"]["requests"], json(1));
    QCOMPARE(s["rateLimited"]["tokens"], json(0));
    QCOMPARE(s["errors"]["400"], json(1));
    QCOMPARE(s["errors"]["401"], json(1));
    QCOMPARE(s["tokens"]["input"].get<std::int64_t>(), input);
    QCOMPARE(s["tokens"]["output"].get<std::int64_t>(), output);
    QCOMPARE(s["openConnections"], json(1));
    QCOMPARE(s["series"].size(), std::size_t(1));
    QCOMPARE(s["series"][0]["accepted"], json(4));
    QCOMPARE(s["series"][0]["rateLimited"], json(1));
    QCOMPARE(s["series"][0]["errors"], json(2));
    QCOMPARE(s["series"][0]["outputTokens"].get<std::int64_t>(), output);

    // Seconds on the mock's clock make the series.
    f.clock.advance(20s);  // one request back at 3 a minute
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status, 200L);
    const json later = parseJson(f.http.get("/mock/stats").body);
    QCOMPARE(later["series"].size(), std::size_t(2));
    QCOMPARE(later["series"][1]["t"], json(20));
    QCOMPARE(later["series"][1]["accepted"], json(1));
}

void TestMockFaults::configPatchOverHttp()
{
    MockFixture f;
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status, 200L);
    auto r = f.http.post("/mock/config", R"({"faults":{"http529":1},"models":{"gpt-4o-mini":{"limits":{"rpm":7}}}})",
                         {{"Content-Type", "application/json"}});
    QCOMPARE(r.status, 200L);
    const json cfg = parseJson(r.body);
    QCOMPARE(cfg["faults"]["http529"], json(1.0));
    QCOMPARE(cfg["models"]["gpt-4o-mini"]["limits"]["rpm"], json(7));
    QCOMPARE(cfg["models"]["gpt-4o-mini"]["limits"]["tpm"], json(200'000));  // merged, not replaced
    r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QCOMPARE(r.status, 529L);
    QCOMPARE(r.header("x-ratelimit-limit-requests").value_or(""), std::string("7"));
    QCOMPARE(f.mock.config().faults[Fault::Http529], 1.0);

    // null removes: a key taken away is refused from then on.
    r = f.http.post("/mock/config", R"({"faults":{"http529":0},"keys":{"sk-mock":null,"sk-new":{}}})", {});
    QCOMPARE(r.status, 200L);
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders()).status, 401L);
    QCOMPARE(f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders("sk-new")).status, 200L);
    QCOMPARE(parseJson(f.http.get("/mock/config").body)["keys"].size(), std::size_t(1));
}

void TestMockFaults::badPatchIsRefusedNamingTheField_data()
{
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("message");
    QTest::newRow("negative latency") << R"({"latency":{"baseMs":-5}})" << "/latency/baseMs: must be a number from 0";
    QTest::newRow("unknown field") << R"({"latency":{"baseMS":5}})" << "/latency/baseMS: unknown field";
    QTest::newRow("rate above 1") << R"({"faults":{"http500":1.5}})" << "/faults/http500: must be a number from 0 to 1";
    QTest::newRow("rates add up") << R"({"faults":{"http500":0.6,"stall":0.6}})" << "/faults: rates add up to 1.2";
    QTest::newRow("bad limit") << R"({"models":{"gpt-4o":{"limits":{"rpm":"many"}}}})"
                               << "/models/gpt-4o/limits/rpm: must be a whole number";
    QTest::newRow("bad granularity") << R"({"models":{"gpt-4o":{"limits":{"granularity":"2m"}}}})"
                                     << "/models/gpt-4o/limits/granularity: must be a duration";
    QTest::newRow("not JSON") << "{faults" << "invalid JSON";
    QTest::newRow("not an object") << "[1]" << "a patch must be a JSON object";
    QTest::newRow("moving the port") << R"({"listen":"127.0.0.1:1"})" << "/listen: cannot change while the mock is running";
}

void TestMockFaults::badPatchIsRefusedNamingTheField()
{
    QFETCH(QString, patch);
    QFETCH(QString, message);
    MockFixture f;
    const MockConfig before = f.mock.config();
    const auto r = f.http.post("/mock/config", patch.toStdString(), {{"Content-Type", "application/json"}});
    QCOMPARE(r.status, 400L);
    const json e = parseJson(r.body);
    QCOMPARE(e["error"]["type"], json("invalid_config"));
    const QString got = QString::fromStdString(e["error"]["message"].get<std::string>());
    QVERIFY2(got.startsWith(QStringLiteral("POST /mock/config:")), qPrintable(got));
    QVERIFY2(got.contains(message), qPrintable(got));
    QVERIFY(f.mock.config() == before);  // nothing changed
}

void TestMockFaults::listenCannotChangeWhileRunning()
{
    MockFixture f;
    MockConfig c = f.mock.config();
    c.ioThreads = 2;
    QVERIFY_THROWS_EXCEPTION(ConfigError, f.mock.setConfig(c));
    c = f.mock.config();
    c.latency.baseMs = 1;
    f.mock.setConfig(c);
    QCOMPARE(f.mock.config().latency.baseMs, 1.0);
}

QTEST_APPLESS_MAIN(TestMockFaults)
#include "tst_mock_faults.moc"
