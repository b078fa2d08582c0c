// Provider protocol pieces: SSE parsing across arbitrary chunk splits,
// request analysis and token estimates, usage, stream assembly, rate-limit
// headers of both flavours, triage of every failure class, pricing.
#include "core/json_scan.h"
#include "core/json_source.h"
#include "core/timefmt.h"
#include "pricing/pricing.h"
#include "providers/protocol.h"
#include "providers/rate_limit_headers.h"
#include "providers/sse.h"
#include "providers/triage.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

class TestProviders : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sseAnySplit();
    void sseCrLfAndComments();
    void analyzeOpenAi();
    void analyzeAnthropic();
    void analyzeRejects_data();
    void analyzeRejects();
    void usage();
    void openAiStreamAssembles();
    void anthropicStreamAssembles();
    void streamErrorAfter200();
    void streamCutHasNoUsage();
    void openAiHeaders();
    void azureMinusOneIsUnknown();
    void anthropicHeaders();
    void retryAfterOrder();
    void triage_data();
    void triage();
    void transportTriage();
    void pricingBuiltIn();
    void pricingOverrideAndErrors();
    void jsonSourcePositions();
    void jsonScanAgreesWithTheParser_data();
    void jsonScanAgreesWithTheParser();
    void jsonScanFindsTopLevelMembers();
    void jsonScanHandsOutNestedMembers();
    void jsonDocumentIsTheParsersDocument_data();
    void jsonDocumentIsTheParsersDocument();
    void jsonStringValueAgreesWithTheParser_data();
    void jsonStringValueAgreesWithTheParser();
    void jsonScanArrayHandsOutElements();
    void openAiChunksReadWithoutADocument();
    void anthropicDeltasReadWithoutADocument();
};

void TestProviders::sseAnySplit()
{
    const std::string stream =
        "event: message_start\ndata: {\"a\":1}\n\n"
        "data: line one\ndata: line two\n\n"
        ": keep-alive\n\n"
        "event: ping\ndata: {}\n\n";
    // Every split point of the stream yields the same three events.
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        SseParser p;
        std::vector<SseEvent> got;
        const auto collect = [&](const SseEvent& e) {
            got.push_back(e);
            return true;
        };
        p.feed(std::string_view(stream).substr(0, cut), collect);
        p.feed(std::string_view(stream).substr(cut), collect);
        QCOMPARE(got.size(), std::size_t{3});
        QCOMPARE(QString::fromStdString(got[0].event), QStringLiteral("message_start"));
        QCOMPARE(QString::fromStdString(got[1].data), QStringLiteral("line one\nline two"));
        QCOMPARE(QString::fromStdString(got[1].event), QStringLiteral("message"));
        QCOMPARE(QString::fromStdString(got[2].event), QStringLiteral("ping"));
        QVERIFY(!p.hasPartial());
    }
}

void TestProviders::sseCrLfAndComments()
{
    SseParser p;
    std::vector<SseEvent> got;
    p.feed("data:x\r\n\r\n:comment\r\ndata: y\r", [&](const SseEvent& e) {
        got.push_back(e);
        return true;
    });
    QCOMPARE(got.size(), std::size_t{1});
    QCOMPARE(QString::fromStdString(got[0].data), QStringLiteral("x"));
    QVERIFY(p.hasPartial());
    // The LF of the split CRLF is not a second line end; the blank line is.
    p.feed("\n", [&](const SseEvent& e) {
        got.push_back(e);
        return true;
    });
    QCOMPARE(got.size(), std::size_t{1});
    p.feed("\r\n", [&](const SseEvent& e) {
        got.push_back(e);
        return true;
    });
    QCOMPARE(got.size(), std::size_t{2});
    QCOMPARE(QString::fromStdString(got[1].data), QStringLiteral("y"));
}

void TestProviders::analyzeOpenAi()
{
    const json body = json::parse(R"({"model":"gpt-4o","n":2,"max_tokens":100,
        "messages":[{"role":"system","content":"12345678"},{"role":"user","name":"bob","content":[{"type":"text","text":"abcd"}]}]})");
    const RequestInfo info = analyzeRequest(ApiFlavor::OpenAI, body, 4096);
    QCOMPARE(QString::fromStdString(info.model), QStringLiteral("gpt-4o"));
    QCOMPARE(info.n, 2);
    QCOMPARE(info.maxOutputTokens, 100);
    QCOMPARE(info.reservedOutputTokens(), 200);
    // 3 priming + (3 + "system" 2 + 2) + (3 + "user" 1 + 1 + name: "bob" 1 + 1)
    QCOMPARE(info.promptTokens, 17);
    QVERIFY(!info.stream);

    const json noMax = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7,"max_tokens":9})");
    QCOMPARE(analyzeRequest(ApiFlavor::OpenAI, noMax, 4096).maxOutputTokens, 7);
    const json defaulted = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
    QCOMPARE(analyzeRequest(ApiFlavor::OpenAI, defaulted, 4096).maxOutputTokens, 4096);
}

void TestProviders::analyzeAnthropic()
{
    const json body = json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":512,"stream":true,"system":"be brief",
        "messages":[{"role":"user","content":"hello world!"}]})");
    const RequestInfo info = analyzeRequest(ApiFlavor::Anthropic, body, 4096);
    QCOMPARE(info.maxOutputTokens, 512);
    QVERIFY(info.stream);
    QCOMPARE(info.promptTokens, 3 + (3 + 2) + (3 + 1 + 3));
}

void TestProviders::analyzeRejects_data()
{
    QTest::addColumn<int>("flavor");
    QTest::addColumn<QString>("body");
    QTest::addColumn<QString>("field");
    QTest::newRow("not an object") << 0 << QStringLiteral("[]") << QStringLiteral("body:");
    QTest::newRow("no model") << 0 << QStringLiteral(R"({"messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.model");
    QTest::newRow("no messages") << 0 << QStringLiteral(R"({"model":"m"})") << QStringLiteral("body.messages");
    QTest::newRow("empty messages") << 0 << QStringLiteral(R"({"model":"m","messages":[]})") << QStringLiteral("body.messages");
    QTest::newRow("bad n") << 0 << QStringLiteral(R"({"model":"m","n":0,"messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.n");
    QTest::newRow("anthropic needs max_tokens") << 1 << QStringLiteral(R"({"model":"m","messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.max_tokens");
    const auto openai = [](const char* field) {
        return QStringLiteral(R"({"model":"m",%1,"messages":[{"role":"user","content":"x"}]})").arg(QLatin1String(field));
    };
    QTest::newRow("max_tokens a word") << 0 << openai(R"("max_tokens":"ten")") << QStringLiteral("body.max_tokens: must be a whole number");
    QTest::newRow("max_tokens negative") << 0 << openai(R"("max_tokens":-5)") << QStringLiteral("body.max_tokens: must be between 1");
    QTest::newRow("max_completion_tokens zero") << 0 << openai(R"("max_completion_tokens":0)") << QStringLiteral("body.max_completion_tokens");
    QTest::newRow("n a string") << 0 << openai(R"("n":"2")") << QStringLiteral("body.n: must be a whole number");
    QTest::newRow("temperature too high") << 0 << openai(R"("temperature":3)") << QStringLiteral("body.temperature: must be a number from 0 to 2");
    QTest::newRow("top_p a string") << 0 << openai(R"("top_p":"high")") << QStringLiteral("body.top_p");
    QTest::newRow("messages an object") << 0 << QStringLiteral(R"({"model":"m","messages":{"role":"user"}})") << QStringLiteral("body.messages");
    QTest::newRow("anthropic max_tokens a word") << 1 << QStringLiteral(R"({"model":"m","max_tokens":"ten","messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.max_tokens: must be a whole number");
    QTest::newRow("anthropic temperature above 1") << 1 << QStringLiteral(R"({"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.temperature: must be a number from 0 to 1");
    QTest::newRow("stream not bool") << 1 << QStringLiteral(R"({"model":"m","max_tokens":5,"stream":"yes","messages":[{"role":"user","content":"x"}]})") << QStringLiteral("body.stream");
}

void TestProviders::analyzeRejects()
{
    QFETCH(int, flavor);
    QFETCH(QString, body);
    QFETCH(QString, field);
    try {
        analyzeRequest(static_cast<ApiFlavor>(flavor), json::parse(body.toStdString()), 100);
        QFAIL("accepted");
    } catch (const InputError& e) {
        QVERIFY2(QString::fromUtf8(e.what()).startsWith(field), e.what());
    }
}

void TestProviders::usage()
{
    const auto o = usageFromBody(ApiFlavor::OpenAI, json::parse(R"({"usage":{"prompt_tokens":100,"completion_tokens":20,
        "total_tokens":120,"prompt_tokens_details":{"cached_tokens":40}}})"));
    QVERIFY(o);
    QCOMPARE(o->inputTokens, 100);
    QCOMPARE(o->outputTokens, 20);
    QCOMPARE(o->billed.inputTokens, 60);
    QCOMPARE(o->billed.cachedInputTokens, 40);
    const auto a = usageFromBody(ApiFlavor::Anthropic, json::parse(R"({"usage":{"input_tokens":10,"output_tokens":5,
        "cache_creation_input_tokens":7,"cache_read_input_tokens":100}})"));
    QVERIFY(a);
    QCOMPARE(a->inputTokens, 17);  // ITPM counts cache writes, not reads
    QCOMPARE(a->billed.cachedInputTokens, 100);
    QVERIFY(!usageFromBody(ApiFlavor::OpenAI, json::parse(R"({"id":"x"})")));
    // Read from text without a document: the same numbers.
    const auto ot = usageFromText(ApiFlavor::OpenAI, R"({"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":40,"audio_tokens":0}})");
    QVERIFY(ot);
    QCOMPARE(ot->inputTokens, 100);
    QCOMPARE(ot->billed.cachedInputTokens, 40);
    QCOMPARE(ot->billed.inputTokens, 60);
    const auto at = usageFromText(ApiFlavor::Anthropic, R"({"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":7,"cache_read_input_tokens":100})");
    QVERIFY(at);
    QCOMPARE(at->inputTokens, 17);
    QCOMPARE(at->billed.cacheWriteTokens, 7);
    QVERIFY(!usageFromText(ApiFlavor::OpenAI, "null"));
    QVERIFY(!usageFromText(ApiFlavor::OpenAI, R"({"prompt_tokens":1)"));
}

void TestProviders::openAiStreamAssembles()
{
    StreamAccumulator acc(ApiFlavor::OpenAI);
    const std::string s =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
        "data: [DONE]\n\n";
    QVERIFY(acc.feed(s.substr(0, 150)));
    QVERIFY(!acc.sawFirstToken());
    QVERIFY(acc.feed(s.substr(150)));
    QVERIFY(acc.sawFirstToken());
    QVERIFY(acc.complete());
    QVERIFY(acc.usage());
    QCOMPARE(acc.usage()->outputTokens, 2);
    const json body = acc.assembledBody();
    QCOMPARE(QString::fromStdString(body["choices"][0]["message"]["content"].get<std::string>()), QStringLiteral("Hello"));
    QCOMPARE(QString::fromStdString(body["object"].get<std::string>()), QStringLiteral("chat.completion"));
    QCOMPARE(body["usage"]["total_tokens"].get<int>(), 11);
}

void TestProviders::anthropicStreamAssembles()
{
    StreamAccumulator acc(ApiFlavor::Anthropic);
    QVERIFY(acc.feed(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi there\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    QVERIFY(acc.complete());
    QVERIFY(acc.sawFirstToken());
    QCOMPARE(acc.usage()->inputTokens, 25);
    QCOMPARE(acc.usage()->outputTokens, 15);
    const json body = acc.assembledBody();
    QCOMPARE(QString::fromStdString(body["content"][0]["text"].get<std::string>()), QStringLiteral("Hi there"));
    QCOMPARE(QString::fromStdString(body["stop_reason"].get<std::string>()), QStringLiteral("end_turn"));
}

void TestProviders::streamErrorAfter200()
{
    StreamAccumulator a(ApiFlavor::Anthropic);
    QVERIFY(!a.feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"));
    QVERIFY(a.error());
    StreamAccumulator o(ApiFlavor::OpenAI);
    QVERIFY(!o.feed("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"));
    QVERIFY(o.error());
}

void TestProviders::streamCutHasNoUsage()
{
    StreamAccumulator acc(ApiFlavor::OpenAI);
    QVERIFY(acc.feed("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"id\":"));
    QVERIFY(!acc.complete());
    QVERIFY(!acc.usage());
}

void TestProviders::openAiHeaders()
{
    const http::HeaderMap h = {{"x-ratelimit-limit-requests", "500"}, {"x-ratelimit-remaining-requests", "499"},
                               {"x-ratelimit-reset-requests", "120ms"}, {"x-ratelimit-limit-tokens", "30000"},
                               {"x-ratelimit-remaining-tokens", "29000"}, {"x-ratelimit-reset-tokens", "2s"}};
    const auto r = parseRateLimitHeaders(h, WallTime{});
    QVERIFY(r.any());
    QCOMPARE(*r.requests.limit, 500);
    QCOMPARE(*r.requests.remaining, 499);
    QCOMPARE(*r.requests.timeToFull, Duration(120ms));
    QCOMPARE(*r.tokens.timeToFull, Duration(2s));
    QVERIFY(!r.inputTokens.limit);
}

void TestProviders::azureMinusOneIsUnknown()
{
    const http::HeaderMap h = {{"x-ratelimit-limit-tokens", "-1"}, {"x-ratelimit-remaining-tokens", "-1"},
                               {"x-ratelimit-reset-tokens", "0"}, {"x-rate-limit-reset-requests", "1s"},
                               {"x-ratelimit-remaining-requests", "3"}};
    const auto r = parseRateLimitHeaders(h, WallTime{});
    QVERIFY(!r.tokens.limit);
    QVERIFY(!r.tokens.remaining);
    QVERIFY(!r.tokens.timeToFull);
    QCOMPARE(*r.requests.remaining, 3);
    QCOMPARE(*r.requests.timeToFull, Duration(1s));  // Azure's spelling
}

void TestProviders::anthropicHeaders()
{
    const WallTime now = *parseRfc3339("2025-08-21T12:40:50Z");
    const http::HeaderMap h = {{"anthropic-ratelimit-requests-limit", "1000"},
                               {"anthropic-ratelimit-requests-remaining", "999"},
                               {"anthropic-ratelimit-requests-reset", "2025-08-21T12:40:51Z"},
                               {"anthropic-ratelimit-input-tokens-limit", "80000"},
                               {"anthropic-ratelimit-input-tokens-remaining", "79000"},
                               {"anthropic-ratelimit-input-tokens-reset", "2025-08-21T12:40:59Z"},
                               {"anthropic-ratelimit-output-tokens-limit", "16000"},
                               {"anthropic-ratelimit-tokens-limit", "96000"}};
    const auto r = parseRateLimitHeaders(h, now);
    QCOMPARE(*r.requests.timeToFull, Duration(1s));
    QCOMPARE(*r.inputTokens.limit, 80000);
    QCOMPARE(*r.inputTokens.timeToFull, Duration(9s));
    QCOMPARE(*r.outputTokens.limit, 16000);
    QCOMPARE(*r.tokens.limit, 96000);
}

void TestProviders::retryAfterOrder()
{
    QCOMPARE(*parseRateLimitHeaders({{"retry-after-ms", "1500"}, {"retry-after", "9"}}, WallTime{}).retryAfter, Duration(1500ms));
    QCOMPARE(*parseRateLimitHeaders({{"retry-after", "2.5"}}, WallTime{}).retryAfter, Duration(2500ms));
    const WallTime now = *parseRfc3339("1994-11-06T08:49:30Z");
    QCOMPARE(*parseRateLimitHeaders({{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}}, now).retryAfter, Duration(7s));
    QCOMPARE(*parseRateLimitHeaders({{"x-should-retry", "false"}}, WallTime{}).shouldRetry, false);
}

void TestProviders::triage_data()
{
    QTest::addColumn<int>("flavor");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("body");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<qint64>("hintMs");  // -1: none

    const int oa = 0;
    const int an = 1;
    QTest::newRow("openai tpm 429 with try-again") << oa << 429
        << QStringLiteral(R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 24000, Requested 8000. Please try again in 1.574s. Visit ...","type":"tokens","param":null,"code":"rate_limit_exceeded"}})")
        << QStringLiteral("rate_limited") << qint64(1574);
    QTest::newRow("openai request too large") << oa << 429
        << QStringLiteral(R"({"error":{"message":"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 36278.","type":"tokens","code":"rate_limit_exceeded"}})")
        << QStringLiteral("request_too_large") << qint64(-1);
    QTest::newRow("openai insufficient quota") << oa << 429
        << QStringLiteral(R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})")
        << QStringLiteral("quota_exhausted") << qint64(-1);
    QTest::newRow("azure 429 retry after seconds") << oa << 429
        << QStringLiteral(R"({"error":{"code":"429","message":"Requests have exceeded the rate limit. Please retry after 7 seconds."}})")
        << QStringLiteral("rate_limited") << qint64(7000);
    QTest::newRow("anthropic rate limit") << an << 429
        << QStringLiteral(R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your rate limit"},"request_id":"req_1"})")
        << QStringLiteral("rate_limited") << qint64(-1);
    QTest::newRow("anthropic spend cap") << an << 429
        << QStringLiteral(R"({"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}})")
        << QStringLiteral("quota_exhausted") << qint64(-1);
    QTest::newRow("anthropic 529") << an << 529
        << QStringLiteral(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})")
        << QStringLiteral("overloaded") << qint64(-1);
    QTest::newRow("503") << oa << 503 << QStringLiteral(R"({"error":{"message":"The engine is currently overloaded"}})")
        << QStringLiteral("overloaded") << qint64(-1);
    QTest::newRow("500") << oa << 500 << QStringLiteral("oops") << QStringLiteral("server_error") << qint64(-1);
    QTest::newRow("anthropic 413") << an << 413 << QStringLiteral(R"({"type":"error","error":{"type":"request_too_large","message":"too big"}})")
        << QStringLiteral("request_too_large") << qint64(-1);
    QTest::newRow("402 billing") << an << 402 << QStringLiteral(R"({"type":"error","error":{"type":"billing_error","message":"pay"}})")
        << QStringLiteral("quota_exhausted") << qint64(-1);
    QTest::newRow("400") << oa << 400 << QStringLiteral(R"({"error":{"message":"bad","type":"invalid_request_error"}})")
        << QStringLiteral("bad_request") << qint64(-1);
    QTest::newRow("404") << oa << 404 << QStringLiteral("{}") << QStringLiteral("not_found") << qint64(-1);
    QTest::newRow("401") << an << 401 << QStringLiteral(R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})")
        << QStringLiteral("auth_failed") << qint64(-1);
    QTest::newRow("403") << an << 403 << QStringLiteral("{}") << QStringLiteral("permission_denied") << qint64(-1);
    QTest::newRow("gemini array with retry delay") << oa << 429
        << QStringLiteral(R"([{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"27s"}]}}])")
        << QStringLiteral("rate_limited") << qint64(27000);
}

void TestProviders::triage()
{
    QFETCH(int, flavor);
    QFETCH(int, status);
    QFETCH(QString, body);
    QFETCH(QString, expected);
    QFETCH(qint64, hintMs);
    const Triage t = triageResponse(static_cast<ApiFlavor>(flavor), status, body.toStdString(), RateLimitHeaders{});
    QCOMPARE(QString::fromUtf8(failureClassName(t.cls).data()), expected);
    if (hintMs < 0) {
        QVERIFY(!t.retryAfter);
    } else {
        QVERIFY(t.retryAfter);
        QCOMPARE(std::chrono::duration_cast<std::chrono::milliseconds>(*t.retryAfter).count(), hintMs);
    }
}

void TestProviders::transportTriage()
{
    QCOMPARE(triageTransport(http::TransportError::Timeout, "t").cls, FailureClass::Timeout);
    QCOMPARE(triageTransport(http::TransportError::Reset, "r").cls, FailureClass::ConnectionError);
    // A spend cap's 429 is never retried even if a proxy adds retry-after.
    RateLimitHeaders h;
    h.retryAfter = 5s;
    QVERIFY(!triageResponse(ApiFlavor::OpenAI, 429, R"({"error":{"code":"insufficient_quota"}})", h).retryAfter);
    QCOMPARE(*triageResponse(ApiFlavor::OpenAI, 429, "{}", h).retryAfter, Duration(5s));
    FailureClass parsed{};
    QVERIFY(parseFailureClass("stream_cut", parsed));
    QCOMPARE(parsed, FailureClass::StreamCut);
}

void TestProviders::pricingBuiltIn()
{
    const PricingTable p = PricingTable::builtIn();
    QVERIFY(!p.asOf().empty());
    QVERIFY(p.find("gpt-4o"));
    QCOMPARE(p.find("gpt-4o-2024-08-06")->inputPerMillion, 2.50);
    QCOMPARE(p.find("gpt-4o-mini-2024-07-18")->inputPerMillion, 0.15);
    QVERIFY(!p.find("mystery-model"));
    QCOMPARE(*p.microUsd("gpt-4o", TokenUsage{1000, 100, 0, 0}), 2500 + 1000);
    QVERIFY(!p.microUsd("mystery-model", TokenUsage{1000, 100, 0, 0}));
}

void TestProviders::pricingOverrideAndErrors()
{
    const JsonSource src("cfg.json", "{\n \"pricing\": {\"as_of\": \"2026-01-01\", \"models\": {\n  \"mine\": {\"input\": 1, \"output\": 2}}}}");
    PricingTable p = PricingTable::builtIn();
    p.merge(PricingTable::fromJson(src, "/pricing"));
    QCOMPARE(p.find("mine")->outputPerMillion, 2.0);
    QCOMPARE(p.find("mine")->cachedInputPerMillion, 1.0);
    const JsonSource bad("cfg.json", "{\"pricing\": {\"models\": {\n  \"m\": {\"input\": -1, \"output\": 2}}}}");
    try {
        PricingTable::fromJson(bad, "/pricing");
        QFAIL("negative price accepted");
    } catch (const InputError& e) {
        QCOMPARE(QString::fromUtf8(e.what()), QStringLiteral("cfg.json:2: /pricing/models/m/input: must be a non-negative number"));
    }
}

void TestProviders::jsonSourcePositions()
{
    const JsonSource src("f.json", "{\n  \"a\": [\n    1,\n    {\"b~/c\": true}\n  ]\n}\n");
    QCOMPARE(src.positionOf("/a").line, 2);
    QCOMPARE(src.positionOf("/a/1").line, 4);
    QCOMPARE(src.positionOf("/a/1/b~0~1c").line, 4);
    QCOMPARE(src.positionOf("/a/1/missing").line, 4);  // nearest existing parent
    try {
        JsonSource("g.json", "{\n  \"a\": ,\n}");
        QFAIL("bad JSON accepted");
    } catch (const InputError& e) {
        QVERIFY2(QString::fromUtf8(e.what()).startsWith(QStringLiteral("g.json:2:")), e.what());
    }
}

void TestProviders::jsonScanAgreesWithTheParser_data()
{
    QTest::addColumn<QString>("text");
    const char* cases[] = {
        R"({"a":1,"b":[true,false,null,-0.5e+3,"x\"y\u00e9"],"c":{}})", "[]", " 12 ", "\"s\"", "-0", "1.0E-2",
        R"({"a":1,})", R"({"a" 1})", "[1,]", "[1 2]", "01", "1.", "-", ".5", "tru", "nul", "\"abc", R"("\x")",
        R"("\u12G4")", "{", "}", "", "1 2", "\"tab\there\"", "{\"k\":\"v\"}x", "[[[[[]]]]]",
        R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":1})",
    };
    for (const char* c : cases) {
        QTest::newRow(c) << QString::fromUtf8(c);
    }
    QTest::newRow("raw control char in a string") << QStringLiteral("\"a\nb\"");
    QTest::newRow("byte order mark") << QString::fromUtf8("\xEF\xBB\xBF {\"a\":1}");
}

// Accepts exactly what nlohmann's parser accepts.
void TestProviders::jsonScanAgreesWithTheParser()
{
    QFETCH(QString, text);
    const std::string t = text.toStdString();
    QCOMPARE(scanJson(t), json::accept(t));
}

void TestProviders::jsonDocumentIsTheParsersDocument_data()
{
    QTest::addColumn<QByteArray>("text");
    const char* cases[] = {
        R"({"a":1,"b":[true,false,null,-0.5e+3,"x\"y\u00e9"],"c":{}})", "[]", " 12 ", "\"s\"", "-0", "-0.0", "1.0E-2",
        R"({"a":1,})", R"({"a" 1})", "[1,]", "[1 2]", "01", "1.", "-", ".5", "tru", "nul", "\"abc", R"("\x")",
        R"("\u12G4")", "{", "}", "", "  ", "1 2", "\"tab\there\"", "{\"k\":\"v\"}x", "[[[[[]]]]]",
        R"({"k":1,"k":{"x":[1]}})", R"({"k":{"x":1},"k":2})", "18446744073709551615", "18446744073709551616",
        "-9223372036854775808", "-9223372036854775809", "1e400", "-1e400", "1e-400", "4e-320", "0.1", "123456789.987654321e-5",
        R"(["\ud83d\ude00", "\ud83d", "\ude00", "\u0000"])", "\xEF\xBB\xBF{\"bom\":true}", "\"\xC3\x28\"", "\"\xE2\x82\xAC\"",
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16,"stream":false})",
    };
    for (const char* c : cases) {
        QTest::newRow(c) << QByteArray(c);
    }
    QTest::newRow("600 deep") << QByteArray(600, '[').append(QByteArray(600, ']'));
    QTest::newRow("600 deep, unclosed") << QByteArray(600, '[').append(QByteArray(599, ']'));
}

namespace {
// The same values with the same kinds (an unsigned 5 is not an integer 5).
bool sameDocument(const json& a, const json& b)
{
    if (a.type() != b.type()) {
        return false;
    }
    if (a.is_object()) {
        if (a.size() != b.size()) {
            return false;
        }
        for (auto it = a.begin(); it != a.end(); ++it) {
            if (!b.contains(it.key()) || !sameDocument(it.value(), b.at(it.key()))) {
                return false;
            }
        }
        return true;
    }
    if (a.is_array()) {
        if (a.size() != b.size()) {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!sameDocument(a[i], b[i])) {
                return false;
            }
        }
        return true;
    }
    return a == b && a.dump() == b.dump();
}
}  // namespace

// The gateway reads request bodies with readJsonDocument: it must build what
// nlohmann's parser builds, and refuse what it refuses.
void TestProviders::jsonDocumentIsTheParsersDocument()
{
    QFETCH(QByteArray, text);
    const std::string_view t(text.constData(), static_cast<std::size_t>(text.size()));
    const json reference = json::parse(t, nullptr, false);
    json doc = json::array({"untouched"});
    const bool read = readJsonDocument(t, doc);
    QCOMPARE(read, !reference.is_discarded());
    if (read) {
        QVERIFY2(sameDocument(doc, reference), doc.dump().c_str());
    } else {
        QCOMPARE(doc, json::array({"untouched"}));
    }
}

void TestProviders::jsonScanFindsTopLevelMembers()
{
    const std::string body =
        R"({"id":"x","choices":[{"message":{"content":"my \"usage\": {} is fine","usage":{"nested":1}}}],"usage":{"prompt_tokens":12,"completion_tokens":3}})";
    std::vector<std::string> keys;
    std::string usage;
    QVERIFY(scanJson(body, [&](std::string_view k, std::string_view v) {
        keys.emplace_back(k);
        if (k == "usage") {
            usage = std::string(v);
        }
    }));
    QCOMPARE(keys, (std::vector<std::string>{"id", "choices", "usage"}));
    QCOMPARE(QString::fromStdString(usage), QStringLiteral(R"({"prompt_tokens":12,"completion_tokens":3})"));
    QCOMPARE(usageFromUsage(ApiFlavor::OpenAI, json::parse(usage))->inputTokens, 12);
    // A body cut off mid-JSON (the mock's malformed-JSON fault) is refused.
    QVERIFY(!scanJson(body.substr(0, body.size() - 5)));
}

// The dispatcher reads "usage" on the pass that validates the body: the
// nested members arrive before the top-level member that holds them, and
// only that member's (not a deeper "usage" object's).
void TestProviders::jsonScanHandsOutNestedMembers()
{
    const std::string body =
        R"({"choices":[{"usage":{"prompt_tokens":99}}],"usage":{"prompt_tokens":12,"completion_tokens":3,)"
        R"("prompt_tokens_details":{"cached_tokens":2}},"x":{"usage":{"a":1}}})";
    std::vector<std::string> events;
    UsageReader reader;
    QVERIFY(scanJson(
        body, [&](std::string_view k, std::string_view) { events.emplace_back("top " + std::string(k)); }, "usage",
        [&](std::string_view k, std::string_view v) {
            events.emplace_back("usage " + std::string(k));
            reader.member(k, v);
        }));
    QCOMPARE(events, (std::vector<std::string>{"top choices", "usage prompt_tokens", "usage completion_tokens",
                                               "usage prompt_tokens_details", "top usage", "top x"}));
    const ResponseUsage u = reader.result(ApiFlavor::OpenAI);
    QCOMPARE(u.inputTokens, 12);
    QCOMPARE(u.outputTokens, 3);
    QCOMPARE(u.billed.cachedInputTokens, 2);
    QCOMPARE(u.billed.inputTokens, 10);
    QCOMPARE(usageFromText(ApiFlavor::OpenAI, R"({"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}})")->billed.inputTokens, 10);
    // A malformed nested object still fails the whole scan.
    QVERIFY(!scanJson(R"({"usage":{"prompt_tokens":1,}})", {}, "usage", [](std::string_view, std::string_view) {}));
}

void TestProviders::jsonStringValueAgreesWithTheParser_data()
{
    QTest::addColumn<QByteArray>("raw");
    const char* cases[] = {
        R"("")", R"("plain text")", R"("caf\u00e9 \u00E9")", R"("\ud83d\ude00 smile")", R"("\"q\" \\ \/ \b\f\n\r\t")",
        R"("\u0000nul")", "\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"",
        // What the parser refuses: lone and reversed surrogates, bad
        // escapes, raw control characters, ill-formed UTF-8 (a stray
        // continuation byte, an overlong form, an encoded surrogate, a
        // truncated sequence, above U+10FFFF).
        R"("\ud800")", R"("\ud800x")", R"("\ude00\ud83d")", R"("\ud83d\u0041")", R"("\x")", R"("\u12G4")", R"("\u12")",
        "\"a\tb\"", "\"\x80\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xe6\x97\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"",
        R"("unterminated)", "plain", R"("ends in \")",
    };
    for (const char* c : cases) {
        QTest::newRow(c) << QByteArray(c);
    }
}

// The decoded value is exactly nlohmann's, and what it refuses is refused.
void TestProviders::jsonStringValueAgreesWithTheParser()
{
    QFETCH(QByteArray, raw);
    const std::string text = raw.toStdString();
    const json parsed = json::parse(text, nullptr, false);
    const std::optional<std::string> decoded = jsonStringValue(text);
    QCOMPARE(decoded.has_value(), !parsed.is_discarded() && parsed.is_string());
    if (decoded) {
        QCOMPARE(*decoded, parsed.get<std::string>());
    }
}

void TestProviders::jsonScanArrayHandsOutElements()
{
    std::vector<std::string> elements;
    QVERIFY(scanJsonArray(R"( [1, "two", {"three": [3]}, [] ] )", [&](std::string_view e) { elements.emplace_back(e); }));
    QCOMPARE(elements, (std::vector<std::string>{"1", "\"two\"", R"({"three": [3]})", "[]"}));
    QVERIFY(scanJsonArray("[]", {}));
    QVERIFY(!scanJsonArray(R"({"a": 1})", {}));
    QVERIFY(!scanJsonArray("[1,]", {}));
    QVERIFY(!scanJsonArray("[1] 2", {}));
}

// Chat chunks are read from their text (json_scan) rather than parsed into
// a document: the same text, first token, finish reason and usage, and
// what the document's reading refuses (a lone surrogate, ill-formed UTF-8)
// still marks the stream malformed.
void TestProviders::openAiChunksReadWithoutADocument()
{
    const auto event = [](const std::string& data) { return "data: " + data + "\n\n"; };
    StreamAccumulator acc(ApiFlavor::OpenAI);
    QVERIFY(acc.feed(event(R"({"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})")));
    QVERIFY(!acc.sawFirstToken());
    // An escaped key is read as the parser reads it.
    QVERIFY(acc.feed(event(R"({"id":"c2","model":"other","choices":[{"index":0,"d\u0065lta":{"content":"caf\u00e9 \ud83d\ude00"}}]})")));
    QVERIFY(acc.sawFirstToken());
    QVERIFY(acc.firstTokenInLastFeed());
    // A second choice's text is not the answer's; a later duplicate member
    // wins, as in the parser's document.
    QVERIFY(acc.feed(event(R"({"choices":[{"index":1,"delta":{"content":"not this"}},{"index":0,"delta":{"content":" \"q\"\n","content":" \"q\"\\n"}}],"system_fingerprint":null})")));
    QVERIFY(!acc.firstTokenInLastFeed());
    QVERIFY(acc.feed(event(R"({"choices":[{"index":0,"delta":{"content":null},"finish_reason":"length"}],"usage":null})")));
    QVERIFY(acc.feed(event(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})")));
    QVERIFY(acc.feed("data: [DONE]\n\n"));
    QVERIFY(acc.complete());
    QVERIFY(!acc.malformed());
    QVERIFY(acc.usage());
    QCOMPARE(acc.usage()->inputTokens, 12);
    QCOMPARE(acc.usage()->outputTokens, 3);
    const json body = acc.assembledBody();
    QCOMPARE(body["id"].get<std::string>(), std::string("c1"));
    QCOMPARE(body["model"].get<std::string>(), std::string("m"));
    QCOMPARE(body["created"].get<std::int64_t>(), std::int64_t{1700000000});
    QCOMPARE(body["choices"][0]["message"]["content"].get<std::string>(), std::string("caf\u00e9 \U0001F600 \"q\"\\n"));
    QCOMPARE(body["choices"][0]["finish_reason"].get<std::string>(), std::string("length"));

    StreamAccumulator surrogate(ApiFlavor::OpenAI);
    QVERIFY(surrogate.feed(event(R"({"id":"c","choices":[{"index":0,"delta":{"content":"\ud800"}}]})")));
    QVERIFY(surrogate.malformed());
    StreamAccumulator utf8(ApiFlavor::OpenAI);
    QVERIFY(utf8.feed(event("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xc0\xaf\"}}]}")));
    QVERIFY(utf8.malformed());
    StreamAccumulator error(ApiFlavor::OpenAI);
    QVERIFY(!error.feed(event(R"({"error":{"message":"overloaded","type":"server_error"}})")));
    QVERIFY(error.error());
    StreamAccumulator floatCreated(ApiFlavor::OpenAI);
    QVERIFY(floatCreated.feed(event(R"({"id":"c","created":1.5,"choices":[]})")));
    QCOMPARE(floatCreated.assembledBody()["created"].get<std::int64_t>(), std::int64_t{0});
}

// Anthropic's per-token events the same way; the event's name stands in for
// a missing type, as onAnthropicEvent reads it.
void TestProviders::anthropicDeltasReadWithoutADocument()
{
    StreamAccumulator acc(ApiFlavor::Anthropic);
    QVERIFY(acc.feed(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\"}}\n\n"));
    QVERIFY(!acc.sawFirstToken());
    QVERIFY(acc.feed("event: content_block_delta\ndata: {\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\u65e5\\u672c \\\"q\\\"\"}}\n\n"));
    QVERIFY(acc.firstTokenInLastFeed());
    QVERIFY(acc.feed("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"d\\u0065lta\":{\"text\":\" end\"}}\n\n"
                     "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
                     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    QVERIFY(acc.complete());
    QVERIFY(!acc.malformed());
    QCOMPARE(acc.assembledBody()["content"][0]["text"].get<std::string>(), std::string("\u65e5\u672c \"q\" end"));
    StreamAccumulator surrogate(ApiFlavor::Anthropic);
    QVERIFY(surrogate.feed("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"\\udc00\"}}\n\n"));
    QVERIFY(surrogate.malformed());
    StreamAccumulator error(ApiFlavor::Anthropic);
    QVERIFY(!error.feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"));
    QVERIFY(error.error());
}

QTEST_APPLESS_MAIN(TestProviders)
#include "tst_providers.moc"
