// The gateway's parts on their own: the "gateway" configuration section,
// token matching, the tenant gate's hold (on a ManualClock, never sleeping),
// hold deadlines, the error shapes of each dialect, and which of a client's
// headers go on to the provider.
#include "core/timefmt.h"
#include "gateway/api_shapes.h"
#include "gateway/gateway_config.h"
#include "gateway/passed_headers.h"
#include "gateway/tenant_gate.h"
#include "gateway/timers.h"
#include "gateway/token_auth.h"
#include "gateway/usage_chunk_filter.h"

#include <QtTest>

#include <nlohmann/json.hpp>

using namespace sluice;
using namespace sluice::gateway;
using nlohmann::json;

namespace {

GatewayConfig load(const std::string& text, const std::map<std::string, std::string>& vars = {})
{
    const EnvLookup env = [vars](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional(it->second);
    };
    return loadGatewayConfig(JsonSource("cfg.json", text), env);
}

std::string loadError(const std::string& text)
{
    try {
        load(text);
    } catch (const InputError& e) {
        return e.what();
    }
    return {};
}

GatewayToken token(std::string name, std::vector<LimitSpec> limits, int priority = 0)
{
    GatewayToken t;
    t.name = std::move(name);
    t.tenant = t.name;
    t.digest = sha256("secret-" + t.name);
    t.limits = std::move(limits);
    t.priority = priority;
    return t;
}

}  // namespace

class TestGatewayParts : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void configReadsTokens();
    void configErrors_data();
    void configErrors();
    void exposure();
    void tokenMatch();
    void gateAdmitsHoldsAndRefuses();
    void gateHoldsForConcurrencyInOrder();
    void gateRateLimitHeaders();
    void gateRateLimitHeadersSpeakPerMinuteWhatABucketEnforces();
    void timersRunWhenDue();
    void errorShapes();
    void passedHeaders();
    void usageChunkFilter();
};

void TestGatewayParts::configReadsTokens()
{
    const std::string hash = toHex(sha256("from-hash"));
    const GatewayConfig c = load(R"({"gateway":{"listen":"127.0.0.1:9000","hold_s":5,"tokens":[
        {"name":"a","token_env":"TOK_A","tenant":"team-a","priority":3,"limits":{"rpm":60,"spend_per_minute_usd":0.5},
         "models":["gpt-4o-mini"]},
        {"name":"b","token_sha256":")" + hash + R"("}]}})",
                                 {{"TOK_A", "from-env"}});
    QCOMPARE(c.port, std::uint16_t(9000));
    QCOMPARE(c.hold, Duration(std::chrono::seconds(5)));
    QCOMPARE(c.tokens.size(), std::size_t(2));
    QVERIFY(c.tokens[0].digest == sha256("from-env"));
    QCOMPARE(c.tokens[0].tenant, std::string("team-a"));
    QCOMPARE(c.tokens[0].priority, 3);
    QCOMPARE(c.tokens[0].limits.size(), std::size_t(2));
    QVERIFY(c.tokens[0].allows("gpt-4o-mini") && !c.tokens[0].allows("gpt-4o"));
    QVERIFY(c.tokens[1].digest == sha256("from-hash"));
    QCOMPARE(c.tokens[1].tenant, std::string("b"));
    QVERIFY(c.tokens[1].allows("anything"));
    // No section: loopback, 30 s hold, no tokens.
    const GatewayConfig d = load(R"({"providers":[]})");
    QCOMPARE(d.host, std::string("127.0.0.1"));
    QCOMPARE(d.hold, Duration(std::chrono::seconds(30)));
    QVERIFY(d.tokens.empty());
}

void TestGatewayParts::configErrors_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("expected");
    const std::string hash = toHex(sha256("x"));
    QTest::newRow("clear token") << QByteArray(R"({"gateway":{"tokens":[{"name":"a","token":"x"}]}})")
                                 << QByteArray("/gateway/tokens/0/token: a token is never written in the file");
    QTest::newRow("unset env") << QByteArray(R"({"gateway":{"tokens":[{"name":"a","token_env":"NOPE"}]}})")
                               << QByteArray("/gateway/tokens/0/token_env: environment variable NOPE is not set");
    QTest::newRow("bad hash") << QByteArray(R"({"gateway":{"tokens":[{"name":"a","token_sha256":"abc"}]}})")
                              << QByteArray("/gateway/tokens/0/token_sha256: must be 64 hexadecimal digits");
    QTest::newRow("both") << QByteArray(R"({"gateway":{"tokens":[{"name":"a","token_env":"X","token_sha256":"abc"}]}})")
                          << QByteArray("needs exactly one of");
    QTest::newRow("bad listen") << QByteArray(R"({"gateway":{"listen":"nowhere"}})") << QByteArray("/gateway/listen");
    QTest::newRow("bad limit") << QByteArray::fromStdString(R"({"gateway":{"tokens":[{"name":"a","token_sha256":")" + hash +
                                                            R"(","limits":{"rpx":1}}]}})")
                               << QByteArray("/gateway/tokens/0/limits");
    QTest::newRow("unknown field") << QByteArray(R"({"gateway":{"hold":3}})") << QByteArray("/gateway");
}

void TestGatewayParts::configErrors()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, expected);
    const std::string error = loadError(text.toStdString());
    QVERIFY2(error.find(expected.toStdString()) != std::string::npos, error.c_str());
    QVERIFY2(error.find("cfg.json:") != std::string::npos, error.c_str());
}

void TestGatewayParts::exposure()
{
    GatewayConfig c;
    QVERIFY(checkExposure(c).empty());
    c.host = "0.0.0.0";
    QVERIFY(!checkExposure(c).empty());
    c.tokens.push_back(token("a", {}));
    QVERIFY(checkExposure(c).empty());
    std::string host;
    std::uint16_t port = 0;
    parseListen("[::1]:8080", "--listen", host, port);
    QCOMPARE(host, std::string("::1"));
    QVERIFY(isLoopback(host));
    QVERIFY_THROWS_EXCEPTION(InputError, parseListen("127.0.0.1:99999", "--listen", host, port));
}

void TestGatewayParts::tokenMatch()
{
    TokenAuth auth({token("a", {}), token("b", {})});
    QVERIFY(!auth.open());
    QCOMPARE(auth.match("secret-b")->name, std::string("b"));
    QCOMPARE(auth.match("secret-a")->name, std::string("a"));
    QVERIFY(auth.match("secret-c") == nullptr);
    QVERIFY(auth.match("") == nullptr);
    net::InboundRequest r;
    r.headers = {{"Authorization", "Bearer  secret-a"}};
    QCOMPARE(std::string(*TokenAuth::presented(r)), std::string("secret-a"));
    r.headers = {{"x-api-key", "secret-b"}, {"anthropic-version", "2026-10-21"}};
    QCOMPARE(std::string(*TokenAuth::presented(r)), std::string("secret-b"));
    r.headers = {{"authorization", "Basic abc"}};
    QVERIFY(!TokenAuth::presented(r));
}

void TestGatewayParts::gateAdmitsHoldsAndRefuses()
{
    ManualClock clock;
    // 60 a minute in buckets of one second: one request a second.
    const std::vector<GatewayToken> tokens{token("a", {perMinute(Measure::Requests, 60, 1)})};
    TenantGate gate(clock, tokens);
    std::vector<GateResult> results;
    const auto done = [&](GateResult r) { results.push_back(std::move(r)); };
    const TimePoint t0 = clock.now();
    gate.request(tokens[0], Cost{}, t0 + std::chrono::seconds(5), done);
    QCOMPARE(results.size(), std::size_t(1));
    QVERIFY(results[0].admitted);
    // The second waits a second, within its 5 s hold: held, then admitted.
    gate.request(tokens[0], Cost{}, t0 + std::chrono::seconds(5), done);
    QCOMPARE(results.size(), std::size_t(1));
    QCOMPARE(gate.held(), std::size_t(1));
    const auto next = gate.poll(clock.now());
    QVERIFY(next.has_value());
    QCOMPARE(*next, t0 + std::chrono::seconds(1));
    clock.advanceTo(*next);
    gate.poll(clock.now());
    QCOMPARE(results.size(), std::size_t(2));
    QVERIFY(results[1].admitted);
    // One whose wait would end after its hold is refused at once, told when.
    gate.request(tokens[0], Cost{}, clock.now() + std::chrono::milliseconds(500), done);
    QCOMPARE(results.size(), std::size_t(3));
    QVERIFY(!results[2].admitted);
    QVERIFY(results[2].retryAfter.has_value());
    QCOMPARE(*results[2].retryAfter, Duration(std::chrono::seconds(1)));
    // Larger than the whole budget: refused, no retry-after.
    // (Above the burst but within the limit would wait for a full bucket.)
    gate.request(tokens[0], Cost{61, 0, 0, 0, 1}, clock.now() + std::chrono::seconds(5), done);
    QCOMPARE(results.size(), std::size_t(4));
    QVERIFY(!results[3].admitted);
    QVERIFY(!results[3].retryAfter.has_value());
}

void TestGatewayParts::gateHoldsForConcurrencyInOrder()
{
    ManualClock clock;
    const std::vector<GatewayToken> tokens{token("low", {concurrency(1)}, 0), token("high", {concurrency(1)}, 5)};
    TenantGate gate(clock, tokens);
    std::vector<std::string> order;
    std::vector<Reservation> held;
    const auto done = [&](const char* what) {
        return [&, what](GateResult r) {
            QVERIFY(r.admitted);
            order.emplace_back(what);
            held.push_back(std::move(r.reservation));
        };
    };
    const TimePoint deadline = clock.now() + std::chrono::seconds(30);
    gate.request(tokens[0], Cost{}, deadline, done("low-1"));
    gate.request(tokens[0], Cost{}, deadline, done("low-2"));
    gate.request(tokens[0], Cost{}, deadline, done("low-3"));
    QCOMPARE(order.size(), std::size_t(1));
    gate.poll(clock.now());
    QCOMPARE(order.size(), std::size_t(1));  // still one in flight
    gate.settle(std::move(held[0]), Cost{});
    gate.poll(clock.now());
    QCOMPARE(order, (std::vector<std::string>{"low-1", "low-2"}));
    // A withdrawn request (client gone) is never decided.
    const std::uint64_t id = gate.request(tokens[0], Cost{}, deadline, done("gone"));
    gate.withdraw(id);
    gate.settle(std::move(held[1]), Cost{});
    gate.poll(clock.now());
    QCOMPARE(order, (std::vector<std::string>{"low-1", "low-2", "low-3"}));
    // Past the deadline, a held request is refused.
    std::optional<GateResult> late;
    gate.request(tokens[0], Cost{}, clock.now() + std::chrono::seconds(2), [&](GateResult r) { late = std::move(r); });
    clock.advance(std::chrono::seconds(2));
    gate.poll(clock.now());
    QVERIFY(late.has_value() && !late->admitted && late->retryAfter.has_value());
}

void TestGatewayParts::gateRateLimitHeaders()
{
    ManualClock clock;
    const std::vector<GatewayToken> tokens{token("a", {perMinute(Measure::Requests, 60), perMinute(Measure::TotalTokens, 1000)}),
                                           token("none", {})};
    TenantGate gate(clock, tokens);
    std::optional<GateResult> r;
    gate.request(tokens[0], Cost{1, 100, 50, 0, 1}, clock.now() + std::chrono::seconds(1), [&](GateResult g) { r = std::move(g); });
    QVERIFY(r && r->admitted);
    const net::HttpHeaders h = gate.rateLimitHeaders(tokens[0], ApiFlavor::OpenAI);
    QCOMPARE(std::string(*net::findHeader(h, "x-ratelimit-limit-requests")), std::string("60"));
    QCOMPARE(std::string(*net::findHeader(h, "x-ratelimit-remaining-requests")), std::string("59"));
    QCOMPARE(std::string(*net::findHeader(h, "x-ratelimit-remaining-tokens")), std::string("850"));
    QCOMPARE(std::string(*net::findHeader(h, "x-ratelimit-reset-requests")), std::string("1.000s"));
    QVERIFY(!net::findHeader(h, "anthropic-ratelimit-requests-limit"));
    // An Anthropic client reads Anthropic's names, and a reset that is a time.
    const net::HttpHeaders a = gate.rateLimitHeaders(tokens[0], ApiFlavor::Anthropic);
    QCOMPARE(std::string(*net::findHeader(a, "anthropic-ratelimit-requests-limit")), std::string("60"));
    QCOMPARE(std::string(*net::findHeader(a, "anthropic-ratelimit-requests-remaining")), std::string("59"));
    QCOMPARE(std::string(*net::findHeader(a, "anthropic-ratelimit-tokens-remaining")), std::string("850"));
    QCOMPARE(std::string(*net::findHeader(a, "anthropic-ratelimit-requests-reset")),
             formatRfc3339(clock.toWall(clock.now() + std::chrono::seconds(1))));
    QVERIFY(!net::findHeader(a, "x-ratelimit-limit-requests"));
    QVERIFY(gate.rateLimitHeaders(tokens[1], ApiFlavor::OpenAI).empty());
    QVERIFY(gate.rateLimitHeaders(tokens[1], ApiFlavor::Anthropic).empty());
}

// A per-minute limit enforced in one-second buckets holds a second's worth
// at a time; the headers still speak per minute, as the providers' do: 3
// requests of 1,000 a minute leave 997, not the bucket's 13 of 17.
void TestGatewayParts::gateRateLimitHeadersSpeakPerMinuteWhatABucketEnforces()
{
    ManualClock clock;
    const std::vector<GatewayToken> tokens{token("a", {perMinute(Measure::Requests, 1000, 17)})};
    TenantGate gate(clock, tokens);
    // Kept: a reservation dropped is given back.
    std::vector<std::optional<GateResult>> held(3);
    for (auto& r : held) {
        gate.request(tokens[0], Cost{1, 0, 0, 0, 1}, clock.now() + std::chrono::seconds(1),
                     [&](GateResult g) { r = std::move(g); });
        QVERIFY(r && r->admitted);
    }
    const net::HttpHeaders h = gate.rateLimitHeaders(tokens[0], ApiFlavor::OpenAI);
    QCOMPARE(std::string(*net::findHeader(h, "x-ratelimit-limit-requests")), std::string("1000"));
    QCOMPARE(QString::fromStdString(std::string(*net::findHeader(h, "x-ratelimit-remaining-requests"))), QStringLiteral("997"));
}

void TestGatewayParts::timersRunWhenDue()
{
    ManualClock clock;
    Timers timers(clock);
    std::vector<int> ran;
    timers.at(clock.now() + std::chrono::seconds(2), [&] { ran.push_back(2); });
    const auto one = timers.at(clock.now() + std::chrono::seconds(1), [&] { ran.push_back(1); });
    timers.at(clock.now() + std::chrono::seconds(3), [&] { ran.push_back(3); });
    timers.cancel(one);
    QCOMPARE(timers.poll(clock.now()), std::optional(clock.now() + std::chrono::seconds(2)));
    clock.advance(std::chrono::seconds(3));
    QVERIFY(!timers.poll(clock.now()).has_value());
    QCOMPARE(ran, (std::vector<int>{2, 3}));
}

void TestGatewayParts::errorShapes()
{
    const json o = json::parse(errorBody(ApiFlavor::OpenAI, ErrorKind::RateLimited, "slow down"));
    QCOMPARE(o["error"]["message"], json("slow down"));
    QCOMPARE(o["error"]["code"], json("rate_limit_exceeded"));
    const json a = json::parse(errorBody(ApiFlavor::Anthropic, ErrorKind::Authentication, "who?"));
    QCOMPARE(a["type"], json("error"));
    QCOMPARE(a["error"]["type"], json("authentication_error"));
    QCOMPARE(statusOf(ApiFlavor::Anthropic, ErrorKind::Overloaded), 529);
    QCOMPARE(statusOf(ApiFlavor::OpenAI, ErrorKind::Overloaded), 503);
    const std::string ev = streamErrorEvent(ApiFlavor::Anthropic, ErrorKind::BadGateway, "cut");
    QVERIFY(ev.rfind("event: error\ndata: {", 0) == 0);
    QVERIFY(streamErrorEvent(ApiFlavor::OpenAI, ErrorKind::BadGateway, "cut").rfind("data: {\"error\"", 0) == 0);
}

void TestGatewayParts::passedHeaders()
{
    const net::HttpHeaders sent{
        {"Authorization", "Bearer gw-secret"}, {"x-api-key", "gw-secret"}, {"Anthropic-Version", "2026-10-21"},
        {"anthropic-beta", " structured-outputs-2025-12-15 "}, {"OpenAI-Organization", "org-x"},
        {"x-stainless-retry-count", "0"}, {"ANTHROPIC-BETA", "context-1m-2025-08-07"}, {"openai-beta", "assistants=v2"},
        {"anthropic-beta", ""}, {"anthropic-beta", "evil\r\nx-api-key: sk-stolen"}, {"content-type", "application/json"}};
    // Anthropic: betas joined in the order sent, then the version; a
    // value with a control character and an empty one are left out.
    const std::vector<std::string> anthropic{"anthropic-beta: structured-outputs-2025-12-15,context-1m-2025-08-07",
                                             "anthropic-version: 2026-10-21"};
    QCOMPARE(passedHeaderLines(sent, ApiFlavor::Anthropic), anthropic);
    // OpenAI: its beta header alone; never the client's credentials or
    // organisation, whatever the dialect.
    QCOMPARE(passedHeaderLines(sent, ApiFlavor::OpenAI), std::vector<std::string>{"openai-beta: assistants=v2"});
    QVERIFY(passedHeaderLines({{"authorization", "Bearer x"}, {"x-stainless-os", "Linux"}}, ApiFlavor::Anthropic).empty());
}

// The usage chunk Sluice asked for goes; every other byte of the stream
// comes through, however the provider's writes split it.
void TestGatewayParts::usageChunkFilter()
{
    const std::string first =
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n";
    const std::string usage =
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":3}}\n\n";
    const std::string done = "data: [DONE]\n\n";
    const std::string stream = ": comment\n\n" + first + usage + done;
    const std::string expected = ": comment\n\n" + first + done;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        for (std::size_t cut2 = cut; cut2 <= stream.size(); cut2 += 7) {
            UsageChunkFilter f;
            std::string out = f.feed(std::string_view(stream).substr(0, cut));
            out += f.feed(std::string_view(stream).substr(cut, cut2 - cut));
            out += f.feed(std::string_view(stream).substr(cut2));
            out += f.finish();
            QVERIFY2(out == expected, qPrintable(QStringLiteral("cut at %1 and %2: %3").arg(cut).arg(cut2).arg(QString::fromStdString(out))));
            QVERIFY(f.dropped());
        }
    }
    // Whole events pass at once, held back only while a line is unfinished.
    UsageChunkFilter f;
    QCOMPARE(f.feed(first), first);
    QCOMPARE(f.feed("data: {\"choices\":[{}]"), std::string());
    QCOMPARE(f.feed("}\r\n\r"), std::string());
    QCOMPARE(f.feed("\n"), std::string("data: {\"choices\":[{}]}\r\n\r\n"));
    // CRLF lines, and an event split over two data lines, are read whole.
    QCOMPARE(f.feed("data: {\"choices\":[],\r\ndata: \"usage\":{\"total_tokens\":1}}\r\n\r\n"), std::string());
    QVERIFY(f.dropped());
    // Only once, and only a chunk with no choices and a usage object.
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: {"choices":[{"delta":{}}],"usage":{"total_tokens":1}})"));
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: {"choices":[],"usage":null})"));
    QVERIFY(!UsageChunkFilter::isUsageOnly("data: {\"choices\":[],\"usage\":"));
    QVERIFY(UsageChunkFilter::isUsageOnly(R"(data:{"choices":[],"usage":{}})"));
    QVERIFY(UsageChunkFilter::isUsageOnly(R"(data: {"choices" : [ ], "usage": {"total_tokens": 1}})"));
    // Only the event's own members count, as in a parse of it.
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: {"x":{"choices":[],"usage":{}},"choices":[{}]})"));
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: [{"choices":[],"usage":{}}])"));
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: {"choices":[],"usage":[1]})"));
    QVERIFY(!UsageChunkFilter::isUsageOnly(R"(data: {"choices":[],"usage":{}} trailing)"));
    // A byte order mark before the object, which a parse skips.
    QVERIFY(UsageChunkFilter::isUsageOnly("data: \xEF\xBB\xBF{\"choices\":[],\"usage\":{}}"));
    // A stream with no event's end in sight (not SSE) is not held back.
    UsageChunkFilter h;
    const std::string line(UsageChunkFilter::kMostHeld, 'x');
    QCOMPARE(h.feed(line), std::string());
    QCOMPARE(h.feed("yz"), line + "yz");
    QCOMPARE(h.feed(usage), usage);
    QVERIFY(!h.dropped());
    // An unfinished last event comes out at the end as it was.
    UsageChunkFilter g;
    QCOMPARE(g.feed("data: {\"choices\":[]"), std::string());
    QCOMPARE(g.finish(), std::string("data: {\"choices\":[]"));
}

QTEST_APPLESS_MAIN(TestGatewayParts)
#include "tst_gateway_parts.moc"
