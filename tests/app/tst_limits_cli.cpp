// The real `sluice-cli limits`: each scope's limits with their burst and
// where it came from, "auto" concurrency, the pacing margin; a bad config
// is exit 2 with the file, line and field named.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

namespace {

struct Run {
    int exit = -1;
    QString out;
    QString err;
};

Run limits(const QString& config)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("LIMITS_TEST_KEY"));  // not needed: nothing is sent
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(SLUICE_CLI_PATH), {QStringLiteral("limits"), QStringLiteral("--config"), config});
    if (!p.waitForFinished(30'000)) {
        return {};
    }
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

QString write(const QTemporaryDir& dir, const QString& name, const QByteArray& text)
{
    const QString path = dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) {
        return {};
    }
    f.write(text);
    return path;
}

}  // namespace

class TestLimitsCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void explainsEachScope();
    void badConfigIsExit2();
};

void TestLimitsCli::explainsEachScope()
{
    QTemporaryDir dir;
    const QString config = write(dir, QStringLiteral("c.json"), R"({
  "global": { "limits": { "spend_per_day_usd": 20, "rpm": 1200, "granularity_s": 5 } },
  "providers": [ { "name": "openai", "flavor": "openai", "base_url": "https://api.openai.com/v1",
    "limits": { "concurrency": "auto" },
    "models": { "gpt-4o": { "limits": { "rpm": 600, "tpm": 60000 } },
                "gpt-4o-mini": { "limits": { "rpm": 600, "granularity_s": 10 } } },
    "keys": [ { "name": "main", "env": "LIMITS_TEST_KEY", "limits": { "concurrency": { "auto": { "initial": 2, "max": 9 } } } } ] } ]
})");
    const Run r = limits(config);
    QVERIFY2(r.exit == 0, qPrintable(r.err));
    const QStringList wanted = {
        QStringLiteral("global\n  rpm 1200  configured; burst 99 (granularity_s 5 configured, less 50 ms of rate for arrival jitter)\n"
                       "  spend_per_day_usd 20  configured, per day\n"),
        QStringLiteral("provider openai\n  concurrency 4  adaptive (\"auto\"): starts at 4, found at run time within [1, 256]\n"),
        QStringLiteral("burst = limit x 1 s / 60 s (learned_granularity_s)"),
        QStringLiteral("provider openai, model gpt-4o (per key)\n"
                       "  rpm 600  configured; burst 9 (default granularity 1 s: a second's worth, less 50 ms of rate for arrival jitter)\n"
                       "  tpm 60000  configured; burst 950 (default granularity 1 s: a second's worth, less 50 ms of rate for arrival jitter)\n"),
        QStringLiteral("provider openai, model gpt-4o-mini (per key)\n"
                       "  rpm 600  configured; burst 99 (granularity_s 10 configured, less 50 ms of rate for arrival jitter)\n"),
        QStringLiteral("provider openai, key main\n"
                       "  concurrency 2  adaptive (\"auto\"): starts at 2, found at run time within [1, 9]\n"),
        QStringLiteral("Pacing margin: each request on a per-minute limit is spaced 0.5% of its refill time beyond the "
                       "rate, up to 4.0% after near-miss 429s (10% while a burst after idle is paid back); a request "
                       "that fills a whole bucket 6 ms more, widened by near misses to cover the lateness they "
                       "report, at most 1.0% of its refill time. Against a provider found to count a window, "
                       "requests go evenly, 0.5% beyond the rate, widened by near misses up to 2.0%\n"),
    };
    for (const QString& w : wanted) {
        QVERIFY2(r.out.contains(w), qPrintable(QStringLiteral("missing:\n%1\n--- got:\n%2").arg(w, r.out)));
    }
}

void TestLimitsCli::badConfigIsExit2()
{
    QTemporaryDir dir;
    const QString config = write(dir, QStringLiteral("bad.json"), R"({
  "providers": [ { "name": "openai", "flavor": "openai", "base_url": "https://api.openai.com/v1",
    "models": { "gpt-4o": { "limits": { "rpm": 0 } } },
    "keys": [ { "name": "main", "env": "LIMITS_TEST_KEY" } ] } ]
})");
    const Run r = limits(config);
    QCOMPARE(r.exit, 2);
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains(QStringLiteral("bad.json:3: /providers/0/models/gpt-4o/limits/rpm: must be more than 0")),
             qPrintable(r.err));

    const Run missing = limits(dir.filePath(QStringLiteral("nope.json")));
    QCOMPARE(missing.exit, 2);
    QVERIFY2(missing.err.contains(QStringLiteral("nope.json")), qPrintable(missing.err));
}

QTEST_GUILESS_MAIN(TestLimitsCli)
#include "tst_limits_cli.moc"
