// The real `sluice-cli serve` in front of the real `sluice-cli mock`: after
// requests through the gateway, its /metrics has each gateway token's
// sluice_tenant_* series (requests, limits, 429s handed out), by token and
// tenant. HTTP goes over loopback with the engine's own client.
// With "concurrency": "auto" against a mock whose latency grows past a knee,
// /metrics has the adaptive limit, moved off its start value.
#include "http/http_client.h"
#include "support/serve_process.h"

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;

namespace {

constexpr int kStartMs = 15'000;

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

// One HTTP exchange, waited for (a few seconds at most).
http::HttpResult fetch(const std::string& method, const std::string& url, const std::string& body = {},
                       std::optional<Secret> auth = std::nullopt)
{
    http::HttpClient client;
    http::HttpRequest r;
    r.method = method;
    r.url = url;
    r.body = body;
    r.headers = {"Content-Type: application/json"};
    r.secretHeader = std::move(auth);
    r.totalTimeout = std::chrono::seconds(10);
    std::optional<http::HttpResult> result;
    client.start(std::move(r), http::TransferHandlers{{}, {}, [&](http::HttpResult&& res) { result = std::move(res); }, {}});
    for (int i = 0; i < 1000 && !result; ++i) {
        client.poll(std::chrono::milliseconds(20));
    }
    return result.value_or(http::HttpResult{});
}

// A running `sluice-cli serve --state --metrics` on free ports.
struct Serve {
    testing::ServeProcess run;
    std::string gatewayUrl;
    std::string metricsUrl;
};

void startServe(Serve& serve, const QString& config, const QTemporaryDir& dir)
{
    testing::startServe(serve.run, cli(), config,
                        {QStringLiteral("--state"), dir.filePath(QStringLiteral("s.db")), QStringLiteral("--metrics"),
                         QStringLiteral("127.0.0.1:0")},
                        kStartMs);
    if (QTest::currentTestFailed()) {
        return;
    }
    serve.gatewayUrl = serve.run.gatewayUrl;
    QTRY_VERIFY_WITH_TIMEOUT(serve.run.errHas(QStringLiteral("metrics at ")), kStartMs);
    const QRegularExpressionMatch m =
        QRegularExpression(QStringLiteral("metrics at (http://\\S+/metrics)")).match(serve.run.err);
    QVERIFY2(m.hasMatch(), qPrintable(serve.run.err));
    serve.metricsUrl = m.captured(1).toStdString();
}

}  // namespace

class TestServeTenantMetrics : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void tenantSeries();
    void adaptiveConcurrency();
};

void TestServeTenantMetrics::tenantSeries()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QProcess mock;
    mock.start(cli(), {QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
    QVERIFY(mock.waitForStarted(kStartMs));
    QVERIFY(mock.waitForReadyRead(kStartMs));
    const QString mockLine = QString::fromUtf8(mock.readLine()).trimmed();
    QVERIFY2(mockLine.startsWith(QStringLiteral("listening on http://")), qPrintable(mockLine));
    const QString mockUrl = mockLine.mid(13);

    // Token "svc" (its value only as a digest here), 2 requests a minute.
    const QString config = dir.filePath(QStringLiteral("serve.json"));
    QFile f(config);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QStringLiteral(R"({
  "providers": [ { "name": "mock-openai", "flavor": "openai", "base_url": "%1",
    "models": { "gpt-4o-mini": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ],
  "gateway": { "hold_s": 1, "tokens": [ { "name": "svc", "tenant": "team",
    "token_sha256": "%2", "limits": { "rpm": 2, "granularity_s": 60 } } ] }
})")
                .arg(mockUrl, QString::fromLatin1(QCryptographicHash::hash("tok-svc", QCryptographicHash::Sha256).toHex()))
                .toUtf8());
    f.close();

    Serve serve;
    startServe(serve, config, dir);
    if (QTest::currentTestFailed()) {
        return;
    }
    const std::string& gatewayUrl = serve.gatewayUrl;
    const std::string& metricsUrl = serve.metricsUrl;

    // Three requests on a budget of two: two answered, one 429.
    const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":8})";
    std::vector<long> statuses;
    for (int i = 0; i < 3; ++i) {
        statuses.push_back(fetch("POST", gatewayUrl + "/v1/chat/completions", body,
                                 Secret("Authorization: Bearer tok-svc"))
                               .status);
    }
    QCOMPARE(statuses, (std::vector<long>{200, 200, 429}));

    const http::HttpResult metrics = fetch("GET", metricsUrl);
    QCOMPARE(metrics.status, 200L);
    const std::string labels = R"({token="svc",tenant="team")";
    for (const std::string& line : {"sluice_tenant_requests_total" + labels + "} 3",
                                    "sluice_tenant_refused_total" + labels + "} 1",
                                    "sluice_tenant_requests_last_minute" + labels + "} 2",
                                    "sluice_tenant_in_flight" + labels + "} 0",
                                    "sluice_tenant_limit" + labels + R"(,measure="requests",window="rolling"} 2)"}) {
        QVERIFY2(metrics.body.find(line + "\n") != std::string::npos, (line + "\n---\n" + metrics.body).c_str());
    }
    // The token's value is nowhere in what the gateway says.
    QVERIFY(metrics.body.find("tok-svc") == std::string::npos);

    serve.run.process.terminate();
    mock.terminate();
    QVERIFY(serve.run.process.waitForFinished(kStartMs));
    QVERIFY(mock.waitForFinished(kStartMs));
    QVERIFY(QString::fromUtf8(serve.run.process.readAllStandardError()).indexOf(QStringLiteral("tok-svc")) < 0);
}

void TestServeTenantMetrics::adaptiveConcurrency()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // No limits, no headers: only latency says anything. Past 8 answers in
    // flight each one more adds 200 ms to a 50 ms answer.
    const QString mockConfig = dir.filePath(QStringLiteral("mock.json"));
    QFile mf(mockConfig);
    QVERIFY(mf.open(QIODevice::WriteOnly));
    mf.write(R"({ "limitsEnabled": false, "rateLimitHeaders": false,
  "latency": { "baseMs": 50, "perOutputTokenMs": 0, "knee": { "inFlight": 8, "perExtraMs": 200 } },
  "output": { "distribution": "fixed", "mean": 5 } })");
    mf.close();
    QProcess mock;
    mock.start(cli(), {QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                       QStringLiteral("--config"), mockConfig});
    QVERIFY(mock.waitForStarted(kStartMs));
    QVERIFY(mock.waitForReadyRead(kStartMs));
    const QString mockLine = QString::fromUtf8(mock.readLine()).trimmed();
    QVERIFY2(mockLine.startsWith(QStringLiteral("listening on http://")), qPrintable(mockLine + QString::fromUtf8(mock.readAllStandardError())));

    const QString config = dir.filePath(QStringLiteral("serve.json"));
    QFile f(config);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QStringLiteral(R"({
  "providers": [ { "name": "vllm", "flavor": "openai", "base_url": "%1",
    "limits": { "concurrency": { "auto": { "initial": 2, "max": 64 } } },
    "models": { "gpt-4o-mini": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ],
  "gateway": { "hold_s": 120 }
})")
                .arg(mockLine.mid(13))
                .toUtf8());
    f.close();

    Serve serve;
    startServe(serve, config, dir);
    if (QTest::currentTestFailed()) {
        return;
    }
    const std::string& gatewayUrl = serve.gatewayUrl;
    const std::string& metricsUrl = serve.metricsUrl;

    // 200 requests at once: the gateway holds them, the dispatcher lets
    // the adaptive limit's worth through at a time.
    const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":8})";
    http::HttpClient client;
    int done = 0;
    int ok = 0;
    constexpr int kRequests = 200;
    for (int i = 0; i < kRequests; ++i) {
        http::HttpRequest r;
        r.method = "POST";
        r.url = gatewayUrl + "/v1/chat/completions";
        r.body = body;
        r.headers = {"Content-Type: application/json"};
        r.totalTimeout = std::chrono::seconds(120);
        client.start(std::move(r), http::TransferHandlers{{}, {}, [&](http::HttpResult&& res) {
                                                              ++done;
                                                              ok += res.status == 200 ? 1 : 0;
                                                          }, {}});
    }
    const QRegularExpression limitRe(QStringLiteral(R"(\nsluice_adaptive_concurrency_limit\{provider="vllm",key=""\} (\d+)\n)"));
    // The limit as /metrics shows it now; -1 when the series is missing.
    std::string lastBody;
    const auto scrape = [&] {
        const http::HttpResult metrics = fetch("GET", metricsUrl);
        lastBody = metrics.body;
        const QRegularExpressionMatch lm = limitRe.match(QString::fromStdString(metrics.body));
        return metrics.status == 200 && lm.hasMatch() ? lm.captured(1).toInt() : -1;
    };
    int highest = -1;
    for (int i = 0; i < 6000 && done < kRequests; ++i) {
        client.poll(std::chrono::milliseconds(20));
        if (i % 10 == 9) {
            highest = std::max(highest, scrape());
        }
    }
    QCOMPARE(done, kRequests);
    QCOMPARE(ok, kRequests);

    const int limit = scrape();
    QVERIFY2(limit > 0, lastBody.c_str());
    qInfo("adaptive limit: highest %d, after %d requests %d", highest, kRequests, limit);
    // Up from 2 (steady success below the knee) at some point, and held
    // well below the ceiling of 64 by the latency past the knee.
    QVERIFY2(highest > 2, qPrintable(QStringLiteral("highest %1").arg(highest)));
    QVERIFY2(limit <= 24, qPrintable(QStringLiteral("limit %1").arg(limit)));
    const http::HttpResult metrics = fetch("GET", metricsUrl);
    const QRegularExpressionMatch cm =
        QRegularExpression(QStringLiteral(R"(\nsluice_adaptive_concurrency_changes_total\{provider="vllm",key=""\} (\d+)\n)"))
            .match(QString::fromStdString(metrics.body));
    QVERIFY2(cm.hasMatch() && cm.captured(1).toInt() >= 1, metrics.body.c_str());

    serve.run.process.terminate();
    mock.terminate();
    QVERIFY(serve.run.process.waitForFinished(kStartMs));
    QVERIFY(mock.waitForFinished(kStartMs));
    // Said on stderr too, for a serve without --metrics.
    QVERIFY2(serve.run.readErr().contains(
                 QRegularExpression(QStringLiteral("adaptive concurrency at the end: vllm \\d+\n"))),
             qPrintable(serve.run.err));
}

QTEST_GUILESS_MAIN(TestServeTenantMetrics)
#include "tst_serve_tenant_metrics.moc"
