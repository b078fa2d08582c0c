// The real sluice-cli tokens: a corpus text counts (and encodes) exactly as
// js-tiktoken does, a request's prompt as OpenAI's cookbook counts it, other
// models get the estimate and say so, and bad input exits 2 naming it.
#include <nlohmann/json.hpp>

#include <QtTest>

#include <fstream>
#include <sstream>

using nlohmann::json;

namespace {

const QString kData = QStringLiteral(SLUICE_SOURCE_DIR "/tests/data/tokenize");

struct Run {
    int exitCode = -1;
    QString out;
    QString err;
};

Run runCli(const QStringList& args, const QByteArray& stdinData = {})
{
    QProcess p;
    p.start(QStringLiteral(SLUICE_CLI_PATH), QStringList{QStringLiteral("tokens")} + args);
    if (!p.waitForStarted()) {
        return {};
    }
    p.write(stdinData);
    p.closeWriteChannel();
    p.waitForFinished(60000);
    return Run{p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

json expected()
{
    std::ifstream in(QString(kData + QStringLiteral("/expected.json")).toStdString());
    std::ostringstream s;
    s << in.rdbuf();
    return json::parse(s.str());
}

}  // namespace

class TestTokensCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void textCountsAndIds();
    void requestPromptTokens();
    void badInput_data();
    void badInput();
};

void TestTokensCli::textCountsAndIds()
{
    const json exp = expected().at("encodings").at("o200k_base").at("japanese.txt");
    const Run r = runCli({QStringLiteral("--model"), QStringLiteral("gpt-4o"), QStringLiteral("--ids"),
                          QStringLiteral("--text"), kData + QStringLiteral("/corpus/japanese.txt")});
    QCOMPARE(r.exitCode, 0);
    const QStringList lines = r.out.trimmed().split(QLatin1Char('\n'));
    QCOMPARE(lines.size(), 2);
    QStringList ids;
    for (const auto& id : exp.at("ids")) {
        ids << QString::number(id.get<unsigned>());
    }
    QCOMPARE(lines[0], ids.join(QLatin1Char(' ')));
    QCOMPARE(lines[1], QStringLiteral("%1 tokens (o200k_base)").arg(exp.at("count").get<int>()));

    const json cl = expected().at("encodings").at("cl100k_base").at("code_cpp.txt");
    std::ifstream in(QString(kData + QStringLiteral("/corpus/code_cpp.txt")).toStdString(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const Run fromStdin = runCli({QStringLiteral("--model"), QStringLiteral("gpt-3.5-turbo"), QStringLiteral("--text"),
                                  QStringLiteral("-")},
                                 QByteArray::fromStdString(text.str()));
    QCOMPARE(fromStdin.exitCode, 0);
    QCOMPARE(fromStdin.out.trimmed(), QStringLiteral("%1 tokens (cl100k_base)").arg(cl.at("count").get<int>()));
}

void TestTokensCli::requestPromptTokens()
{
    const QByteArray batchLine = R"({"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4-0613","messages":[
      {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
      {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
      {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
      {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
      {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
      {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]}})";
    const Run exact = runCli({QStringLiteral("--request"), QStringLiteral("-")}, batchLine);
    QCOMPARE(exact.exitCode, 0);
    QCOMPARE(exact.out.trimmed(), QStringLiteral("129 prompt tokens (exact, cl100k_base, chat overhead included)"));
    const Run o200k = runCli({QStringLiteral("--request"), QStringLiteral("-"), QStringLiteral("--model"), QStringLiteral("gpt-4o")}, batchLine);
    QCOMPARE(o200k.out.trimmed(), QStringLiteral("124 prompt tokens (exact, o200k_base, chat overhead included)"));

    const QByteArray claude = R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"こんにちは、世界"}]})";
    const Run est = runCli({QStringLiteral("--request"), QStringLiteral("-"), QStringLiteral("--flavor"), QStringLiteral("anthropic")}, claude);
    QCOMPARE(est.exitCode, 0);
    QVERIFY2(est.out.contains(QStringLiteral("prompt tokens (estimate, cjk: no public tokenizer for claude-sonnet-4-5)")),
             qPrintable(est.out));
}

void TestTokensCli::badInput_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("error");
    QTest::newRow("neither") << QStringList{} << QByteArray() << QStringLiteral("give one of --text FILE or --request FILE");
    QTest::newRow("missing file") << QStringList{QStringLiteral("--model"), QStringLiteral("gpt-4o"), QStringLiteral("--text"), QStringLiteral("/nonexistent/x.txt")}
                                  << QByteArray() << QStringLiteral("/nonexistent/x.txt: cannot read");
    QTest::newRow("no tokenizer") << QStringList{QStringLiteral("--model"), QStringLiteral("claude-sonnet-4-5"), QStringLiteral("--text"), QStringLiteral("-")}
                                  << QByteArray("hi") << QStringLiteral("--model: \"claude-sonnet-4-5\" has no public tokenizer");
    QTest::newRow("not json") << QStringList{QStringLiteral("--request"), QStringLiteral("-")} << QByteArray("{\"model\":")
                              << QStringLiteral("-:1:");
    QTest::newRow("no messages") << QStringList{QStringLiteral("--request"), QStringLiteral("-")} << QByteArray(R"({"model":"gpt-4o"})")
                                 << QStringLiteral("-: body.messages: required");
    QTest::newRow("bad flavor") << QStringList{QStringLiteral("--request"), QStringLiteral("-"), QStringLiteral("--flavor"), QStringLiteral("gemini")}
                                << QByteArray("{}") << QStringLiteral("--flavor: must be openai or anthropic");
}

void TestTokensCli::badInput()
{
    QFETCH(QStringList, args);
    QFETCH(QByteArray, input);
    QFETCH(QString, error);
    const Run r = runCli(args, input);
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(error), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
}

QTEST_GUILESS_MAIN(TestTokensCli)
#include "tst_tokens_cli.moc"
