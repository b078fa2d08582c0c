// Go durations, RFC 3339 and HTTP dates as providers write them.
#include "core/timefmt.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

class TestTimeFmt : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void goDuration_data();
    void goDuration();
    void goDurationRejects_data();
    void goDurationRejects();
    void formatGo_data();
    void formatGo();
    void rfc3339();
    void httpDate();
    void decimalSeconds();
};

void TestTimeFmt::goDuration_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<qint64>("ns");
    QTest::newRow("ms") << QStringLiteral("20ms") << qint64(20'000'000);
    QTest::newRow("decimal seconds") << QStringLiteral("33.023s") << qint64(33'023'000'000);
    QTest::newRow("minutes and seconds") << QStringLiteral("6m0s") << qint64(360'000'000'000);
    QTest::newRow("h m s run together") << QStringLiteral("1h23m31s") << qint64(5'011'000'000'000);
    QTest::newRow("fractional ms") << QStringLiteral("1.574ms") << qint64(1'574'000);
    QTest::newRow("micro, u") << QStringLiteral("12us") << qint64(12'000);
    QTest::newRow("micro, µ") << QStringLiteral("12µs") << qint64(12'000);
    QTest::newRow("zero") << QStringLiteral("0") << qint64(0);
    QTest::newRow("0s") << QStringLiteral("0s") << qint64(0);
    QTest::newRow("leading dot") << QStringLiteral(".5s") << qint64(500'000'000);
    QTest::newRow("negative") << QStringLiteral("-1.5s") << qint64(-1'500'000'000);
}

void TestTimeFmt::goDuration()
{
    QFETCH(QString, text);
    QFETCH(qint64, ns);
    const auto d = parseGoDuration(text.toStdString());
    QVERIFY(d.has_value());
    QCOMPARE(d->count(), ns);
}

void TestTimeFmt::goDurationRejects_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("empty") << QString();
    QTest::newRow("bare number") << QStringLiteral("12");
    QTest::newRow("unknown unit") << QStringLiteral("5d");
    QTest::newRow("no digits") << QStringLiteral("s");
    QTest::newRow("dot alone") << QStringLiteral(".s");
    QTest::newRow("-1 (Azure unknown)") << QStringLiteral("-1");
}

void TestTimeFmt::goDurationRejects()
{
    QFETCH(QString, text);
    QVERIFY(!parseGoDuration(text.toStdString()).has_value());
}

void TestTimeFmt::formatGo_data()
{
    QTest::addColumn<qint64>("ns");
    QTest::addColumn<QString>("text");
    QTest::newRow("zero") << qint64(0) << QStringLiteral("0s");
    QTest::newRow("12ms") << qint64(12'000'000) << QStringLiteral("12ms");
    QTest::newRow("1.574s") << qint64(1'574'000'000) << QStringLiteral("1.574s");
    QTest::newRow("6m0s") << qint64(360'000'000'000) << QStringLiteral("6m0s");
    QTest::newRow("1h0m0s") << qint64(3'600'000'000'000) << QStringLiteral("1h0m0s");
    QTest::newRow("1h23m31s") << qint64(5'011'000'000'000) << QStringLiteral("1h23m31s");
    QTest::newRow("644ms") << qint64(644'000'000) << QStringLiteral("644ms");
    QTest::newRow("1.5µs") << qint64(1'500) << QStringLiteral("1.5µs");
    QTest::newRow("ns") << qint64(7) << QStringLiteral("7ns");
}

void TestTimeFmt::formatGo()
{
    QFETCH(qint64, ns);
    QFETCH(QString, text);
    const std::string s = formatGoDuration(Duration(ns));
    QCOMPARE(QString::fromStdString(s), text);
    QCOMPARE(parseGoDuration(s)->count(), ns);  // round trip
}

void TestTimeFmt::rfc3339()
{
    const auto t = parseRfc3339("2025-08-21T12:40:59Z");
    QVERIFY(t.has_value());
    QCOMPARE(t->time_since_epoch(), Duration(1'755'780'059LL * 1'000'000'000LL));
    QCOMPARE(QString::fromStdString(formatRfc3339(*t)), QStringLiteral("2025-08-21T12:40:59Z"));
    QCOMPARE(QString::fromStdString(formatRfc3339(*t + 250ms, 3)), QStringLiteral("2025-08-21T12:40:59.250Z"));
    QCOMPARE(*parseRfc3339("2025-08-21T14:40:59.5+02:00"), *t + 500ms);
    QVERIFY(!parseRfc3339("2025-02-30T00:00:00Z"));
    QVERIFY(!parseRfc3339("2025-08-21 12:40:59"));
    QVERIFY(!parseRfc3339("2025-08-21T12:40:59Zjunk"));
    QCOMPARE(*parseRfc3339("2024-02-29T00:00:00Z"), *parseRfc3339("2024-02-28T00:00:00Z") + 24h);
}

void TestTimeFmt::httpDate()
{
    const auto t = parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
    QVERIFY(t.has_value());
    QCOMPARE(t->time_since_epoch(), Duration(784'111'777LL * 1'000'000'000LL));
    QCOMPARE(QString::fromStdString(formatHttpDate(*t)), QStringLiteral("Sun, 06 Nov 1994 08:49:37 GMT"));
    QCOMPARE(QString::fromStdString(formatHttpDate(*parseRfc3339("2026-01-01T00:00:00Z"))),
             QStringLiteral("Thu, 01 Jan 2026 00:00:00 GMT"));
    QVERIFY(!parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
}

void TestTimeFmt::decimalSeconds()
{
    QCOMPARE(parseDecimalSeconds("1")->count(), qint64(1'000'000'000));
    QCOMPARE(parseDecimalSeconds("0.5")->count(), qint64(500'000'000));
    QCOMPARE(parseDecimalSeconds("12.25")->count(), qint64(12'250'000'000));
    QVERIFY(!parseDecimalSeconds(""));
    QVERIFY(!parseDecimalSeconds("-1"));
    QVERIFY(!parseDecimalSeconds("1s"));
    QVERIFY(!parseDecimalSeconds("."));
}

QTEST_APPLESS_MAIN(TestTimeFmt)
#include "tst_timefmt.moc"
