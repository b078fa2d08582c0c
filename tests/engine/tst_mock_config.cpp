// The mock's configuration as text: the shipped example, round trips,
// merge patches, and errors that name the source, the field and the
// problem.
#include "mock/mock_config.h"

#include <QtTest>

#include <fstream>
#include <sstream>

using namespace sluice;
using namespace sluice::mock;
using namespace std::chrono_literals;

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

class TestMockConfig : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void shippedExampleParses();
    void defaultsRoundTrip();
    void emptyDocumentIsTheDefaults();
    void modelsAndKeysReplaceTheStockOnes();
    void patchMergesFieldByField();
    void errorsNameSourceFieldAndProblem_data();
    void errorsNameSourceFieldAndProblem();
    void listenAddresses_data();
    void listenAddresses();
    void overrideTakesTheModelsLimitsForUnsetFields();
};

void TestMockConfig::shippedExampleParses()
{
    const std::string path = SLUICE_SOURCE_DIR "/resources/mock-example.json";
    const MockConfig c = parseMockConfig(readFile(path), path);
    QCOMPARE(c.host, std::string("127.0.0.1"));
    QCOMPARE(c.port, std::uint16_t{8089});
    QCOMPARE(c.seed, std::uint64_t{42});
    QCOMPARE(c.organization, std::string("org-rehearsal"));
    QCOMPARE(c.models.size(), std::size_t(3));
    const RateLimits& gpt = c.models.at("gpt-4o").limits;
    QCOMPARE(gpt.requestsPerMinute, std::int64_t{500});
    QCOMPARE(gpt.tokensPerMinute, std::int64_t{30'000});
    QCOMPARE(gpt.granularity, Duration(1s));
    const MockModel& claude = c.models.at("claude-sonnet-4-5");
    QCOMPARE(claude.flavour, Flavour::Anthropic);
    QCOMPARE(claude.limits.outputCharging, OutputCharging::ActualOnly);
    QCOMPARE(claude.limits.outputTokensPerMinute, std::int64_t{8'000});
    QCOMPARE(c.keys.size(), std::size_t(6));
    QVERIFY(c.keys.at("sk-broke").quotaExhausted);
    QVERIFY(c.keys.at("sk-revoked").disabled);
    QCOMPARE(c.keys.at("sk-trial").quotaTokens, std::int64_t{50'000});
    QCOMPARE(c.limitsFor("sk-team-b", "gpt-4o")->requestsPerMinute, std::int64_t{60});
    QCOMPARE(c.limitsFor("sk-team-b", "gpt-4o")->tokensPerMinute, std::int64_t{30'000});
    QCOMPARE(c.limitsFor("sk-team-a", "gpt-4o")->requestsPerMinute, std::int64_t{500});
    QVERIFY(!c.limitsFor("sk-nobody", "gpt-4o"));
    QCOMPARE(c.latency.jitter, DistributionKind::LogNormal);
    QCOMPARE(c.output.max, std::int64_t{800});
    QCOMPARE(c.faults[Fault::Http529], 0.005);
}

void TestMockConfig::defaultsRoundTrip()
{
    MockConfig c = MockConfig::defaults();
    c.keys["sk-x"].limits["gpt-4o"].granularity = 250ms;
    c.keys["sk-x"].models = {"gpt-4o"};
    c.models["gpt-4o"].limits.outputCharging = OutputCharging::ActualOnly;
    c.models["gpt-4o"].limits.tokenCharging = TokenCharging::Refunded;
    c.faults[Fault::StreamCut] = 0.25;
    c.latency.jitter = DistributionKind::Uniform;
    c.latency.spread = 0.5;
    c.port = 9000;
    QVERIFY(parseMockConfig(toJson(c), "round trip") == c);
    QVERIFY(parseMockConfig(toJson(c, 2), "round trip") == c);
}

void TestMockConfig::emptyDocumentIsTheDefaults()
{
    QVERIFY(parseMockConfig("{}", "empty") == MockConfig::defaults());
}

void TestMockConfig::modelsAndKeysReplaceTheStockOnes()
{
    const MockConfig c = parseMockConfig(R"({"models":{"local-llama":{"flavor":"openai","limits":{"rpm":5}}}})", "x");
    QCOMPARE(c.models.size(), std::size_t(1));
    QVERIFY(c.keys.count("sk-mock") == 1);  // the stock key stays when keys are not given
    const MockConfig k = parseMockConfig(R"({"keys":{"only":{}}})", "x");
    QCOMPARE(k.keys.size(), std::size_t(1));
    QCOMPARE(k.models.size(), MockConfig::defaults().models.size());
}

void TestMockConfig::patchMergesFieldByField()
{
    const MockConfig base = MockConfig::defaults();
    const MockConfig p = patchMockConfig(base, R"({"models":{"gpt-4o":{"limits":{"rpm":9}}},"latency":{"baseMs":5}})", "p");
    QCOMPARE(p.models.at("gpt-4o").limits.requestsPerMinute, std::int64_t{9});
    QCOMPARE(p.models.at("gpt-4o").limits.tokensPerMinute, base.models.at("gpt-4o").limits.tokensPerMinute);
    QCOMPARE(p.models.size(), base.models.size());
    QCOMPARE(p.latency.baseMs, 5.0);
    QCOMPARE(p.latency.firstTokenMs, base.latency.firstTokenMs);
    const MockConfig removed = patchMockConfig(base, R"({"models":{"gpt-4o":null}})", "p");
    QCOMPARE(removed.models.count("gpt-4o"), std::size_t(0));
    QVERIFY(patchMockConfig(base, "{}", "p") == base);
}

void TestMockConfig::errorsNameSourceFieldAndProblem_data()
{
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("message");
    QTest::newRow("not JSON") << "{\"seed\": " << "mock.json:1:10: invalid JSON: ";
    QTest::newRow("top level not an object") << "[]" << "mock.json:1: (top level): must be a JSON object";
    QTest::newRow("unknown field") << R"({"sed":1})" << "mock.json:1: /sed: unknown field";
    QTest::newRow("bad flavour") << R"({"models":{"m":{"flavor":"gemini"}}})"
                                 << R"(mock.json:1: /models/m/flavor: must be one of "openai", "anthropic" (got "gemini"))";
    QTest::newRow("flavour missing") << R"({"models":{"m":{}}})" << "mock.json:1: /models/m/flavor: is required";
    QTest::newRow("negative limit") << R"({"models":{"m":{"flavor":"openai","limits":{"rpm":-5}}}})"
                                    << "mock.json:1: /models/m/limits/rpm: must be a whole number from 0 to "
                                       "1000000000000 (got -5)";
    QTest::newRow("slash in a model name") << R"({"models":{"org/m":{"flavor":"x"}}})"
                                           << "mock.json:1: /models/org~1m/flavor:";
    QTest::newRow("bad granularity") << R"({"models":{"m":{"flavor":"openai","limits":{"granularity":"soon"}}}})"
                                     << "/models/m/limits/granularity: must be a duration from \"1ms\" to \"1m\"";
    QTest::newRow("bad charging") << R"({"models":{"m":{"flavor":"openai","limits":{"outputCharging":"later"}}}})"
                                  << R"(/models/m/limits/outputCharging: must be one of "reserve", "actual")";
    QTest::newRow("key names an unknown model") << R"({"keys":{"k":{"models":["gpt-4o","gpt-5"]}}})"
                                                << "mock.json:1: /keys/k/models/1: must name a configured model";
    QTest::newRow("key limits for an unknown model") << R"({"keys":{"k":{"limits":{"gpt-5":{"rpm":1}}}}})"
                                                     << "mock.json:1: /keys/k/limits/gpt-5: not a configured model";
    QTest::newRow("key flag not a bool") << R"({"keys":{"k":{"disabled":"yes"}}})"
                                         << "mock.json:1: /keys/k/disabled: must be true or false";
    QTest::newRow("negative latency") << R"({"latency":{"baseMs":-1}})" << "mock.json:1: /latency/baseMs: must be a number";
    QTest::newRow("bad distribution") << R"({"output":{"distribution":"poisson"}})"
                                      << "mock.json:1: /output/distribution: must be one of";
    QTest::newRow("max below min") << R"({"output":{"min":50,"max":10}})" << "mock.json:1: /output/max: must be at least";
    QTest::newRow("unknown fault") << R"({"faults":{"http502":0.1}})" << "mock.json:1: /faults/http502: unknown field";
    QTest::newRow("rates above 1") << R"({"faults":{"stall":0.5,"http500":0.75}})" << "mock.json:1: /faults: rates add up to";
    QTest::newRow("bad listen") << R"({"listen":"localhost"})" << "mock.json:1: /listen: must be HOST:PORT";
    QTest::newRow("bad port") << R"({"listen":"127.0.0.1:70000"})" << "mock.json:1: /listen: the port must be a number";
    QTest::newRow("threads") << R"({"ioThreads":0})" << "mock.json:1: /ioThreads: must be a whole number from 1 to 64";
    QTest::newRow("seed") << R"({"seed":-1})" << "mock.json:1: /seed: must be a whole number >= 0";
    QTest::newRow("tokenizer") << R"({"models":{"m":{"flavor":"openai","tokenizer":"p50k_base"}}})"
                               << "mock.json:1: /models/m/tokenizer: must be one of";
    QTest::newRow("the line of the field") << "{\n  \"models\": {\n    \"m\": {\n      \"flavor\": \"openai\",\n"
                                              "      \"limits\": { \"rpm\": -5 }\n    }\n  }\n}\n"
                                           << "mock.json:5: /models/m/limits/rpm: must be a whole number";
}

void TestMockConfig::errorsNameSourceFieldAndProblem()
{
    QFETCH(QString, json);
    QFETCH(QString, message);
    try {
        parseMockConfig(json.toStdString(), "mock.json");
        QFAIL("accepted a bad configuration");
    } catch (const ConfigError& e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
    }
}

void TestMockConfig::listenAddresses_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::newRow("loopback") << "127.0.0.1:8080" << true << "127.0.0.1" << 8080;
    QTest::newRow("any port") << "127.0.0.1:0" << true << "127.0.0.1" << 0;
    QTest::newRow("all interfaces") << "0.0.0.0:80" << true << "0.0.0.0" << 80;
    QTest::newRow("IPv6") << "[::1]:9000" << true << "::1" << 9000;
    QTest::newRow("no port") << "127.0.0.1" << false << "" << 0;
    QTest::newRow("empty port") << "127.0.0.1:" << false << "" << 0;
    QTest::newRow("no host") << ":80" << false << "" << 0;
    QTest::newRow("port too big") << "127.0.0.1:65536" << false << "" << 0;
    QTest::newRow("port not a number") << "127.0.0.1:http" << false << "" << 0;
}

void TestMockConfig::listenAddresses()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(QString, host);
    QFETCH(int, port);
    std::string h;
    std::uint16_t p = 1;
    try {
        parseListenAddress(text.toStdString(), "--listen", h, p);
        QVERIFY(valid);
        QCOMPARE(QString::fromStdString(h), host);
        QCOMPARE(int(p), port);
    } catch (const ConfigError& e) {
        QVERIFY2(!valid, e.what());
        QVERIFY(QString::fromUtf8(e.what()).startsWith(QStringLiteral("--listen: ")));
    }
}

void TestMockConfig::overrideTakesTheModelsLimitsForUnsetFields()
{
    RateLimits model;
    model.requestsPerMinute = 100;
    model.tokensPerMinute = 1000;
    model.granularity = 1s;
    LimitOverride o;
    o.tokensPerMinute = 50;
    const RateLimits r = o.applyTo(model);
    QCOMPARE(r.requestsPerMinute, std::int64_t{100});
    QCOMPARE(r.tokensPerMinute, std::int64_t{50});
    QCOMPARE(r.granularity, Duration(1s));
}

QTEST_APPLESS_MAIN(TestMockConfig)
#include "tst_mock_config.moc"
