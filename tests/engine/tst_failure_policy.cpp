// FailurePolicy as a table: ARCHITECTURE.md's failure table, one row per
// case, each naming what happens to the key, the provider and the job. The
// jitter returns its ceiling, so every time is exact.
#include "dispatch/failure_policy.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

Q_DECLARE_METATYPE(FailureClass)
Q_DECLARE_METATYPE(FailureAction::Next)

namespace {

const TimePoint kNow = TimePoint(std::chrono::hours(1000));

RetryConfig retryConfig()
{
    RetryConfig r;
    r.maxAttempts = 3;
    r.baseDelay = 500ms;
    r.maxDelay = 8s;
    r.maxRateLimitRetries = 2;
    r.maxRetryAfter = 60s;
    return r;
}

// Milliseconds after kNow; -1 for "not set".
qint64 after(const std::optional<TimePoint>& t)
{
    return t ? std::chrono::duration_cast<std::chrono::milliseconds>(*t - kNow).count() : -1;
}

}  // namespace

class TestFailurePolicy : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void table_data();
    void table();
    void ceilingDoublesUpToTheCap();
    void unreachableProviderIsBackedOffNotTheJob_data();
    void unreachableProviderIsBackedOffNotTheJob();
    void bucketResetPrefersAnEmptyRequestsBucket();
};

void TestFailurePolicy::table_data()
{
    QTest::addColumn<FailureClass>("cls");
    QTest::addColumn<qint64>("retryAfterMs");   // the provider's hint; -1 none
    QTest::addColumn<qint64>("bucketResetMs");  // from rate-limit headers; -1 none
    QTest::addColumn<int>("shouldRetry");       // x-should-retry: -1 absent, 0 false, 1 true
    QTest::addColumn<int>("attempts");          // before this failure
    QTest::addColumn<int>("rateLimitRetries");
    QTest::addColumn<int>("keyStreak");
    QTest::addColumn<int>("providerStreak");
    QTest::addColumn<bool>("headShown");
    // Expected:
    QTest::addColumn<FailureAction::Next>("next");
    QTest::addColumn<qint64>("retryAtMs");       // RetryAt only
    QTest::addColumn<qint64>("coolKeyMs");       // -1: the key is not cooled
    QTest::addColumn<bool>("quarantine");
    QTest::addColumn<qint64>("providerMs");      // -1: the provider is not backed off
    QTest::addColumn<FailureClass>("deadClass");  // DeadLetter only
    QTest::addColumn<int>("attemptsAfter");
    QTest::addColumn<int>("rateLimitRetriesAfter");
    QTest::addColumn<QString>("reasonHas");

    using N = FailureAction::Next;
    using C = FailureClass;
    const C none = C::None;
    // 429: cool the key+model, requeue, no attempt burnt.
    // A hint costs itself plus the 10 ms near-miss margin.
    QTest::newRow("429 with retry-after: cool until the hint and the margin")
        << C::RateLimited << 1500LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << 1510LL << false << -1LL << none << 0 << 1 << QString();
    QTest::newRow("429 without a hint: the empty bucket's reset")
        << C::RateLimited << -1LL << 700LL << -1 << 2 << 1 << 0 << 0 << false
        << N::Requeue << 0LL << 710LL << false << -1LL << none << 2 << 2 << QString();
    QTest::newRow("429 without any hint: backoff on the key's streak, +100 ms")
        << C::RateLimited << -1LL << -1LL << -1 << 0 << 0 << 2 << 0 << false
        << N::Requeue << 0LL << 2100LL << false << -1LL << none << 0 << 1 << QString();
    QTest::newRow("429 with a hint of 0 ms (a near miss): the margin, not a backoff")
        << C::RateLimited << 0LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << 10LL << false << -1LL << none << 0 << 1 << QString();
    QTest::newRow("429 hint above max_retry_after is capped")
        << C::RateLimited << 600000LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << 60000LL << false << -1LL << none << 0 << 1 << QString();
    // "retry-after: 1" alone says anything up to a second: after a
    // success it is taken as a near miss, the second in a row at its word.
    QTest::newRow("429 with only a rounded second after a success: a near miss's rest")
        << C::RateLimited << 1000LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << 50LL << false << -1LL << none << 0 << 1 << QString();
    QTest::newRow("429 with a rounded second twice in a row: the hint at its word")
        << C::RateLimited << 1000LL << -1LL << -1 << 0 << 1 << 1 << 0 << false
        << N::Requeue << 0LL << 1010LL << false << -1LL << none << 0 << 2 << QString();
    QTest::newRow("429 past max_rate_limit_retries: dead letter")
        << C::RateLimited << 1000LL << -1LL << -1 << 0 << 2 << 1 << 0 << false
        << N::DeadLetter << 0LL << 1010LL << false << -1LL << C::RateLimited << 0 << 3 << QStringLiteral("rate limited 3 times");
    // The request is wrong: fail at once.
    QTest::newRow("too large: dead letter at once")
        << C::RequestTooLarge << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::RequestTooLarge << 0 << 0 << QStringLiteral("request_too_large");
    QTest::newRow("400: dead letter at once")
        << C::BadRequest << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::BadRequest << 0 << 0 << QStringLiteral("bad_request");
    QTest::newRow("404 the provider says to retry: retried like a 5xx")
        << C::NotFound << -1LL << -1LL << 1 << 0 << 0 << 0 << 0 << false
        << N::RetryAt << 500LL << -1LL << false << -1LL << none << 1 << 0 << QString();
    // The key is at fault: quarantine it, the job goes to another key.
    QTest::newRow("quota: quarantine the key, requeue")
        << C::QuotaExhausted << -1LL << -1LL << -1 << 1 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << -1LL << true << -1LL << none << 1 << 0 << QString();
    QTest::newRow("401: quarantine the key, requeue")
        << C::AuthFailed << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << -1LL << true << -1LL << none << 0 << 0 << QString();
    // A 403 is about this key and this model: the pair rests (below), the
    // key stays in use.
    QTest::newRow("403: the key+model rests, requeue")
        << C::PermissionDenied << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::Requeue << 0LL << -1LL << false << -1LL << none << 0 << 0 << QString();
    // Overload: back the whole provider off; the job retries when it ends.
    QTest::newRow("529: back the provider off on its streak, retry then")
        << C::Overloaded << -1LL << -1LL << -1 << 0 << 0 << 0 << 1 << false
        << N::RetryAt << 1000LL << -1LL << false << 1000LL << none << 1 << 0 << QString();
    QTest::newRow("503 with retry-after: the provider rests for the hint")
        << C::Overloaded << 3000LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::RetryAt << 3000LL << -1LL << false << 3000LL << none << 1 << 0 << QString();
    // Retryable: capped exponential backoff, attempts counted.
    QTest::newRow("5xx first failure: retry after the base delay")
        << C::ServerError << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::RetryAt << 500LL << -1LL << false << -1LL << none << 1 << 0 << QString();
    QTest::newRow("timeout second failure: retry after twice the base")
        << C::Timeout << -1LL << -1LL << -1 << 1 << 0 << 0 << 0 << false
        << N::RetryAt << 1000LL << -1LL << false << -1LL << none << 2 << 0 << QString();
    QTest::newRow("reset with a retry-after: retry at the hint")
        << C::ConnectionError << 2500LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::RetryAt << 2500LL << -1LL << false << -1LL << none << 1 << 0 << QString();
    QTest::newRow("cut stream, last attempt: dead letter with the count")
        << C::StreamCut << -1LL << -1LL << -1 << 2 << 0 << 0 << 0 << false
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::StreamCut << 3 << 0 << QStringLiteral("gave up after 3 attempts");
    QTest::newRow("5xx the provider says not to retry: dead letter")
        << C::ServerError << -1LL << -1LL << 0 << 0 << 0 << 0 << 0 << false
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::ServerError << 1 << 0 << QStringLiteral("said not to retry");
    QTest::newRow("deadline passed: dead letter")
        << C::DeadlineExceeded << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << false
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::DeadlineExceeded << 1 << 0 << QString();
    QTest::newRow("stream error after its head reached a client: never retried")
        << C::StreamError << -1LL << -1LL << -1 << 0 << 0 << 0 << 0 << true
        << N::DeadLetter << 0LL << -1LL << false << -1LL << C::StreamError << 1 << 0 << QStringLiteral("begun to reach its client");
}

void TestFailurePolicy::table()
{
    QFETCH(FailureClass, cls);
    QFETCH(qint64, retryAfterMs);
    QFETCH(qint64, bucketResetMs);
    QFETCH(int, shouldRetry);
    QFETCH(int, attempts);
    QFETCH(int, rateLimitRetries);
    QFETCH(int, keyStreak);
    QFETCH(int, providerStreak);
    QFETCH(bool, headShown);
    QFETCH(FailureAction::Next, next);
    QFETCH(qint64, retryAtMs);
    QFETCH(qint64, coolKeyMs);
    QFETCH(bool, quarantine);
    QFETCH(qint64, providerMs);
    QFETCH(FailureClass, deadClass);
    QFETCH(int, attemptsAfter);
    QFETCH(int, rateLimitRetriesAfter);
    QFETCH(QString, reasonHas);

    FailureInput in;
    in.triage.cls = cls;
    in.triage.message = "from the provider";
    if (retryAfterMs >= 0) {
        in.triage.retryAfter = std::chrono::milliseconds(retryAfterMs);
    }
    if (shouldRetry >= 0) {
        in.triage.shouldRetry = shouldRetry == 1;
    }
    if (bucketResetMs >= 0) {
        in.bucketReset = std::chrono::milliseconds(bucketResetMs);
    }
    in.history.attempts = attempts;
    in.history.rateLimitRetries = rateLimitRetries;
    in.history.keyRateLimitStreak = keyStreak;
    in.history.providerOverloadStreak = providerStreak;
    in.history.headShown = headShown;
    in.now = kNow;
    in.keyCoolingUntil = kNow - 1s;
    in.providerBackoffUntil = kNow - 1s;

    int jitterCalls = 0;
    const FailureAction a = decideFailure(in, retryConfig(), [&](Duration ceiling) {
        ++jitterCalls;
        return ceiling;
    });
    QCOMPARE(a.next, next);
    if (next == FailureAction::Next::RetryAt) {
        QCOMPARE(after(a.retryAt), retryAtMs);
    }
    QCOMPARE(after(a.coolKeyUntil), coolKeyMs);
    QCOMPARE(a.quarantineKey, quarantine);
    QCOMPARE(after(a.backOffProviderUntil), providerMs);
    // Only a 403 sets a key+model aside, for a minute.
    QCOMPARE(after(a.denyKeyModelUntil), cls == FailureClass::PermissionDenied ? 60000LL : -1LL);
    if (next == FailureAction::Next::DeadLetter) {
        QCOMPARE(a.cls, deadClass);
        QVERIFY2(a.reason.find(reasonHas.toStdString()) != std::string::npos, a.reason.c_str());
    }
    QCOMPARE(a.history.attempts, attemptsAfter);
    QCOMPARE(a.history.rateLimitRetries, rateLimitRetriesAfter);
    // Streaks grow only for their own class.
    QCOMPARE(a.history.keyRateLimitStreak, keyStreak + (cls == FailureClass::RateLimited ? 1 : 0));
    QCOMPARE(a.history.providerOverloadStreak, providerStreak + (cls == FailureClass::Overloaded ? 1 : 0));
    QVERIFY(jitterCalls <= 2);
}

void TestFailurePolicy::unreachableProviderIsBackedOffNotTheJob_data()
{
    QTest::addColumn<int>("streak");       // unreachable attempts before this one
    QTest::addColumn<int>("attempts");     // the job's, before
    QTest::addColumn<qint64>("providerMs");
    QTest::newRow("first refusal: the base delay") << 0 << 0 << 500LL;
    QTest::newRow("third in a row: doubled twice") << 2 << 0 << 2000LL;
    QTest::newRow("a long outage: capped at max_delay") << 30 << 0 << 8000LL;
    QTest::newRow("on the job's last attempt: still not given up") << 0 << 2 << 500LL;
}

void TestFailurePolicy::unreachableProviderIsBackedOffNotTheJob()
{
    QFETCH(int, streak);
    QFETCH(int, attempts);
    QFETCH(qint64, providerMs);
    FailureInput in;
    in.triage.cls = FailureClass::ConnectionError;
    in.triage.message = "Connection refused";
    in.unreachable = true;
    in.history.attempts = attempts;
    in.history.providerUnreachableStreak = streak;
    in.now = kNow;
    const FailureAction a = decideFailure(in, retryConfig(), [](Duration c) { return c; });
    QCOMPARE(a.next, FailureAction::Next::Requeue);
    QVERIFY(a.providerUnreachable);
    QCOMPARE(after(a.backOffProviderUntil), providerMs);
    QCOMPARE(a.history.attempts, attempts);
    QCOMPARE(a.history.providerUnreachableStreak, streak + 1);
    QVERIFY(!a.coolKeyUntil);
    QVERIFY(!a.quarantineKey);
}

void TestFailurePolicy::ceilingDoublesUpToTheCap()
{
    const RetryConfig r = retryConfig();
    QCOMPARE(retryCeiling(r, 1), Duration(500ms));
    QCOMPARE(retryCeiling(r, 2), Duration(1s));
    QCOMPARE(retryCeiling(r, 5), Duration(8s));
    QCOMPARE(retryCeiling(r, 40), Duration(8s));
}

void TestFailurePolicy::bucketResetPrefersAnEmptyRequestsBucket()
{
    RateLimitHeaders h;
    QVERIFY(!bucketResetHint(h));
    h.tokens.remaining = 10;
    h.tokens.timeToFull = 4s;
    QCOMPARE(*bucketResetHint(h), Duration(4s));
    h.requests.remaining = 0;
    h.requests.timeToFull = 2s;
    QCOMPARE(*bucketResetHint(h), Duration(2s));
}

QTEST_APPLESS_MAIN(TestFailurePolicy)
#include "tst_failure_policy.moc"
