// Limits as providers enforce them, driven by a ManualClock: sub-second
// granularity, TPM charged on arrival, "request too large", quota and
// spend caps, requests per day, ITPM/OTPM in both charging modes, per-key
// limits, live changes, and the exact 429 messages and retry hints.
#include "core/timefmt.h"
#include "mock/fixed_window.h"
#include "mock/rate_bucket.h"
#include "mock/sliding_window.h"
#include "support/mock_fixture.h"

#include <QtTest>

using namespace sluice;
using namespace sluice::mock;
using namespace sluice::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// gpt-4o-mini with only the limits given; Anthropic models' outputs fixed.
MockConfig limited(const RateLimits& openAi, const RateLimits& anthropic = {})
{
    MockConfig c = quietConfig();
    c.models["gpt-4o-mini"].limits = openAi;
    c.models["claude-haiku-4-5"].limits = anthropic;
    c.output.distribution = DistributionKind::Fixed;
    c.output.mean = 100;
    return c;
}

std::string errorMessage(const HttpResponse& r)
{
    return parseJson(r.body)["error"]["message"].get<std::string>();
}

HttpResponse chat(MockFixture& f, int maxTokens = 50, const std::string& key = "sk-mock", const std::string& extra = "")
{
    return f.http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", maxTokens, extra), openAiHeaders(key));
}

HttpResponse message(MockFixture& f, int maxTokens, const std::string& content = "Hello, how are you today?")
{
    return f.http.post("/v1/messages",
                       R"({"model":"claude-haiku-4-5","max_tokens":)" + std::to_string(maxTokens) +
                           R"(,"messages":[{"role":"user","content":")" + content + R"("}]})",
                       anthropicHeaders());
}

}  // namespace

class TestMockLimits : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void bucketRefillsContinuously();
    void bucketOverdraftAndRefund();
    void bucketKeepsUsageAcrossNewLimits();
    void slidingWindowCountsAnySpan();
    void slidingWindowEnforcedOverHttp();
    void fixedWindowCountsFromZeroEachWindow();
    void fixedWindowEnforcedOverHttp();
    void hiddenLimitsSendNoHeaders();

    void rpmEnforcedPerSecond();
    void tpmMessageAndRetryHints();
    void requestTooLargeNeverFits();
    void insufficientQuota();
    void anthropicSpendCap();
    void quotaTokensRunOut();
    void requestsPerDay();
    void otpmReservedThenCorrected();
    void tpmRefundsUnusedOutput();
    void tpmChargedOnCompletion();
    void otpmActualOutputOnly();
    void itpmCountsInput();
    void limitsArePerKeyAndOverridable();
    void liveLimitChangeKeepsUsage();
    void noLimitsMeansNoHeadersAndNo429();
    void accelerationRampsAfterIdle();
    void accelerationConfigErrors();
};

void TestMockLimits::bucketRefillsContinuously()
{
    const TimePoint t0 = TimePoint(1s);
    RateBucket b(600, 1min, 10, t0);  // 600 RPM enforced as 10 at once
    QCOMPARE(b.available(t0), std::int64_t{10});
    QCOMPARE(b.waitFor(10, t0), Duration::zero());
    b.take(10, t0);
    QCOMPARE(b.available(t0), std::int64_t{0});
    QCOMPARE(b.waitFor(1, t0), Duration(100ms));
    QCOMPARE(b.waitFor(1, t0 + 40ms), Duration(60ms));
    QCOMPARE(b.waitFor(1, t0 + 100ms), Duration::zero());
    QCOMPARE(b.untilFull(t0), Duration(1s));
    QCOMPARE(b.available(t0 + 350ms), std::int64_t{3});
    QCOMPARE(b.available(t0 + 1h), std::int64_t{10});  // never above capacity
}

void TestMockLimits::bucketOverdraftAndRefund()
{
    const TimePoint t0 = TimePoint(1s);
    RateBucket b(1000, 1min, 1000, t0);
    // A cost above the capacity fits only a full bucket, and overdraws it.
    QCOMPARE(b.waitFor(1500, t0), Duration::zero());
    b.take(1500, t0);
    QCOMPARE(b.available(t0), std::int64_t{-500});
    // Overdrawn, even a zero cost waits for one unit: 501 units at 1000/min.
    QCOMPARE(b.waitFor(0, t0), Duration(30'060ms));
    b.give(700, t0);
    QCOMPARE(b.available(t0), std::int64_t{200});
    b.give(5000, t0);
    QCOMPARE(b.available(t0), std::int64_t{1000});
}

void TestMockLimits::bucketKeepsUsageAcrossNewLimits()
{
    const TimePoint t0 = TimePoint(1s);
    RateBucket b(100, 1min, 100, t0);
    b.take(60, t0);
    b.reconfigure(200, 1min, 200, t0);
    QCOMPARE(b.available(t0), std::int64_t{140});  // a raise adds only the new room
    b.reconfigure(50, 1min, 50, t0);
    QCOMPARE(b.available(t0), std::int64_t{-10});  // a cut binds at once
}

void TestMockLimits::slidingWindowCountsAnySpan()
{
    const TimePoint t0 = TimePoint(1s);
    SlidingWindow w(600, 1s, 10, t0);  // at most 10 in any one second
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(w.waitFor(1, t0 + i * 10ms), Duration::zero());
        w.take(1, t0 + i * 10ms);
    }
    // A bucket would take one more at t0 + 100 ms; the window waits for the
    // first count to leave, a second after it came.
    QCOMPARE(w.waitFor(1, t0 + 100ms), Duration(900ms));
    QCOMPARE(w.waitFor(1, t0 + 1s), Duration::zero());
    QCOMPARE(w.waitFor(3, t0 + 1s), Duration(20ms));
    QCOMPARE(w.available(t0 + 1s + 25ms), std::int64_t{3});
    QCOMPARE(w.untilFull(t0 + 1s), Duration(90ms));
    // A cost above the capacity goes alone, into an empty window.
    QCOMPARE(w.waitFor(25, t0 + 2s), Duration::zero());
    w.take(25, t0 + 2s);
    QCOMPARE(w.available(t0 + 2s), std::int64_t{-15});
    QCOMPARE(w.waitFor(1, t0 + 2s), Duration(1s));
    w.give(20, t0 + 2s);
    QCOMPARE(w.available(t0 + 2s), std::int64_t{5});
}

void TestMockLimits::slidingWindowEnforcedOverHttp()
{
    RateLimits l;
    l.requestsPerMinute = 600;
    l.granularity = 1s;
    l.enforcement = Enforcement::SlidingWindow;
    MockFixture f(limited(l));
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(chat(f).status, 200L);
    }
    f.clock.advance(100ms);
    const auto refused = chat(f);
    QCOMPARE(refused.status, 429L);
    QCOMPARE(refused.header("x-ratelimit-reset-requests").value_or(""), std::string("900ms"));
    f.clock.advance(900ms);
    QCOMPARE(chat(f).status, 200L);
    // The patch format names it too.
    f.mock.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"enforcement":"bucket"}}}})");
    QCOMPARE(f.mock.config().models.at("gpt-4o-mini").limits.enforcement, Enforcement::Bucket);
}

void TestMockLimits::fixedWindowCountsFromZeroEachWindow()
{
    const TimePoint t0 = TimePoint(5s);
    FixedWindow w(3, 1min, 3, t0);  // windows [5 s, 65 s), [65 s, 125 s), ...
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(w.waitFor(1, t0 + i * 1s), Duration::zero());
        w.take(1, t0 + i * 1s);
    }
    // Full until the boundary, whatever the pace: no refill inside a window.
    QCOMPARE(w.waitFor(1, t0 + 2s), Duration(58s));
    QCOMPARE(w.waitFor(1, t0 + 59s), Duration(1s));
    QCOMPARE(w.untilFull(t0 + 30s), Duration(30s));
    QCOMPARE(w.available(t0 + 59s), std::int64_t{0});
    // The next window starts from zero: three more at once.
    QCOMPARE(w.available(t0 + 60s), std::int64_t{3});
    QCOMPARE(w.untilFull(t0 + 60s), Duration::zero());
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(w.waitFor(1, t0 + 60s), Duration::zero());
        w.take(1, t0 + 60s);
    }
    QCOMPARE(w.waitFor(1, t0 + 60s), Duration(60s));
    w.give(1, t0 + 61s);
    QCOMPARE(w.available(t0 + 61s), std::int64_t{1});
    // A cost above the capacity goes alone, into an empty window.
    QCOMPARE(w.waitFor(5, t0 + 180s), Duration::zero());
    w.take(5, t0 + 180s);
    QCOMPARE(w.available(t0 + 180s), std::int64_t{-2});
    QCOMPARE(w.waitFor(1, t0 + 200s), Duration(40s));
}

void TestMockLimits::fixedWindowEnforcedOverHttp()
{
    RateLimits l;
    l.requestsPerMinute = 3;
    l.enforcement = Enforcement::FixedWindow;  // granularity 1 min: a minute's window
    MockFixture f(limited(l));
    f.clock.advance(10s);  // the window starts at the first request, not when the mock did
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(chat(f).status, 200L);
    }
    f.clock.advance(45s);
    const auto refused = chat(f);
    QCOMPARE(refused.status, 429L);
    QCOMPARE(refused.header("x-ratelimit-reset-requests").value_or(""), std::string("15s"));
    f.clock.advance(15s);
    QCOMPARE(chat(f).status, 200L);
    QCOMPARE(chat(f).header("x-ratelimit-remaining-requests").value_or(""), std::string("1"));
    f.mock.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"enforcement":"fixed_window"}}}})");
    QCOMPARE(f.mock.config().models.at("gpt-4o-mini").limits.enforcement, Enforcement::FixedWindow);
}

void TestMockLimits::hiddenLimitsSendNoHeaders()
{
    RateLimits l;
    l.requestsPerMinute = 60;
    l.granularity = 1s;
    MockConfig c = limited(l);
    c.rateLimitHeaders = false;
    MockFixture f(c);
    const auto ok = chat(f);
    QCOMPARE(ok.status, 200L);
    QVERIFY(!ok.hasHeaderStartingWith("x-ratelimit-"));
    const auto refused = chat(f);
    QCOMPARE(refused.status, 429L);
    QVERIFY(!refused.hasHeaderStartingWith("x-ratelimit-"));
    QVERIFY(refused.header("retry-after"));
}

void TestMockLimits::rpmEnforcedPerSecond()
{
    RateLimits l;
    l.requestsPerMinute = 600;
    l.granularity = 1s;
    MockFixture f(limited(l));
    for (int i = 0; i < 10; ++i) {
        const auto r = chat(f);
        QCOMPARE(r.status, 200L);
        QCOMPARE(r.header("x-ratelimit-remaining-requests").value_or(""), std::to_string(9 - i));
    }
    const auto refused = chat(f);
    QCOMPARE(refused.status, 429L);
    const json e = parseJson(refused.body)["error"];
    QCOMPARE(e["type"], json("requests"));
    QCOMPARE(e["code"], json("rate_limit_exceeded"));
    QCOMPARE(errorMessage(refused),
             std::string("Rate limit reached for gpt-4o-mini in organization org-mock on requests per min (RPM): "
                         "Limit 600, Used 10, Requested 1. Please try again in 100ms. Visit "
                         "https://platform.openai.com/account/rate-limits to learn more."));
    QCOMPARE(refused.header("retry-after").value_or(""), std::string("1"));
    QVERIFY(!refused.header("retry-after-ms"));
    QCOMPARE(refused.header("x-ratelimit-limit-requests").value_or(""), std::string("600"));
    QCOMPARE(refused.header("x-ratelimit-remaining-requests").value_or(""), std::string("0"));
    QCOMPARE(refused.header("x-ratelimit-reset-requests").value_or(""), std::string("1s"));

    f.clock.advance(99ms);
    QCOMPARE(chat(f).status, 429L);
    f.clock.advance(1ms);
    QCOMPARE(chat(f).status, 200L);
    QCOMPARE(chat(f).status, 429L);

    const MockStats s = f.mock.stats();
    QCOMPARE(s.requests, std::int64_t{14});
    QCOMPARE(s.accepted, std::int64_t{11});
    QCOMPARE(s.rateLimitedBy(LimitKind::Requests), std::int64_t{3});
}

void TestMockLimits::tpmMessageAndRetryHints()
{
    RateLimits l;
    l.tokensPerMinute = 30'000;
    MockConfig c = limited(l);
    c.retryAfterMs = true;  // as Azure sends
    MockFixture f(c);
    // The prompt is estimated at 14 tokens: 14 + 7,986 = 8,000 per request.
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(chat(f, 7986).status, 200L);
    }
    f.clock.advance(2426ms);  // 1,213 tokens back at 500 a second
    const auto refused = chat(f, 7986);
    QCOMPARE(refused.status, 429L);
    QCOMPARE(parseJson(refused.body)["error"]["type"], json("tokens"));
    QCOMPARE(errorMessage(refused),
             std::string("Rate limit reached for gpt-4o-mini in organization org-mock on tokens per min (TPM): "
                         "Limit 30000, Used 22787, Requested 8000. Please try again in 1.574s. Visit "
                         "https://platform.openai.com/account/rate-limits to learn more."));
    QCOMPARE(refused.header("retry-after").value_or(""), std::string("2"));
    QCOMPARE(refused.header("retry-after-ms").value_or(""), std::string("1574"));
    QCOMPARE(refused.header("x-ratelimit-remaining-tokens").value_or(""), std::string("7213"));
    QCOMPARE(refused.header("x-ratelimit-reset-tokens").value_or(""), std::string("45.574s"));
    f.clock.advance(1573ms);
    QCOMPARE(chat(f, 7986).status, 429L);
    f.clock.advance(1ms);
    QCOMPARE(chat(f, 7986).status, 200L);
    QCOMPARE(f.mock.stats().rateLimitedBy(LimitKind::Tokens), std::int64_t{2});
    QCOMPARE(f.mock.stats().chargedTokens, std::int64_t{4 * 8000});
}

void TestMockLimits::requestTooLargeNeverFits()
{
    RateLimits l;
    l.tokensPerMinute = 30'000;
    MockFixture f(limited(l));
    // 14 + 3 choices × 12,088 = 36,278 tokens against a 30,000 limit.
    const auto r = chat(f, 12088, "sk-mock", R"(,"n":3)");
    QCOMPARE(r.status, 429L);
    QCOMPARE(parseJson(r.body)["error"]["code"], json("rate_limit_exceeded"));
    QCOMPARE(errorMessage(r),
             std::string("Request too large for gpt-4o-mini in organization org-mock on tokens per min (TPM): "
                         "Limit 30000, Requested 36278. The input or output tokens must be reduced in order to run "
                         "successfully. Visit https://platform.openai.com/account/rate-limits to learn more."));
    QVERIFY(!r.header("retry-after"));  // waiting cannot help
    f.clock.advance(10min);
    QCOMPARE(chat(f, 12088, "sk-mock", R"(,"n":3)").status, 429L);
    QCOMPARE(f.mock.stats().tooLarge, std::int64_t{2});
    QCOMPARE(f.mock.stats().accepted, std::int64_t{0});
    QCOMPARE(chat(f, 100).status, 200L);  // nothing was charged
    QCOMPARE(chat(f, 100).header("x-ratelimit-remaining-tokens").value_or(""), std::to_string(30'000 - 2 * 114));
}

void TestMockLimits::insufficientQuota()
{
    MockConfig c = limited({});
    c.keys["sk-broke"].quotaExhausted = true;
    MockFixture f(c);
    const auto r = chat(f, 50, "sk-broke");
    QCOMPARE(r.status, 429L);
    const json e = parseJson(r.body)["error"];
    QCOMPARE(e["type"], json("insufficient_quota"));
    QCOMPARE(e["code"], json("insufficient_quota"));
    QVERIFY(e["message"].get<std::string>().find("You exceeded your current quota") == 0);
    QVERIFY(!r.header("retry-after"));
    QCOMPARE(chat(f, 50, "sk-mock").status, 200L);  // one key out of quota, the other fine
    QCOMPARE(f.mock.stats().quotaExhausted, std::int64_t{1});
}

void TestMockLimits::anthropicSpendCap()
{
    MockConfig c = limited({});
    c.keys["sk-capped"].quotaExhausted = true;
    MockFixture f(c);
    const auto r = f.http.post("/v1/messages", anthropicBody(), anthropicHeaders("sk-capped"));
    QCOMPARE(r.status, 429L);
    const json e = parseJson(r.body);
    QCOMPARE(e["error"]["type"], json("rate_limit_error"));
    QCOMPARE(e["error"]["details"]["error_code"], json("enforced_spend_limit_reached"));
    QVERIFY(e["error"]["message"].get<std::string>().find("2026-02-01 at 00:00 UTC") != std::string::npos);
    QVERIFY(!r.header("retry-after"));
}

void TestMockLimits::quotaTokensRunOut()
{
    MockConfig c = limited({});
    c.keys["sk-trial"].quotaTokens = 100;
    MockFixture f(c);
    QCOMPARE(chat(f, 50, "sk-trial").status, 200L);  // 64 charged
    QCOMPARE(chat(f, 50, "sk-trial").status, 200L);  // 128: over, but it was under when it arrived
    const auto r = chat(f, 50, "sk-trial");
    QCOMPARE(r.status, 429L);
    QCOMPARE(parseJson(r.body)["error"]["code"], json("insufficient_quota"));
}

void TestMockLimits::requestsPerDay()
{
    RateLimits l;
    l.requestsPerDay = 3;
    MockFixture f(limited(l));
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(chat(f).status, 200L);
    }
    const auto r = chat(f);
    QCOMPARE(r.status, 429L);
    QVERIFY2(errorMessage(r).find("on requests per day (RPD): Limit 3, Used 3, Requested 1. Please try again in "
                                  "8h0m0s.") != std::string::npos,
             errorMessage(r).c_str());
    QCOMPARE(r.header("retry-after").value_or(""), std::string("28800"));
    f.clock.advance(8h);
    QCOMPARE(chat(f).status, 200L);
    QCOMPARE(f.mock.stats().rateLimitedBy(LimitKind::RequestsPerDay), std::int64_t{1});
}

void TestMockLimits::otpmReservedThenCorrected()
{
    RateLimits a;
    a.outputTokensPerMinute = 1000;
    a.outputCharging = OutputCharging::ReserveThenCorrect;
    MockFixture f(limited({}, a));  // every answer is 100 tokens
    auto r = message(f, 600);
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.header("anthropic-ratelimit-output-tokens-remaining").value_or(""), std::string("0"));  // 400, rounded
    QCOMPARE(parseJson(r.body)["usage"]["output_tokens"], json(100));
    // 500 of the 600 reserved came back when the answer ended.
    r = message(f, 600);
    QCOMPARE(r.status, 200L);
    r = message(f, 900);  // 800 left
    QCOMPARE(r.status, 429L);
    const json e = parseJson(r.body);
    QCOMPARE(e["error"]["type"], json("rate_limit_error"));
    QVERIFY(e["error"]["message"].get<std::string>().find("of 1,000 output tokens per minute.") != std::string::npos);
    QCOMPARE(r.header("retry-after").value_or(""), std::string("6"));  // 100 tokens at 1,000 a minute
    QCOMPARE(e["request_id"].get<std::string>(), r.header("request-id").value_or(""));
    f.clock.advance(6s);
    QCOMPARE(message(f, 900).status, 200L);
    const MockStats s = f.mock.stats();
    QCOMPARE(s.rateLimitedBy(LimitKind::OutputTokens), std::int64_t{1});
    QCOMPARE(s.outputTokens, std::int64_t{300});
    QCOMPARE(s.chargedTokens, std::int64_t{3 * (13 + 100)});
}

// "tokensCharging": "refund": the TPM charge on arrival is the same, and
// the output an answer did not use comes back when it ends.
void TestMockLimits::tpmRefundsUnusedOutput()
{
    RateLimits l;
    l.tokensPerMinute = 30'000;
    l.tokenCharging = TokenCharging::Refunded;
    MockFixture f(limited(l));  // every answer is 100 tokens
    // 14 + 7,986 = 8,000 on arrival, 7,886 of it back at the end: ten fit
    // where three would.
    for (int i = 0; i < 10; ++i) {
        const auto r = chat(f, 7986);
        QVERIFY2(r.status == 200, r.body.c_str());
    }
    // What the key was charged: its prompts and what was produced.
    QCOMPARE(f.mock.stats().chargedTokens, std::int64_t{10 * (14 + 100)});
    // Kept on arrival, the fourth is refused.
    l.tokenCharging = TokenCharging::OnArrival;
    MockFixture kept(limited(l));
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(chat(kept, 7986).status, 200L);
    }
    QCOMPARE(chat(kept, 7986).status, 429L);
}

// "tokensCharging": "completion": the prompt on arrival, the output when
// the answer ends, whatever max_tokens says.
void TestMockLimits::tpmChargedOnCompletion()
{
    RateLimits l;
    l.tokensPerMinute = 300;
    l.tokenCharging = TokenCharging::OnCompletion;
    MockFixture f(limited(l));  // every answer is 100 tokens
    // max_tokens far above the whole limit: 14 on arrival, 100 at the end.
    for (int i = 0; i < 3; ++i) {
        const auto r = chat(f, 7986);
        QVERIFY2(r.status == 200, r.body.c_str());
    }
    QCOMPARE(f.mock.stats().chargedTokens, std::int64_t{3 * (14 + 100)});
    // 342 charged of 300: overdrawn, the next prompt waits for the refill.
    const auto r = chat(f, 7986);
    QCOMPARE(r.status, 429L);
    f.clock.advance(12s);  // 60 tokens back
    QCOMPARE(chat(f, 7986).status, 200L);
}

void TestMockLimits::otpmActualOutputOnly()
{
    RateLimits a;
    a.outputTokensPerMinute = 250;
    a.outputCharging = OutputCharging::ActualOnly;
    MockFixture f(limited({}, a));
    // max_tokens far above the limit costs nothing up front.
    QCOMPARE(message(f, 5000).status, 200L);  // 100 produced
    QCOMPARE(message(f, 5000).status, 200L);  // 200
    QCOMPARE(message(f, 5000).status, 200L);  // 300: overdrawn by 50
    const auto r = message(f, 10);
    QCOMPARE(r.status, 429L);
    QCOMPARE(r.header("retry-after").value_or(""), std::string("13"));  // 51 tokens at 250 a minute: 12.24 s
    f.clock.advance(12'240ms);
    QCOMPARE(message(f, 10).status, 200L);
}

void TestMockLimits::itpmCountsInput()
{
    RateLimits a;
    a.inputTokensPerMinute = 100;
    MockFixture f(limited({}, a));
    const std::string long80(240, 'a');  // 60 tokens of content, 66 in all
    auto r = message(f, 10, long80);
    QCOMPARE(r.status, 200L);
    QCOMPARE(parseJson(r.body)["usage"]["input_tokens"], json(66));
    r = message(f, 10, long80);
    QCOMPARE(r.status, 429L);
    QVERIFY(errorMessage(r).find("of 100 input tokens per minute") != std::string::npos);
    QCOMPARE(r.header("anthropic-ratelimit-input-tokens-limit").value_or(""), std::string("100"));
    QCOMPARE(f.mock.stats().rateLimitedBy(LimitKind::InputTokens), std::int64_t{1});
}

void TestMockLimits::limitsArePerKeyAndOverridable()
{
    RateLimits l;
    l.requestsPerMinute = 2;
    MockConfig c = limited(l);
    c.keys["sk-other"] = MockKey{};
    c.keys["sk-tiny"].limits["gpt-4o-mini"].requestsPerMinute = 1;
    MockFixture f(c);
    QCOMPARE(chat(f, 10, "sk-mock").status, 200L);
    QCOMPARE(chat(f, 10, "sk-mock").status, 200L);
    QCOMPARE(chat(f, 10, "sk-mock").status, 429L);
    QCOMPARE(chat(f, 10, "sk-other").status, 200L);  // its own buckets
    QCOMPARE(chat(f, 10, "sk-tiny").status, 200L);
    const auto r = chat(f, 10, "sk-tiny");
    QCOMPARE(r.status, 429L);
    QVERIFY(errorMessage(r).find("Limit 1,") != std::string::npos);
}

void TestMockLimits::liveLimitChangeKeepsUsage()
{
    RateLimits l;
    l.requestsPerMinute = 2;
    MockFixture f(limited(l));
    QCOMPARE(chat(f).status, 200L);
    QCOMPARE(chat(f).status, 200L);
    QCOMPARE(chat(f).status, 429L);
    f.mock.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"rpm":4}}}})");
    QCOMPARE(chat(f).status, 200L);  // the two added
    QCOMPARE(chat(f).status, 200L);
    const auto r = chat(f);
    QCOMPARE(r.status, 429L);
    QCOMPARE(r.header("x-ratelimit-limit-requests").value_or(""), std::string("4"));
    f.mock.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"rpm":1}}}})");
    f.clock.advance(1min);  // 4 used against 1: still 3 over
    QCOMPARE(chat(f).status, 429L);
    f.clock.advance(3min);
    QCOMPARE(chat(f).status, 200L);
}

void TestMockLimits::noLimitsMeansNoHeadersAndNo429()
{
    RateLimits l;
    l.requestsPerMinute = 1;
    MockConfig c = limited(l);
    c.limitsEnabled = false;
    MockFixture f(c);
    for (int i = 0; i < 5; ++i) {
        const auto r = chat(f);
        QCOMPARE(r.status, 200L);
        QVERIFY(!r.hasHeaderStartingWith("x-ratelimit-"));
    }
    QCOMPARE(f.mock.stats().accepted, std::int64_t{5});
}


void TestMockLimits::accelerationRampsAfterIdle()
{
    // 600 RPM per second (10 at once, one more every 100 ms); after 60 s
    // idle the allowance starts at a quarter and rises to the whole limit
    // over 20 s.
    MockConfig c = limited({});
    c.models["claude-haiku-4-5"].limits.requestsPerMinute = 600;
    c.models["claude-haiku-4-5"].limits.granularity = 1s;
    c.models["claude-haiku-4-5"].limits.inputTokensPerMinute = 0;
    c.models["claude-haiku-4-5"].limits.outputTokensPerMinute = 0;
    MockFixture f(c);
    f.mock.applyPatch(
        R"({"models":{"claude-haiku-4-5":{"limits":{"acceleration":{"idle":"60s","ramp":"20s","start":0.25}}}}})");
    // A copy: config() returns the configuration by value.
    const Acceleration acc = f.mock.config().models.at("claude-haiku-4-5").limits.acceleration;
    QCOMPARE(acc.idle, Duration(60s));
    QVERIFY(acc.enabled());

    // From idle: a quarter of the bucket (2 of 10) at once, then a 429
    // naming the request limit, though the bucket has room for 8 more.
    QCOMPARE(message(f, 5).status, 200L);
    QCOMPARE(message(f, 5).status, 200L);
    const auto refused = message(f, 5);
    QCOMPARE(refused.status, 429L);
    QCOMPARE(parseJson(refused.body)["error"]["type"], json("rate_limit_error"));
    QVERIFY(refused.header("retry-after"));
    QCOMPARE(refused.header("anthropic-ratelimit-requests-remaining").value_or(""), std::string("8"));

    // At the ramp's start the allowance grows at a quarter of the rate
    // (2.5/s): one more after 400 ms, not after 100 ms.
    f.clock.advance(300ms);
    QCOMPARE(message(f, 5).status, 429L);
    f.clock.advance(100ms);
    QCOMPARE(message(f, 5).status, 200L);

    // Paced at the full rate through the ramp: refused at its start,
    // admitted throughout once the ramp is over.
    int early = 0;
    for (int i = 0; i < 20; ++i) {
        f.clock.advance(100ms);
        early += message(f, 5).status == 200 ? 1 : 0;
    }
    QVERIFY2(early < 15, std::to_string(early).c_str());
    f.clock.advance(20s);
    for (int i = 0; i < 30; ++i) {
        f.clock.advance(100ms);
        QCOMPARE(message(f, 5).status, 200L);
    }
    // Steady use keeps it open; a minute of idle brings the ramp back.
    f.clock.advance(61s);
    for (int i = 0; i < 2; ++i) {
        QCOMPARE(message(f, 5).status, 200L);
    }
    QCOMPARE(message(f, 5).status, 429L);
    // The configuration reads back as written.
    const json back = parseJson(f.http.get("/mock/config").body);
    QCOMPARE(back["models"]["claude-haiku-4-5"]["limits"]["acceleration"]["ramp"], json("20s"));
}

void TestMockLimits::accelerationConfigErrors()
{
    const auto error = [](const std::string& acceleration) {
        try {
            parseMockConfig(R"({"models":{"m":{"flavor":"anthropic","limits":{"rpm":50,"acceleration":)" +
                                acceleration + "}}}}",
                            "mock.json");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    QVERIFY2(error(R"({"ramp":"30s"})").find("/models/m/limits/acceleration/idle: is required") != std::string::npos,
             error(R"({"ramp":"30s"})").c_str());
    QVERIFY(error(R"({"idle":"60s","ramp":"2h"})").find("/acceleration/ramp: must be a duration") != std::string::npos);
    QVERIFY(error(R"({"idle":"60s","ramp":"30s","start":1.5})").find("/acceleration/start") != std::string::npos);
    QVERIFY(error(R"({"idle":"60s","ramp":"30s","fast":true})").find("/acceleration/fast: unknown field") !=
            std::string::npos);
}

QTEST_APPLESS_MAIN(TestMockLimits)
#include "tst_mock_limits.moc"
