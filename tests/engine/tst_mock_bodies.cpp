// The mock's answers written as text (core/json_write.h) against the
// documents nlohmann would have made and dumped, byte for byte: the SDKs
// and the gateway read these bodies, and the text writer must not change
// one of them.
#include "core/json_write.h"
#include "mock/dialect.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <random>

using namespace sluice;
using namespace sluice::mock;

namespace {

using OJson = nlohmann::ordered_json;

// The OpenAI chat completion as the mock built it before (a document, then dump()).
std::string openAiReference(const CompletionRequest& r, const MockReply& c)
{
    OJson choices = OJson::array();
    for (std::size_t i = 0; i < c.outputTokens.size(); ++i) {
        choices.push_back(OJson{
            {"index", i},
            {"message",
             {{"role", "assistant"}, {"content", dialect::text(c.textSeed + i, c.outputTokens[i])}, {"refusal", nullptr}}},
            {"logprobs", nullptr},
            {"finish_reason", c.truncated(i, r.maxTokens) ? "length" : "stop"}});
    }
    const std::int64_t out = c.totalOutput();
    const OJson usage{{"prompt_tokens", r.inputTokens},
                      {"completion_tokens", out},
                      {"total_tokens", r.inputTokens + out},
                      {"prompt_tokens_details", {{"cached_tokens", 0}, {"audio_tokens", 0}}},
                      {"completion_tokens_details", {{"reasoning_tokens", 0}, {"audio_tokens", 0}}}};
    return OJson{{"id", c.id},
                 {"object", "chat.completion"},
                 {"created", c.created},
                 {"model", r.model},
                 {"choices", std::move(choices)},
                 {"usage", usage},
                 {"service_tier", "default"},
                 {"system_fingerprint", "fp_mock"}}
        .dump();
}

// Valid UTF-8 of every width, with every ASCII byte among it.
std::string randomText(std::mt19937_64& rng)
{
    static const std::string_view kWide[] = {"é", "日本", "🎉", "\u2028", "Ω"};
    std::string s;
    const auto length = rng() % 40;
    for (std::uint64_t i = 0; i < length; ++i) {
        if (rng() % 4 == 0) {
            s += kWide[rng() % std::size(kWide)];
        } else {
            s.push_back(static_cast<char>(rng() % 128));
        }
    }
    return s;
}

}  // namespace

class TestMockBodies : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void jsonStringIsNlohmannsDump();
    void openAiBodyIsTheDocumentsDump_data();
    void openAiBodyIsTheDocumentsDump();
};

void TestMockBodies::jsonStringIsNlohmannsDump()
{
    std::vector<std::string> texts{"", "plain", "quote\" back\\slash /", "\b\f\n\r\t", std::string(1, '\0'),
                                   "\x7f del", "é日本🎉", "end\\"};
    for (int c = 0; c < 128; ++c) {
        texts.emplace_back(1, static_cast<char>(c));
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) {
        texts.push_back(randomText(rng));
    }
    for (const std::string& t : texts) {
        std::string out = "x";  // appended to, not replaced
        appendJsonString(out, t);
        QCOMPARE(QByteArray::fromStdString(out), QByteArray::fromStdString("x" + nlohmann::json(t).dump()));
    }
}

void TestMockBodies::openAiBodyIsTheDocumentsDump_data()
{
    QTest::addColumn<QString>("model");
    QTest::addColumn<QList<qint64>>("outputs");
    QTest::addColumn<qint64>("maxTokens");
    QTest::addColumn<qint64>("inputTokens");
    QTest::newRow("one choice") << "gpt-4o-mini" << QList<qint64>{8} << qint64{16} << qint64{9};
    QTest::newRow("cut at max_tokens") << "gpt-4o" << QList<qint64>{16} << qint64{16} << qint64{0};
    QTest::newRow("no output") << "gpt-4o" << QList<qint64>{0} << qint64{1} << qint64{1};
    QTest::newRow("three choices") << "gpt-4o-mini" << QList<qint64>{3, 16, 40} << qint64{16} << qint64{123456};
    QTest::newRow("long") << "gpt-4.1" << QList<qint64>{2000} << qint64{4096} << qint64{1};
    QTest::newRow("model with escapes") << QString::fromUtf8("we\"ird\\ \n\t\x01 モデル") << QList<qint64>{5}
                                        << qint64{4} << qint64{1LL << 40};
}

void TestMockBodies::openAiBodyIsTheDocumentsDump()
{
    QFETCH(QString, model);
    QFETCH(QList<qint64>, outputs);
    QFETCH(qint64, maxTokens);
    QFETCH(qint64, inputTokens);
    CompletionRequest r;
    r.model = model.toStdString();
    r.maxTokens = maxTokens;
    r.inputTokens = inputTokens;
    r.n = static_cast<int>(outputs.size());
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{31}, std::uint64_t{1} << 63}) {
        MockReply c;
        c.id = dialect::randomId("chatcmpl-", seed, 29);
        c.created = 1796633709 + static_cast<std::int64_t>(seed % 1000);
        c.textSeed = seed;
        c.outputTokens.assign(outputs.begin(), outputs.end());
        const std::string body = openAiDialect().body(r, c);
        QCOMPARE(QByteArray::fromStdString(body), QByteArray::fromStdString(openAiReference(r, c)));
    }
}

QTEST_APPLESS_MAIN(TestMockBodies)
#include "tst_mock_bodies.moc"
