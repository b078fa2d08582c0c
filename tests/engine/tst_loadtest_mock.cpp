// Load tests end to end: real HTTP over loopback against an in-process mock
// provider whose limits bind, through Sluice's dispatcher and through the
// naive client. What the report counts (attempts, 429s by limit,
// completions, tokens) must equal what the mock counted for the same run.
#include "loadtest/load_test.h"
#include "loadtest/mock_setup.h"
#include "mock/mock_provider.h"

#include <QtTest>

using namespace sluice;
using namespace sluice::loadtest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr Duration kRunBound = 60s;  // real time; a run here takes a few seconds

mock::MockConfig bindingMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 5;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 5;
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 8;
    // 600 RPM enforced per second: 10 at once, then one every 100 ms.
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 600;
    m.models["gpt-4o-mini"].limits.granularity = 1s;
    m.models["claude-haiku-4-5"].limits = mock::RateLimits{};
    m.models["claude-haiku-4-5"].limits.requestsPerMinute = 300;
    m.models["claude-haiku-4-5"].limits.inputTokensPerMinute = 60'000;
    m.models["claude-haiku-4-5"].limits.granularity = 1s;
    return m;
}

// Sluice is told nothing about the limits and may not learn them, so it
// meets the mock's 429s and has to cool down and retry.
Config blindConfig(const std::string& baseUrl)
{
    const json key = json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}});
    const json root = {
        {"providers",
         json::array({{{"name", "oa"}, {"flavor", "openai"}, {"base_url", baseUrl}, {"learn_limits", false},
                       {"models", {{"gpt-4o-mini", json::object()}}}, {"keys", key}},
                      {{"name", "an"}, {"flavor", "anthropic"}, {"base_url", baseUrl}, {"learn_limits", false},
                       {"models", {{"claude-haiku-4-5", json::object()}}}, {"keys", key}}})},
        {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.1}}}};
    return loadConfig(JsonSource("config.json", root.dump()),
                      [](const std::string&) { return std::optional<std::string>("sk-mock"); });
}

}  // namespace

class TestLoadtestMock : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reportCountsEqualTheMocks_data();
    void reportCountsEqualTheMocks();
    void mockForMirrorsTheConfig();
};

void TestLoadtestMock::reportCountsEqualTheMocks_data()
{
    QTest::addColumn<QByteArray>("workload");
    QTest::addColumn<int>("naive");  // 0: Sluice
    const QByteArray burst = R"({"duration_s": 1, "seed": 3, "arrival": {"process": "constant", "rate": 30},
        "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})";
    const QByteArray mixed = R"({"duration_s": 1, "seed": 4, "arrival": {"process": "poisson", "rate": 30},
        "mix": {"models": ["gpt-4o-mini", "claude-haiku-4-5"], "prompt_tokens": {"dist": "uniform", "min": 20, "max": 200},
                "max_tokens": 16, "stream_share": 0.5}})";
    const QByteArray pipeline = R"({"duration_s": 1, "seed": 5, "arrival": {"process": "constant", "rate": 3},
        "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 30, "max_tokens": 16},
        "pipeline": {"stages": [{"name": "outline"}, {"name": "section", "count": 5}, {"name": "summary"}]}})";
    QTest::newRow("sluice, one model") << burst << 0;
    QTest::newRow("sluice, two providers, streams") << mixed << 0;
    QTest::newRow("sluice, pipelines") << pipeline << 0;
    QTest::newRow("naive x4, one model") << burst << 4;
    QTest::newRow("naive x4, two providers, streams") << mixed << 4;
}

void TestLoadtestMock::reportCountsEqualTheMocks()
{
    QFETCH(QByteArray, workload);
    QFETCH(int, naive);
    SystemClock clock;
    mock::MockProvider provider(clock, bindingMock());
    provider.start();
    LoadTestOptions o;
    if (naive > 0) {
        o.naiveConcurrency = naive;
        o.naive.maxRetries = 20;  // so every request gets through in the end
        o.naive.baseDelay = 10ms;
    }
    LoadTest test(loadWorkload(JsonSource("workload.json", workload.toStdString()), ""), blindConfig(provider.baseUrl()),
                  clock, o);
    test.start();
    QVERIFY(test.waitFinished(kRunBound));
    const LoadTestSummary s = *test.summary();
    const mock::MockStats m = provider.stats();

    QVERIFY(s.requests > 20);
    QCOMPARE(s.completed + s.failed, s.requests);
    QCOMPARE(s.failed, std::uint64_t{0});
    QVERIFY2(s.rateLimitedTotal() > 0, "the limits were meant to bind");
    QCOMPARE(static_cast<std::int64_t>(s.attempts), m.requests);
    QCOMPARE(static_cast<std::int64_t>(s.completed), m.accepted);
    QVERIFY(m.errors.empty());
    QCOMPARE(static_cast<std::int64_t>(s.rateLimited[static_cast<std::size_t>(RateLimitKind::Requests)]),
             m.rateLimitedBy(mock::LimitKind::Requests));
    QCOMPARE(static_cast<std::int64_t>(s.rateLimited[static_cast<std::size_t>(RateLimitKind::InputTokens)]),
             m.rateLimitedBy(mock::LimitKind::InputTokens));
    std::int64_t mock429 = m.tooLarge + m.quotaExhausted;
    for (const auto n : m.rateLimited) {
        mock429 += n;
    }
    QCOMPARE(static_cast<std::int64_t>(s.rateLimitedTotal()), mock429);
    QCOMPARE(s.inputTokens, m.inputTokens);
    QCOMPARE(s.outputTokens, m.outputTokens);
    QCOMPARE(s.outputTokens, static_cast<std::int64_t>(8 * s.completed));
    QCOMPARE(s.latency.count, s.completed);
    if (s.pipelinesStarted > 0) {
        QCOMPARE(s.pipelinesCompleted, s.pipelinesStarted);
        QCOMPARE(s.pipelineLatency.count, s.pipelinesStarted);
    }
    if (workload.contains("stream_share")) {
        QVERIFY(s.timeToFirstToken.count > 0);
    }
}

void TestLoadtestMock::mockForMirrorsTheConfig()
{
    const json root = {
        {"providers",
         json::array({{{"name", "oa"},
                       {"flavor", "openai"},
                       {"base_url", "https://api.openai.com"},
                       {"models", {{"gpt-4o", {{"limits", {{"rpm", 120}, {"tpm", 40000}, {"granularity_s", 1}}}}}}},
                       {"keys", json::array({{{"name", "a"}, {"env", "KEY_A"}},
                                             {{"name", "b"}, {"env", "KEY_B"},
                                              {"models", {{"gpt-4o", {{"limits", {{"rpm", 60}}}}}}}}})}}})}};
    const Config c = loadConfig(JsonSource("config.json", root.dump()), mockKeyLookup());
    Workload w = loadWorkload(JsonSource("w.json", R"({"duration_s": 1, "arrival": {"process": "constant", "rate": 1},
        "mix": {"models": ["gpt-4o", "local-model"], "max_tokens": 20000}})"),
                              "");
    w.mix.models[1].flavor = ApiFlavor::OpenAI;
    const mock::MockConfig m = mockFor(c, w, mock::MockConfig::defaults(), true);
    QVERIFY(m.keys.count("sk-mock-KEY_A") == 1 && m.keys.count("sk-mock-KEY_B") == 1);
    QCOMPARE(m.models.at("gpt-4o").limits.requestsPerMinute, std::int64_t{120});
    QCOMPARE(m.models.at("gpt-4o").limits.tokensPerMinute, std::int64_t{40000});
    QVERIFY(m.models.at("gpt-4o").limits.granularity <= Duration(1100ms));
    QCOMPARE(m.keys.at("sk-mock-KEY_B").limits.at("gpt-4o").requestsPerMinute, std::optional<std::int64_t>(60));
    QCOMPARE(m.models.at("local-model").limits, mock::RateLimits{});
    QVERIFY(m.models.at("gpt-4o").maxOutputTokens >= 20000);
    // A mock the user wrote keeps its own limits.
    const mock::MockConfig own = mockFor(c, w, mock::MockConfig::defaults(), false);
    QCOMPARE(own.models.at("gpt-4o").limits, mock::MockConfig::defaults().models.at("gpt-4o").limits);

    QVERIFY(isLoopbackUrl("http://127.0.0.1:8089"));
    QVERIFY(isLoopbackUrl("http://localhost/v1"));
    QVERIFY(isLoopbackUrl("http://[::1]:9000"));
    QVERIFY(!isLoopbackUrl("https://api.openai.com"));
    QVERIFY(!isLoopbackUrl("https://127.0.0.1.example.com"));
    QVERIFY(!isLoopbackUrl("http://10.0.0.5:8000"));
}

QTEST_APPLESS_MAIN(TestLoadtestMock)
#include "tst_loadtest_mock.moc"
