// Reading a Batch API input file directly (readBatchInput): every bad line is
// a rejected line naming its number and what is wrong, the good lines around
// it are kept in order; a repeated custom_id names the line it repeats; and a
// path that is a directory or unreadable is refused before reading
// (batchInputFileProblem), rather than read as an empty batch. The check
// that keeps no request (checkBatchInput) finds the same lines.
#include "queue/batch_input.h"

#include "providers/protocol.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

using namespace sluice;
using nlohmann::json;

namespace {

std::string line(const std::string& id, const std::string& content = "hello",
                 const std::string& url = "/v1/chat/completions")
{
    return json{{"custom_id", id},
                {"method", "POST"},
                {"url", url},
                {"body", {{"model", "gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}}}}
        .dump();
}

BatchInput read(const std::string& text, const std::function<std::string(const BatchLine&)>& accept = {})
{
    std::istringstream in(text);
    return readBatchInput(in, accept);
}

}  // namespace

class TestBatchInput : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void goodLinesKeepTheirOrderAndNumbers();
    void everyEndpointRoutes();
    void badLineIsRejectedByNumber_data();
    void badLineIsRejectedByNumber();
    void invalidUtf8IsARejectedLine();
    void repeatedCustomIdNamesTheFirstLine();
    void acceptCallbackRejectsALine();
    void directoryOrMissingFileIsRefused();
    void checkFindsWhatReadingFinds();
};

void TestBatchInput::goodLinesKeepTheirOrderAndNumbers()
{
    // Blank lines and CRLF endings count as lines but are not jobs.
    const BatchInput in = read(line("a") + "\r\n\n   \n" + line("b", "x", "/v1/messages") + "\n" + line("c"));
    QCOMPARE(in.rejects.size(), std::size_t{0});
    QCOMPARE(in.lines.size(), std::size_t{3});
    QCOMPARE(in.lines[0].job.customId, std::string("a"));
    QCOMPARE(in.lines[0].line, std::size_t{1});
    QCOMPARE(in.lines[1].job.customId, std::string("b"));
    QCOMPARE(in.lines[1].line, std::size_t{4});
    QCOMPARE(int(in.lines[1].job.flavor), int(ApiFlavor::Anthropic));
    QCOMPARE(in.lines[2].line, std::size_t{5});
    QCOMPARE(json::parse(in.lines[2].bodyText), json::parse(line("c"))["body"]);
}

void TestBatchInput::everyEndpointRoutes()
{
    // The Batch API's other endpoints run as their own APIs on an OpenAI
    // provider: the path decides the request path sent.
    const BatchInput in = read(line("r", "x", "/v1/responses") + "\n" + line("e", "x", "/v1/embeddings") + "\n" +
                               line("c") + "\n" + line("m", "x", "/v1/messages"));
    QCOMPARE(in.rejects.size(), std::size_t{0});
    QCOMPARE(in.lines.size(), std::size_t{4});
    const std::pair<ApiFlavor, Endpoint> expected[] = {{ApiFlavor::OpenAI, Endpoint::Responses},
                                                       {ApiFlavor::OpenAI, Endpoint::Embeddings},
                                                       {ApiFlavor::OpenAI, Endpoint::Completion},
                                                       {ApiFlavor::Anthropic, Endpoint::Completion}};
    for (std::size_t i = 0; i < in.lines.size(); ++i) {
        QCOMPARE(int(in.lines[i].job.flavor), int(expected[i].first));
        QCOMPARE(int(in.lines[i].job.endpoint), int(expected[i].second));
        // And back: the path stored for the job is the line's.
        const auto route = routeOfPath(endpointPath(in.lines[i].job.flavor, in.lines[i].job.endpoint));
        QVERIFY(route.has_value());
        QCOMPARE(int(route->endpoint), int(expected[i].second));
    }
}

void TestBatchInput::badLineIsRejectedByNumber_data()
{
    QTest::addColumn<QString>("bad");
    QTest::addColumn<QString>("error");
    QTest::newRow("not JSON") << QStringLiteral("{\"custom_id\": ") << QStringLiteral("not valid JSON");
    QTest::newRow("an array") << QStringLiteral("[1,2]") << QStringLiteral("must be a JSON object");
    QTest::newRow("no custom_id") << QStringLiteral(R"({"url":"/v1/chat/completions","body":{}})")
                                  << QStringLiteral("custom_id: required (a non-empty string)");
    QTest::newRow("GET") << QStringLiteral(R"({"custom_id":"x","method":"GET","url":"/v1/chat/completions","body":{}})")
                         << QStringLiteral("method: only POST is supported");
    QTest::newRow("unknown url") << QStringLiteral(R"({"custom_id":"x","url":"/v1/completions","body":{}})")
                                 << QStringLiteral("url: unknown endpoint \"/v1/completions\" (expected "
                                                   "\"/v1/chat/completions\", \"/v1/messages\", \"/v1/responses\" "
                                                   "or \"/v1/embeddings\")");
    QTest::newRow("body a string") << QStringLiteral(R"({"custom_id":"x","url":"/v1/chat/completions","body":"hi"})")
                                   << QStringLiteral("body: required (a JSON object)");
    QTest::newRow("priority fractional")
        << QStringLiteral(R"({"custom_id":"x","url":"/v1/chat/completions","body":{},"priority":1.5})")
        << QStringLiteral("priority: must be a whole number");
    QTest::newRow("deadline negative")
        << QStringLiteral(R"({"custom_id":"x","url":"/v1/chat/completions","body":{},"deadline_s":-1})")
        << QStringLiteral("deadline_s: must be a positive number of seconds");
}

void TestBatchInput::badLineIsRejectedByNumber()
{
    QFETCH(QString, bad);
    QFETCH(QString, error);
    const BatchInput in = read(line("before") + "\n" + bad.toStdString() + "\n" + line("after") + "\n");
    QCOMPARE(in.lines.size(), std::size_t{2});
    QCOMPARE(in.lines[1].line, std::size_t{3});
    QCOMPARE(in.rejects.size(), std::size_t{1});
    QCOMPARE(in.rejects[0].line, std::size_t{2});
    QVERIFY2(QString::fromStdString(in.rejects[0].error).startsWith(error), in.rejects[0].error.c_str());
    QCOMPARE(QString::fromStdString(in.rejects[0].text), bad);
}

void TestBatchInput::invalidUtf8IsARejectedLine()
{
    // "caf\xC3(" : a lead byte not followed by a continuation byte.
    const std::string bad = "{\"custom_id\":\"bad\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-mini\","
                            "\"messages\":[{\"role\":\"user\",\"content\":\"caf\xC3\x28\"}]}}";
    const std::string binary("\x89PNG\x1a\x00\x00\xff\xfe", 9);
    const BatchInput in = read(line("a") + "\n" + bad + "\n" + binary + "\n" + line("b") + "\n");
    QCOMPARE(in.lines.size(), std::size_t{2});
    QCOMPARE(in.rejects.size(), std::size_t{2});
    QCOMPARE(in.rejects[0].line, std::size_t{2});
    QCOMPARE(in.rejects[0].error, std::string("not valid JSON"));
    QCOMPARE(in.rejects[1].line, std::size_t{3});
    QCOMPARE(in.rejects[1].error, std::string("not valid JSON"));
    QCOMPARE(in.lines[1].job.customId, std::string("b"));
}

void TestBatchInput::repeatedCustomIdNamesTheFirstLine()
{
    const BatchInput in = read(line("one") + "\n" + line("two") + "\n" + line("one") + "\n" + line("two", "other") + "\n");
    QCOMPARE(in.lines.size(), std::size_t{2});
    QCOMPARE(in.rejects.size(), std::size_t{2});
    QCOMPARE(in.rejects[0].line, std::size_t{3});
    QCOMPARE(in.rejects[0].customId, std::string("one"));
    QCOMPARE(in.rejects[0].error, std::string("custom_id: \"one\" repeats line 1 (the same request)"));
    QCOMPARE(in.rejects[1].line, std::size_t{4});
    QCOMPARE(in.rejects[1].error, std::string("custom_id: \"two\" repeats line 2 with a different body"));
}

void TestBatchInput::acceptCallbackRejectsALine()
{
    const BatchInput in = read(line("ok") + "\n" + line("no") + "\n", [](const BatchLine& l) {
        return l.job.customId == "no" ? std::string("body.model: not served") : std::string();
    });
    QCOMPARE(in.lines.size(), std::size_t{1});
    QCOMPARE(in.rejects.size(), std::size_t{1});
    QCOMPARE(in.rejects[0].line, std::size_t{2});
    QCOMPARE(in.rejects[0].error, std::string("body.model: not served"));
}

void TestBatchInput::directoryOrMissingFileIsRefused()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string d = dir.path().toStdString();
    QCOMPARE(batchInputFileProblem(d), d + ": is a directory, not a batch file");
    const std::string missing = d + "/missing.jsonl";
    QCOMPARE(batchInputFileProblem(missing), missing + ": cannot open for reading (No such file or directory)");
    const std::string file = d + "/in.jsonl";
    {
        std::ofstream out(file);
        out << line("a") << '\n';
    }
    QCOMPARE(batchInputFileProblem(file), std::string());
}

void TestBatchInput::checkFindsWhatReadingFinds()
{
    // The console's check keeps no request (checkBatchInput), yet must tell
    // the same lines apart as reading does: unreadable, refused, repeated
    // (the same request or another), in input order, and the count taken.
    const std::string text = line("one") + "\n{oops\n" + line("two") + "\n" + line("no") + "\n" + line("one") + "\n" +
                             line("two", "other") + "\n" + line("three") + "\n";
    const auto refuse = [](const BatchLine& l) {
        return l.job.customId == "no" ? std::string("body.model: not served") : std::string();
    };
    const BatchInput whole = read(text, refuse);
    std::istringstream in(text);
    const BatchCheck check = checkBatchInput(in, refuse);
    QCOMPARE(check.accepted, whole.lines.size());
    QCOMPARE(check.accepted, std::size_t{3});
    QCOMPARE(check.rejects.size(), std::size_t{4});
    QCOMPARE(check.rejects.size(), whole.rejects.size());
    for (std::size_t i = 0; i < check.rejects.size(); ++i) {
        QCOMPARE(check.rejects[i].line, whole.rejects[i].line);
        QCOMPARE(check.rejects[i].error, whole.rejects[i].error);
        QCOMPARE(check.rejects[i].customId, whole.rejects[i].customId);
    }
    QCOMPARE(check.rejects[2].error, std::string("custom_id: \"one\" repeats line 1 (the same request)"));
    QCOMPARE(check.rejects[3].error, std::string("custom_id: \"two\" repeats line 3 with a different body"));
}

QTEST_APPLESS_MAIN(TestBatchInput)
#include "tst_batch_input.moc"
