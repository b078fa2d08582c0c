// The one thousands grouper and the one money formatter (core/numbers.h)
// that the CLI, the reports, the ledger's messages and the console share.
#include "core/numbers.h"

#include <QtTest>

#include <limits>

using namespace sluice;

class TestNumbers : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void groupsThousands_data();
    void groupsThousands();
    void formatsMicroDollars_data();
    void formatsMicroDollars();
    void formatsDollars_data();
    void formatsDollars();
};

void TestNumbers::groupsThousands_data()
{
    QTest::addColumn<qlonglong>("value");
    QTest::addColumn<QString>("expected");
    QTest::newRow("zero") << 0LL << QStringLiteral("0");
    QTest::newRow("three digits") << 999LL << QStringLiteral("999");
    QTest::newRow("four digits") << 1000LL << QStringLiteral("1,000");
    QTest::newRow("seven digits") << 1234567LL << QStringLiteral("1,234,567");
    QTest::newRow("negative") << -1234LL << QStringLiteral("-1,234");
    QTest::newRow("negative three digits") << -999LL << QStringLiteral("-999");
    QTest::newRow("largest") << qlonglong(std::numeric_limits<std::int64_t>::max())
                             << QStringLiteral("9,223,372,036,854,775,807");
    QTest::newRow("smallest") << qlonglong(std::numeric_limits<std::int64_t>::min())
                              << QStringLiteral("-9,223,372,036,854,775,808");
}

void TestNumbers::groupsThousands()
{
    QFETCH(qlonglong, value);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromStdString(groupThousands(value)), expected);
}

void TestNumbers::formatsMicroDollars_data()
{
    QTest::addColumn<qlonglong>("micro");
    QTest::addColumn<QString>("expected");
    QTest::newRow("nothing") << 0LL << QStringLiteral("$0.00");
    QTest::newRow("one micro-dollar") << 1LL << QStringLiteral("$0.0000");
    QTest::newRow("half a hundredth of a cent rounds up") << 50LL << QStringLiteral("$0.0001");
    QTest::newRow("a request's price") << 12'345LL << QStringLiteral("$0.0123");
    QTest::newRow("just under a dollar") << 999'949LL << QStringLiteral("$0.9999");
    QTest::newRow("rounds to a dollar") << 999'950LL << QStringLiteral("$1.00");
    QTest::newRow("a dollar") << 1'000'000LL << QStringLiteral("$1.00");
    QTest::newRow("cents round half up") << 12'345'000LL << QStringLiteral("$12.35");
    QTest::newRow("grouped") << 1'234'567'890'000LL << QStringLiteral("$1,234,567.89");
    QTest::newRow("negative cents") << -500'000LL << QStringLiteral("-$0.5000");
    QTest::newRow("negative dollars") << -2'500'000LL << QStringLiteral("-$2.50");
    QTest::newRow("negative that rounds to nothing") << -1LL << QStringLiteral("$0.0000");
    QTest::newRow("smallest") << qlonglong(std::numeric_limits<std::int64_t>::min())
                              << QStringLiteral("-$9,223,372,036,854.78");
}

void TestNumbers::formatsMicroDollars()
{
    QFETCH(qlonglong, micro);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromStdString(formatUsd(static_cast<std::int64_t>(micro))), expected);
}

void TestNumbers::formatsDollars_data()
{
    QTest::addColumn<double>("usd");
    QTest::addColumn<QString>("expected");
    QTest::newRow("nothing") << 0.0 << QStringLiteral("$0.00");
    QTest::newRow("a fraction") << 0.0421 << QStringLiteral("$0.0421");
    QTest::newRow("a day's limit") << 20.0 << QStringLiteral("$20.00");
    QTest::newRow("grouped") << 12345.678 << QStringLiteral("$12,345.68");
    QTest::newRow("beyond micro-dollars") << 1e13 << QStringLiteral("$10000000000000.00");
    QTest::newRow("not a number") << std::numeric_limits<double>::quiet_NaN() << QStringLiteral("$?");
}

void TestNumbers::formatsDollars()
{
    QFETCH(double, usd);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromStdString(formatUsd(usd)), expected);
}

QTEST_APPLESS_MAIN(TestNumbers)
#include "tst_numbers.moc"
