// A Chat Completions request read without a document (providers/chat_scan.h)
// against the same request read as one: for every body of a generated
// corpus that scanChatRequest reads, analyzeScannedChat must give field for
// field what analyzeRequest gives for its document, with no estimator, with
// the tokenizer alone, and with the tokenizer and calibrators that learned
// ratios; and every body outside the shape (valid or not) must be left to
// the document, so that its errors and its other rules apply.
#include "config/config.h"
#include "core/json_scan.h"
#include "dispatch/job_prep.h"
#include "providers/chat_scan.h"
#include "providers/prompt_estimator.h"
#include "providers/protocol.h"
#include "tokenize/encodings.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

using namespace sluice;
using nlohmann::json;

namespace {

// Messages of every kind the shape takes: roles, names, other string
// members, text in several scripts, escapes of every kind, empty and long.
std::vector<std::string> messageLists()
{
    const std::string longText(3000, 'w');
    return {
        R"([{"role":"user","content":"Say hello in five words."}])",
        R"([{"role":"system","content":"You are terse."},{"role":"user","content":"Why is the sky blue?"}])",
        R"([{"role":"user","name":"ada","content":"Hi"},{"role":"assistant","content":"Hello, Ada."},)"
        R"({"role":"user","name":"bob","content":"And me?"}])",
        R"([{"role":"user","content":"caf\u00e9 \ud83d\ude00 line\nbreak \"quoted\" back\\slash \/ tab\t"}])",
        "[{\"role\":\"user\",\"content\":\"日本語のテキストです。東京は首都です。\"}]",
        "[{\"role\":\"user\",\"content\":\"Привет, как дела? Ελληνικά κείμενα\"}]",
        R"([{"role":"user","content":"int main() { return 0; } // code {[()]} ;;; <>"}])",
        R"([{"role":"user","content":""}])",
        R"([{"role":"tool","tool_call_id":"call_1","content":"{\"temp\": 21}"}])",
        R"([{"content":"no role"},{"content":"","role":"user"}])",
        "[{\"role\":\"user\",\"content\":\"" + longText + "\"}]",
        R"([ { "role" : "user" , "content" : "spaced out" } ])",
        R"([{"role":"user","content":"eight","a":"1","b":"2","c":"3","d":"4","e":"5","name":"n"}])",
    };
}

// Top-level members around "model" and "messages", each in or out.
std::vector<std::string> extras()
{
    return {
        "",
        R"("max_tokens":16)",
        R"("max_completion_tokens":300,"max_tokens":16)",
        R"("n":3,"temperature":0.7,"top_p":1)",
        R"("temperature":2,"top_p":0,"stream":false)",
        R"("user":"u-1","seed":42,"metadata":{"a":"b","c":[1,2.5,null,true]},"logit_bias":{"50256":-100})",
        R"("response_format":{"type":"json_object"},"stop":["\n\n","END"],"presence_penalty":-0.5)",
        R"("max_tokens":2147483648,"n":128,"temperature":0e0)",
        R"("stream":true,"max_tokens":64)",
    };
}

std::vector<std::string> corpus()
{
    std::vector<std::string> bodies;
    for (const std::string model : {"gpt-4o-mini", "gpt-4", "my-local-model"}) {
        for (const std::string& messages : messageLists()) {
            for (const std::string& extra : extras()) {
                const std::string tail = extra.empty() ? "" : "," + extra;
                bodies.push_back(R"({"model":")" + model + R"(","messages":)" + messages + tail + "}");
                // Another member order, and white space around everything.
                bodies.push_back("\n { " + (extra.empty() ? "" : extra + " ,") + R"( "messages" : )" + messages +
                                 R"( , "model" : ")" + model + "\" } \r\n");
            }
        }
    }
    return bodies;
}

void compare(const RequestInfo& scanned, const RequestInfo& document, const std::string& body)
{
    const QByteArray whereText = QByteArray::fromStdString(body.substr(0, 300));
    const char* where = whereText.constData();
    QVERIFY2(scanned.model == document.model, where);
    QVERIFY2(scanned.endpoint == document.endpoint, where);
    QVERIFY2(scanned.stream == document.stream, where);
    QVERIFY2(scanned.n == document.n, where);
    QVERIFY2(scanned.maxOutputTokens == document.maxOutputTokens, where);
    QVERIFY2(scanned.promptTokens == document.promptTokens, where);
    QVERIFY2(scanned.prompt.tokens == document.prompt.tokens, where);
    QVERIFY2(scanned.prompt.ruleOfThumb == document.prompt.ruleOfThumb, where);
    QVERIFY2(scanned.prompt.counted == document.prompt.counted, where);
    QVERIFY2(scanned.prompt.language == document.prompt.language, where);
    QVERIFY2(scanned.prompt.method == document.prompt.method, where);
    QVERIFY2(scanned.prompt.media == document.prompt.media, where);
    QVERIFY2(scanned.prompt.mediaParts == document.prompt.mediaParts, where);
    QVERIFY2(scanned.method == document.method && scanned.objectPath == document.objectPath, where);
    QVERIFY2(scanned.storedObject == document.storedObject, where);
}

}  // namespace

class TestChatScan : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsTheCommonRequest()
    {
        const auto chat = scanChatRequest(
            R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},)"
            R"({"role":"user","name":"ada","content":"caf\u00e9"}],"max_tokens":16,"n":2})");
        QVERIFY(chat.has_value());
        QCOMPARE(chat->model, std::string("gpt-4o-mini"));
        QCOMPARE(chat->n, 2);
        QCOMPARE(chat->maxOutputTokens.value_or(0), std::int64_t{16});
        QCOMPARE(chat->messageEnds, (std::vector<std::uint32_t>{2, 5}));
        using Key = tokenize::ChatStringMember::Key;
        QCOMPARE(chat->members.size(), std::size_t{5});
        QVERIFY(chat->members[0].key == Key::Role && chat->members[0].text == "system");
        QVERIFY(chat->members[3].key == Key::Name && chat->members[3].text == "ada");
        QVERIFY(chat->members[4].key == Key::Content && chat->members[4].text == "caf\xC3\xA9");
    }

    // Field for field what the document's analysis gives, under every
    // estimator the dispatcher may have.
    void sameAnalysisAsTheDocument()
    {
        const tokenize::Encodings encodings(std::string(SLUICE_SOURCE_DIR) + "/resources/tokenizers");
        QVERIFY(encodings.forModel("gpt-4o-mini") != nullptr);
        tokenize::TokenCalibrator calibrator;
        tokenize::TokenCalibrator agreement(agreementOptions());
        // Ratios learned for some models and classes, none for others.
        calibrator.observe("my-local-model", 100, 130, tokenize::LanguageClass::Latin);
        calibrator.observe("my-local-model", 100, 210, tokenize::LanguageClass::Cjk);
        agreement.observe("gpt-4o-mini", 100, 112, tokenize::LanguageClass::Latin);
        agreement.observe("gpt-4", 100, 95, tokenize::LanguageClass::Code);
        const PromptEstimator exactOnly(&encodings, nullptr, nullptr);
        const PromptEstimator full(&encodings, &calibrator, &agreement);
        const PromptEstimator calibratedOnly(nullptr, &calibrator, nullptr);
        const std::vector<const PromptEstimator*> estimators{nullptr, &exactOnly, &full, &calibratedOnly};

        std::size_t read = 0;
        const std::vector<std::string> bodies = corpus();
        for (const std::string& body : bodies) {
            const auto chat = scanChatRequest(body);
            QVERIFY2(chat.has_value(), QByteArray::fromStdString("not read: " + body.substr(0, 300)).constData());
            ++read;
            const json document = json::parse(body);
            for (const PromptEstimator* estimator : estimators) {
                compare(analyzeScannedChat(*chat, 777, estimator), analyzeRequest(ApiFlavor::OpenAI, document, 777, estimator),
                        body);
                if (QTest::currentTestFailed()) {
                    return;
                }
            }
        }
        QCOMPARE(read, bodies.size());
    }

    // The job prepared from the scan sends what the job prepared from the
    // document sends: the same document, the same cost; a stream gets
    // include_usage added to the client's own text, which is otherwise
    // untouched (the document's path writes its document out again).
    void preparedJobsSendTheSameRequest()
    {
        const Config config = loadConfig(
            JsonSource("cfg.json", R"({"providers":[{"name":"p","flavor":"openai","base_url":"http://127.0.0.1:9",)"
                                   R"("models":{"gpt-4o-mini":{"default_max_tokens":333}},"keys":[{"name":"k","env":"K"}]}]})"),
            [](const std::string&) { return std::optional<std::string>("sk-test"); });
        const std::vector<std::string> bodies{
            R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]})",
            R"({ "stream" : true, "model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi é"}],"top_p":0.5 } )",
            R"({"model":"gpt-4o-mini","stream":false,"messages":[{"role":"system","content":"x"},{"role":"user","content":"y"}],"n":2})",
            "\xEF\xBB\xBF{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"z\"}],\"stream\":true}\r\n"};
        std::size_t streams = 0;
        for (const std::string& body : bodies) {
            const auto chat = scanChatRequest(body);
            QVERIFY(chat.has_value());
            JobSpec scanned;
            scanned.customId = "scanned";
            scanned.bodyText = body;
            scanned.chat = std::make_shared<const ScannedChat>(*chat);
            JobSpec document;
            document.customId = "document";
            document.body = json::parse(body);
            document.bodyText = body;
            const PreparedJob a = prepareJob(config, std::move(scanned));
            const PreparedJob b = prepareJob(config, std::move(document));
            compare(a.info, b.info, body);
            QCOMPARE(a.info.maxOutputTokens, chat->maxOutputTokens.value_or(333));
            QCOMPARE(a.usageAdded, b.usageAdded);
            QVERIFY(a.cost.inputTokens == b.cost.inputTokens && a.cost.outputTokens == b.cost.outputTokens &&
                    a.cost.requests == b.cost.requests && a.cost.spendMicroUsd == b.cost.spendMicroUsd);
            QCOMPARE(json::parse(a.bodyText), json::parse(b.bodyText));
            if (chat->stream) {
                ++streams;
                QVERIFY(a.usageAdded);
                const std::size_t close = body.rfind('}');
                QCOMPARE(a.bodyText, body.substr(0, close) + R"(,"stream_options":{"include_usage":true})" + body.substr(close));
            } else {
                QCOMPARE(a.bodyText, body);
            }
            QVERIFY(a.job.chat == nullptr);
        }
        QCOMPARE(streams, std::size_t{2});
        // A job that says it was read without a document must bring its text.
        JobSpec textless;
        textless.customId = "textless";
        textless.chat = std::make_shared<const ScannedChat>(*scanChatRequest(bodies.front()));
        QVERIFY_THROWS_EXCEPTION(InputError, prepareJob(config, std::move(textless)));
    }

    // Bodies broken and bent at random (a fixed seed, so every run tries
    // the same ones): whatever the scan reads, the document path reads too
    // (readJsonDocument, as the gateway does), and analyses the same.
    void mutatedBodiesReadAlikeOrNotAtAll()
    {
        const std::vector<std::string> snippets{
            "\\u00e9", "\\ud800", "\\udc00\\ud800", "\\\"", "\\", "\"x\":1,", ",\"n\":2", ",\"n\":0",
            "\"stream\":true,", ",\"max_tokens\":null", ",\"temperature\":2.0001", "null", "1e5", "-0", "\xC3\xA9",
            "\xED\xA0\x80", "\xFF", std::string(1, '\0'), " ", ",", ":", "{", "}", "[", "]", "\"", ",\"model\":\"x\"",
            "\"name\":\"n\",", "\"tool_calls\":\"t\",", "1e999", "-1E+400", std::string(320, '7'),
            "{\"role\":\"user\",\"type\":\"image\"},", "{\"type\":\"input_file\",\"file_data\":\"data:application/pdf;base64,JVBERi0x\"},"};
        const std::string bytes = "\"\\u0123456789{}[],: e.-n\xC3\xA9\x80\t";
        const tokenize::Encodings encodings(std::string(SLUICE_SOURCE_DIR) + "/resources/tokenizers");
        tokenize::TokenCalibrator agreement(agreementOptions());
        agreement.observe("gpt-4o-mini", 100, 112, tokenize::LanguageClass::Latin);
        const PromptEstimator full(&encodings, nullptr, &agreement);
        std::mt19937 random(20261207);
        const auto below = [&random](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random); };
        std::vector<std::string> bases;
        for (const std::string& messages : messageLists()) {
            bases.push_back(R"({"model":"gpt-4o-mini","messages":)" + messages + R"(,"max_tokens":16,"user":"u"})");
        }
        std::size_t read = 0;
        std::size_t tried = 0;
        for (const std::string& base : bases) {
            for (int i = 0; i < 400; ++i) {
                std::string body = base;
                for (std::size_t edits = 1 + below(3); edits > 0 && !body.empty(); --edits) {
                    const std::size_t at = below(body.size());
                    switch (below(3)) {
                    case 0: body[at] = bytes[below(bytes.size())]; break;
                    case 1: body.insert(at, snippets[below(snippets.size())]); break;
                    default: body.erase(at, 1 + below(4)); break;
                    }
                }
                ++tried;
                const auto chat = scanChatRequest(body);
                if (!chat) {
                    continue;
                }
                ++read;
                json document;
                const QByteArray where = QByteArray::fromStdString(body.substr(0, 300));
                QVERIFY2(readJsonDocument(body, document), where.constData());
                for (const PromptEstimator* estimator : {static_cast<const PromptEstimator*>(nullptr), &full}) {
                    RequestInfo expected;
                    try {
                        expected = analyzeRequest(ApiFlavor::OpenAI, document, 777, estimator);
                    } catch (const std::exception& e) {
                        QFAIL((std::string("the document refuses what the scan read: ") + e.what() + " in " +
                               where.toStdString())
                                  .c_str());
                    }
                    compare(analyzeScannedChat(*chat, 777, estimator), expected, body);
                    if (QTest::currentTestFailed()) {
                        return;
                    }
                }
            }
        }
        // Most edits break the shape; enough must keep it for the check to mean something.
        QVERIFY2(read > tried / 20, qPrintable(QStringLiteral("%1 of %2 read").arg(read).arg(tried)));
    }

    // Outside the shape, valid or not: left to the document.
    void leavesEverythingElseToTheDocument_data()
    {
        QTest::addColumn<QByteArray>("body");
        const auto row = [](const char* name, const char* body) { QTest::newRow(name) << QByteArray(body); };
        const char* m = R"("messages":[{"role":"user","content":"hi"}])";
        const auto with = [m](const std::string& rest) { return "{\"model\":\"gpt-4o-mini\"," + std::string(m) + rest + "}"; };
        QTest::newRow("stream a string") << QByteArray::fromStdString(with(R"(,"stream":"true")"));
        QTest::newRow("stream null") << QByteArray::fromStdString(with(R"(,"stream":null)"));
        QTest::newRow("stream_options") << QByteArray::fromStdString(with(R"(,"stream_options":{"include_usage":true})"));
        QTest::newRow("tools") << QByteArray::fromStdString(with(R"(,"tools":[])"));
        QTest::newRow("functions") << QByteArray::fromStdString(with(R"(,"functions":[])"));
        QTest::newRow("n zero") << QByteArray::fromStdString(with(R"(,"n":0)"));
        QTest::newRow("n float") << QByteArray::fromStdString(with(R"(,"n":1.0)"));
        QTest::newRow("n too many") << QByteArray::fromStdString(with(R"(,"n":129)"));
        QTest::newRow("max_tokens null") << QByteArray::fromStdString(with(R"(,"max_tokens":null)"));
        QTest::newRow("max_tokens negative") << QByteArray::fromStdString(with(R"(,"max_tokens":-1)"));
        QTest::newRow("max_tokens too many") << QByteArray::fromStdString(with(R"(,"max_tokens":2147483649)"));
        QTest::newRow("temperature high") << QByteArray::fromStdString(with(R"(,"temperature":2.5)"));
        QTest::newRow("temperature null") << QByteArray::fromStdString(with(R"(,"temperature":null)"));
        QTest::newRow("top_p string") << QByteArray::fromStdString(with(R"(,"top_p":"1")"));
        QTest::newRow("repeated model") << QByteArray::fromStdString(with(R"(,"model":"gpt-4")"));
        QTest::newRow("repeated max_tokens") << QByteArray::fromStdString(with(R"(,"max_tokens":5,"max_tokens":6)"));
        QTest::newRow("escaped key") << QByteArray::fromStdString(with(R"(,"max_t\u006fkens":5)"));
        QTest::newRow("lone surrogate elsewhere") << QByteArray::fromStdString(with(R"(,"user":"\ud800")"));
        QTest::newRow("non-ASCII elsewhere") << QByteArray::fromStdString(with(",\"user\":\"caf\xC3\xA9\""));
        row("content parts", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})");
        row("content null", R"({"model":"gpt-4o-mini","messages":[{"role":"assistant","content":null}]})");
        row("tool_calls", R"({"model":"gpt-4o-mini","messages":[{"role":"assistant","tool_calls":"x"}]})");
        row("repeated message key", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"a","content":"b"}]})");
        row("lone surrogate in content", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"\udc00"}]})");
        row("bad UTF-8 in content", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}");
        row("no content", R"({"model":"gpt-4o-mini","messages":[{"role":"user","type":"image"}]})");
        row("a file as a message", R"({"model":"gpt-4o-mini","messages":[{"role":"user","type":"input_file",)"
                                   R"("file_data":"data:application/pdf;base64,JVBERi0x"}]})");
        row("an empty message", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"},{}]})");
        QTest::newRow("exponent elsewhere") << QByteArray::fromStdString(with(R"(,"seed":1e400)"));
        QTest::newRow("exponent deeper") << QByteArray::fromStdString(with(R"(,"metadata":{"x":[-1e999]})"));
        QTest::newRow("hundreds of digits") << QByteArray::fromStdString(with(",\"seed\":" + std::string(400, '9')));
        row("nine members", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"a","a":"1","b":"2",)"
                            R"("c":"3","d":"4","e":"5","f":"6","g":"7"}]})");
        row("message not an object", R"({"model":"gpt-4o-mini","messages":["hi"]})");
        row("no messages", R"({"model":"gpt-4o-mini","messages":[]})");
        row("messages an object", R"({"model":"gpt-4o-mini","messages":{"role":"user"}})");
        row("no model", R"({"messages":[{"role":"user","content":"hi"}]})");
        row("empty model", R"({"model":"","messages":[{"role":"user","content":"hi"}]})");
        row("model a number", R"({"model":4,"messages":[{"role":"user","content":"hi"}]})");
        row("not JSON", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}])");
        row("an array", R"([{"model":"gpt-4o-mini"}])");
        row("trailing text", R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]} x)");
    }
    void leavesEverythingElseToTheDocument()
    {
        QFETCH(QByteArray, body);
        QVERIFY(!scanChatRequest(body.toStdString()).has_value());
    }
};

QTEST_APPLESS_MAIN(TestChatScan)
#include "tst_chat_scan.moc"
