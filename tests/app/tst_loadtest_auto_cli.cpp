// The real `sluice-cli loadtest --mock` with "concurrency": "auto" on a
// provider: the run goes through the adaptive wiring (the same as batch and
// serve use) and says the limit it reached; the naive client beside it has
// no dispatcher and is left alone.
#include <nlohmann/json.hpp>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

class TestLoadtestAutoCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reportsTheAdaptiveLimit();
};

void TestLoadtestAutoCli::reportsTheAdaptiveLimit()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string source = SLUICE_SOURCE_DIR;
    std::ifstream in(source + "/resources/config.example.json");
    QVERIFY(in);
    nlohmann::json config = nlohmann::json::parse(in);
    config["providers"][0]["limits"] = {{"concurrency", "auto"}};
    const QString configPath = dir.filePath(QStringLiteral("auto.json"));
    std::ofstream(configPath.toStdString()) << config.dump(1);

    QProcess cli;
    cli.start(QStringLiteral(SLUICE_CLI_PATH),
              {QStringLiteral("loadtest"), QStringLiteral("--config"), configPath, QStringLiteral("--workload"),
               QString::fromStdString(source + "/resources/workloads/steady-mix.json"), QStringLiteral("--mock"),
               QStringLiteral("--duration"), QStringLiteral("4s"), QStringLiteral("--compare-naive"),
               QStringLiteral("3"), QStringLiteral("--progress"), QStringLiteral("never")});
    QVERIFY(cli.waitForFinished(120'000));
    const QString err = QString::fromUtf8(cli.readAllStandardError());
    QVERIFY2(cli.exitCode() == 0, qPrintable(err));
    const QRegularExpression line(
        QStringLiteral(R"(sluice-cli loadtest: \S+: adaptive concurrency at the end: openai (\d+)\n)"));
    const QRegularExpressionMatch m = line.match(err);
    QVERIFY2(m.hasMatch(), qPrintable(err));
    QVERIFY(m.captured(1).toInt() >= 1);
    // Once: for the Sluice run only.
    QCOMPARE(err.count(QStringLiteral("adaptive concurrency at the end")), 1);
}

QTEST_GUILESS_MAIN(TestLoadtestAutoCli)
#include "tst_loadtest_auto_cli.moc"
