// The gateway as users run it: the real `sluice-cli mock` and
// `sluice-cli serve` processes on free ports, driven by the official
// `openai` and `@anthropic-ai/sdk` packages (tests/sdk/gateway_suite.mjs,
// one check per row), and the refusals `serve` makes at start.
#include <QtTest>

#include <QFile>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTemporaryDir>

namespace {

constexpr int kStartMs = 20'000;
constexpr int kCheckMs = 120'000;

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

QString sdkDir()
{
    return QStringLiteral(SLUICE_SOURCE_DIR "/tests/sdk");
}

// The URL a server printed as its first line, or empty (why says what it printed).
QString firstLineUrl(QProcess& p, QString& why)
{
    if (!p.waitForStarted(kStartMs)) {
        why = QStringLiteral("did not start");
        return {};
    }
    while (!p.canReadLine()) {
        if (!p.waitForReadyRead(kStartMs)) {
            why = QString::fromUtf8(p.readAllStandardError());
            return {};
        }
    }
    const QString line = QString::fromUtf8(p.readLine()).trimmed();
    const auto match = QRegularExpression(QStringLiteral("^listening on (http://127\\.0\\.0\\.1:[1-9][0-9]*)$")).match(line);
    why = line;
    return match.hasMatch() ? match.captured(1) : QString();
}

QString gatewayConfig(const QString& mockUrl, bool withTokens)
{
    QString tokens;
    if (withTokens) {
        tokens = QStringLiteral(R"(,
  "gateway": {
    "max_body_bytes": 262144, "request_timeout_s": 1, "hold_s": 3,
    "tokens": [
      { "name": "a", "token_env": "TOKEN_A", "limits": { "rpm": 600, "concurrency": 64 } },
      { "name": "small", "token_env": "TOKEN_SMALL", "limits": { "rpm": 1, "granularity_s": 60 } },
      { "name": "b", "token_env": "TOKEN_B", "models": [ "gpt-4o-mini", "claude-haiku-4-5" ] }
    ]
  })");
    }
    return QStringLiteral(R"({
  "providers": [
    { "name": "mock-openai", "flavor": "openai", "base_url": "%1",
      "models": { "gpt-4o": { "limits": { "rpm": 1 } }, "gpt-4o-mini": {}, "text-embedding-3-small": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] },
    { "name": "mock-anthropic", "flavor": "anthropic", "base_url": "%1", "learn_limits": false,
      "models": { "claude-sonnet-4-5": {}, "claude-haiku-4-5": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] }
  ],
  "retry": { "max_attempts": 4, "base_delay_s": 0.02, "max_delay_s": 0.1 }%2
})")
        .arg(mockUrl, tokens);
}

}  // namespace

class TestGatewaySdk : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void sdk_data();
    void sdk();
    void everyCheckIsListed();
    void refusesPublicAddressWithoutTokens();
    void refusesTokenInClear();
    void reportsEveryProblemAtOnce();

private:
    QProcessEnvironment env() const;
    QString writeConfig(const QString& name, const QString& text);

    QTemporaryDir m_dir;
    QProcess m_mock;
    QProcess m_gateway;
    QString m_mockUrl;
    QString m_gatewayUrl;
};

QProcessEnvironment TestGatewaySdk::env() const
{
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert(QStringLiteral("MOCK_API_KEY"), QStringLiteral("sk-mock"));
    e.insert(QStringLiteral("TOKEN_A"), QStringLiteral("gw-test-token-a"));
    e.insert(QStringLiteral("TOKEN_SMALL"), QStringLiteral("gw-test-token-small"));
    e.insert(QStringLiteral("TOKEN_B"), QStringLiteral("gw-test-token-b"));
    e.insert(QStringLiteral("MOCK_URL"), m_mockUrl);
    e.insert(QStringLiteral("GATEWAY_URL"), m_gatewayUrl);
    return e;
}

QString TestGatewaySdk::writeConfig(const QString& name, const QString& text)
{
    const QString path = m_dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(text.toUtf8()) < 0) {
        return {};
    }
    return path;
}

void TestGatewaySdk::initTestCase()
{
    QVERIFY2(QFile::exists(sdkDir() + QStringLiteral("/node_modules/openai/package.json")),
             "tests/sdk/node_modules is missing: run scripts/install-deps.sh (npm ci --prefix tests/sdk)");
    QVERIFY(m_dir.isValid());
    QString why;
    m_mock.start(cli(), {QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
    m_mockUrl = firstLineUrl(m_mock, why);
    QVERIFY2(!m_mockUrl.isEmpty(), qPrintable(why));

    const QString config = writeConfig(QStringLiteral("gateway.json"), gatewayConfig(m_mockUrl, true));
    QVERIFY(!config.isEmpty());
    m_gateway.setProcessEnvironment(env());
    m_gateway.start(cli(), {QStringLiteral("serve"), QStringLiteral("--config"), config, QStringLiteral("--listen"),
                            QStringLiteral("127.0.0.1:0")});
    m_gatewayUrl = firstLineUrl(m_gateway, why);
    QVERIFY2(!m_gatewayUrl.isEmpty(), qPrintable(why));
}

void TestGatewaySdk::cleanupTestCase()
{
    for (QProcess* p : {&m_gateway, &m_mock}) {
        if (p->state() != QProcess::NotRunning) {
            p->terminate();
            if (!p->waitForFinished(kStartMs)) {
                p->kill();
                p->waitForFinished();
            }
        }
    }
    // Nothing the gateway wrote may hold a token in clear.
    const QByteArray log = m_gateway.readAllStandardError() + m_gateway.readAllStandardOutput();
    QVERIFY(!log.contains("gw-test-token"));
}

namespace {

// The checks run here, one row each; everyCheckIsListed holds the suite to it.
constexpr const char* kChecks[] = {"openai_chat", "openai_base_url_without_v1", "openai_chat_stream_usage", "openai_chat_stream_without_usage_is_unchanged",
          "openai_tool_call_roundtrip", "openai_responses", "openai_responses_stored_and_continued",
          "openai_responses_compact_and_count",
          "openai_responses_stream", "openai_responses_tool_call", "responses_client_disconnect_mid_stream",
          "openai_embeddings", "responses_embeddings_errors",
          "responses_stream_error_after_first_byte", "openai_models", "anthropic_messages",
          "anthropic_messages_x_api_key", "anthropic_stream", "anthropic_tool_use_roundtrip", "anthropic_betas_reach_the_provider", "anthropic_count_tokens",
          "error_missing_token", "error_wrong_token", "error_unknown_model", "error_model_not_allowed",
          "error_bad_request", "error_body_too_large", "error_rate_limited_tenant", "hold_expires_429_on_provider_limit",
          "error_upstream_5xx_retried_then_502", "error_after_first_byte_is_sse_error", "client_timeout",
          "client_disconnect_mid_stream", "slowloris_does_not_block_others"};

}  // namespace

void TestGatewaySdk::sdk_data()
{
    QTest::addColumn<QString>("check");
    for (const char* name : kChecks) {
        QTest::newRow(name) << QString::fromLatin1(name);
    }
}

// A check written in the suite but missing from kChecks would never run.
void TestGatewaySdk::everyCheckIsListed()
{
    QFile suite(sdkDir() + QStringLiteral("/gateway_suite.mjs"));
    QVERIFY(suite.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(suite.readAll());
    static const QRegularExpression check(QStringLiteral(R"(^  async (\w+)\(\) \{)"),
                                          QRegularExpression::MultilineOption);
    QStringList listed;
    for (const char* name : kChecks) {
        listed << QString::fromLatin1(name);
    }
    int found = 0;
    for (auto it = check.globalMatch(text); it.hasNext();) {
        const QString name = it.next().captured(1);
        QVERIFY2(listed.contains(name), qPrintable(name + QStringLiteral(" is in gateway_suite.mjs but never run")));
        ++found;
    }
    QCOMPARE(found, static_cast<int>(listed.size()));
}

void TestGatewaySdk::sdk()
{
    QFETCH(QString, check);
    QProcess node;
    node.setProcessEnvironment(env());
    node.setWorkingDirectory(sdkDir());
    node.setProcessChannelMode(QProcess::MergedChannels);
    node.start(QStringLiteral("node"), {QStringLiteral("gateway_suite.mjs"), check});
    QVERIFY2(node.waitForStarted(kStartMs), "node did not start (is nodejs installed?)");
    QVERIFY2(node.waitForFinished(kCheckMs), "the check did not finish");
    const QByteArray out = node.readAll();
    QVERIFY2(node.exitCode() == 0 && out.startsWith("ok "), out.constData());
    QVERIFY2(m_gateway.state() == QProcess::Running, "the gateway exited");
}

void TestGatewaySdk::refusesPublicAddressWithoutTokens()
{
    const QString config = writeConfig(QStringLiteral("open.json"), gatewayConfig(m_mockUrl, false));
    QProcess p;
    p.setProcessEnvironment(env());
    p.start(cli(), {QStringLiteral("serve"), QStringLiteral("--config"), config, QStringLiteral("--listen"),
                    QStringLiteral("0.0.0.0:0")});
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitCode(), 2);
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(err.contains("refusing to listen on 0.0.0.0 with no gateway tokens"), err.constData());
}

void TestGatewaySdk::refusesTokenInClear()
{
    QString text = gatewayConfig(m_mockUrl, true);
    text.replace(QStringLiteral(R"("token_env": "TOKEN_B")"), QStringLiteral(R"("token": "gw-test-token-b")"));
    const QString config = writeConfig(QStringLiteral("clear.json"), text);
    QProcess p;
    p.setProcessEnvironment(env());
    p.start(cli(), {QStringLiteral("serve"), QStringLiteral("--config"), config});
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitCode(), 2);
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(err.contains("/gateway/tokens/2/token: a token is never written in the file"), err.constData());
    QVERIFY(!err.contains("gw-test-token-b"));
}

void TestGatewaySdk::reportsEveryProblemAtOnce()
{
    // One problem in the providers' part (a key's variable unset) and one in
    // the gateway's (a token's limit not a number): one run names both.
    QString text = gatewayConfig(m_mockUrl, true);
    text.replace(QStringLiteral(R"("rpm": 600, "concurrency": 64)"), QStringLiteral(R"("rpm": "lots", "concurrency": 64)"));
    const QString config = writeConfig(QStringLiteral("two_problems.json"), text);
    QProcessEnvironment e = env();
    e.remove(QStringLiteral("MOCK_API_KEY"));
    QProcess p;
    p.setProcessEnvironment(e);
    p.start(cli(), {QStringLiteral("serve"), QStringLiteral("--config"), config});
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitCode(), 2);
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(err.contains("3 problems in "), err.constData());
    QVERIFY2(err.contains("/providers/0/keys/0/env: environment variable MOCK_API_KEY is not set"), err.constData());
    QVERIFY2(err.contains("/gateway/tokens/0/limits/rpm: must be a whole number"), err.constData());
}

QTEST_GUILESS_MAIN(TestGatewaySdk)
#include "tst_gateway_sdk.moc"
