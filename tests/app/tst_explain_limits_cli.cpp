// `sluice-cli batch --explain` names the limits in force on the key+model a
// job waited for or was refused on: where each came from (configured,
// learned from headers, lowered by headers), the burst in force after 429s
// and whether the key+model now paces evenly. The real binary against an
// in-process mock that enforces a stricter limit than the configuration
// says, counted in a sliding one-second window, so the first burst meets
// 429s.
#include "mock/mock_provider.h"
#include "support/mock_fixture.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace sluice;
using nlohmann::json;

namespace {

struct Run {
    int exitCode = -1;
    QString err;
    QString out;
};

// Each answer takes 300 ms: the rate-limit headers of the first one cannot
// reach Sluice before the configuration's 6,000 RPM has sent the next few,
// however quick loopback is (with no delay, the first answer's headers could
// lower the limit before a second request went, and nothing met the window).
mock::MockConfig slowConfig()
{
    mock::MockConfig c = test::quietConfig();
    c.latency.baseMs = 300;
    return c;
}

class Fixture {
public:
    Fixture() : provider(clock, slowConfig())
    {
        provider.start();
        // 60 RPM counted in any one second: one request a second.
        provider.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"rpm":60,"granularity":"1s",)"
                            R"("enforcement":"sliding_window"}}}})");
    }
    ~Fixture() { provider.stop(); }

    QString path(const QString& name) const { return dir.filePath(name); }

    void write(int lines)
    {
        // The configuration believes in 6,000 RPM and says nothing of tokens.
        const json config = {
            {"providers", json::array({{{"name", "mock"},
                                        {"flavor", "openai"},
                                        {"base_url", provider.baseUrl()},
                                        {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 6000}}}}}}},
                                        {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})},
            {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
        std::ofstream(path(QStringLiteral("config.json")).toStdString()) << config.dump(2);
        std::ofstream in(path(QStringLiteral("in.jsonl")).toStdString());
        for (int i = 0; i < lines; ++i) {
            in << json{{"custom_id", "req-" + std::to_string(i)},
                       {"method", "POST"},
                       {"url", "/v1/chat/completions"},
                       {"body",
                        {{"model", "gpt-4o-mini"},
                         {"max_tokens", 16},
                         {"messages", json::array({{{"role", "user"}, {"content", "line " + std::to_string(i)}}})}}}}
                      .dump()
               << '\n';
        }
    }

    Run run(const QStringList& args) const
    {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("MOCK_KEY"), QStringLiteral("sk-mock"));
        env.insert(QStringLiteral("XDG_DATA_HOME"), path(QStringLiteral("xdg")));
        p.setProcessEnvironment(env);
        p.setProgram(QStringLiteral(SLUICE_CLI_PATH));
        p.setArguments(args);
        p.start();
        if (!p.waitForFinished(120000)) {
            p.kill();
            p.waitForFinished();
        }
        return Run{p.exitCode(), QString::fromUtf8(p.readAllStandardError()), QString::fromUtf8(p.readAllStandardOutput())};
    }

    Run batch() const
    {
        return run({QStringLiteral("batch"), QStringLiteral("--config"), path(QStringLiteral("config.json")),
                    QStringLiteral("--input"), path(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                    path(QStringLiteral("out.jsonl")), QStringLiteral("--state"), path(QStringLiteral("state.db")),
                    QStringLiteral("--seed"), QStringLiteral("3")});
    }
    Run explain(const QString& customId) const
    {
        return run({QStringLiteral("batch"), QStringLiteral("--state"), path(QStringLiteral("state.db")),
                    QStringLiteral("--explain"), customId});
    }

    SystemClock clock;
    QTemporaryDir dir;
    mock::MockProvider provider;
};

// The timeline's "limits" lines of an --explain output.
QStringList limitsLines(const QString& explain)
{
    QStringList out;
    for (const QString& line : explain.split(QLatin1Char('\n'))) {
        if (line.contains(QStringLiteral(" limits "))) {
            out.append(line);
        }
    }
    return out;
}

}  // namespace

class TestExplainLimitsCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void explainNamesWhereLimitsCameFrom();
};

void TestExplainLimitsCli::explainNamesWhereLimitsCameFrom()
{
    Fixture f;
    constexpr int kLines = 5;
    f.write(kLines);
    const Run r = f.batch();
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY(f.provider.stats().rateLimitedBy(mock::LimitKind::Requests) > 0);  // the first burst met the window

    bool sawRefused = false;
    for (int i = 0; i < kLines; ++i) {
        const Run e = f.explain(QStringLiteral("req-%1").arg(i));
        QCOMPARE(e.exitCode, 0);
        const QStringList lines = limitsLines(e.out);
        if (!e.out.contains(QStringLiteral("rate_limited"))) {
            continue;
        }
        sawRefused = true;
        // A refused job says what the 429 taught, on its key+model.
        QVERIFY2(!lines.isEmpty(), qPrintable(e.out));
        const QString last = lines.back();
        QVERIFY2(last.contains(QStringLiteral("mock/main/gpt-4o-mini: rpm ")), qPrintable(e.out));
        // The RPM is the configuration's, or the provider's lower one from
        // its headers, and the tokens a minute are the headers' alone.
        QVERIFY2(last.contains(QStringLiteral("rpm 6,000 configured")) ||
                     last.contains(QStringLiteral("rpm 60 lowered by headers")),
                 qPrintable(e.out));
        QVERIFY2(!e.out.contains(QStringLiteral("tpm ")) || e.out.contains(QStringLiteral("learned from headers")),
                 qPrintable(e.out));
        // The burst it had is narrowed, or the key+model paces evenly.
        QVERIFY2(last.contains(QStringLiteral("narrowed after 429s")) || last.contains(QStringLiteral("paced evenly")),
                 qPrintable(e.out));
    }
    QVERIFY(sawRefused);
}

QTEST_GUILESS_MAIN(TestExplainLimitsCli)
#include "tst_explain_limits_cli.moc"
