// The mock's answers written as text (core/json_write.h) against the
// documents nlohmann would have made and dumped, byte for byte: the SDKs
// and the gateway read these bodies, and the text writer must not change
// one of them.
#include "core/json_write.h"
#include "mock/dialect.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <algorithm>
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

OJson openAiUsage(const CompletionRequest& r, const MockReply& c)
{
    const std::int64_t out = c.totalOutput();
    return OJson{{"prompt_tokens", r.inputTokens},
                 {"completion_tokens", out},
                 {"total_tokens", r.inputTokens + out},
                 {"prompt_tokens_details", {{"cached_tokens", 0}, {"audio_tokens", 0}}},
                 {"completion_tokens_details", {{"reasoning_tokens", 0}, {"audio_tokens", 0}}}};
}

// The OpenAI stream as the mock built it before: each chunk a document.
StreamScript openAiStreamReference(const CompletionRequest& r, const MockReply& c)
{
    const auto frame = [](const OJson& chunk) { return "data: " + chunk.dump() + "\n\n"; };
    StreamScript s;
    const auto chunk = [&](OJson choices) {
        OJson out{{"id", c.id},
                  {"object", "chat.completion.chunk"},
                  {"created", c.created},
                  {"model", r.model},
                  {"service_tier", "default"},
                  {"system_fingerprint", "fp_mock"},
                  {"choices", std::move(choices)}};
        if (r.includeUsage) {
            out["usage"] = nullptr;
        }
        return out;
    };
    const auto choice = [](std::size_t index, OJson delta, OJson finish) {
        return OJson::array(
            {OJson{{"index", index}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}}});
    };
    const std::size_t n = c.outputTokens.size();
    for (std::size_t i = 0; i < n; ++i) {
        s.preamble.push_back(
            frame(chunk(choice(i, OJson{{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr))));
    }
    std::int64_t longest = 0;
    for (const auto t : c.outputTokens) {
        longest = std::max(longest, t);
    }
    for (std::int64_t t = 0; t < longest; ++t) {
        for (std::size_t i = 0; i < n; ++i) {
            if (t < c.outputTokens[i]) {
                s.tokens.push_back(frame(chunk(choice(i, OJson{{"content", dialect::token(c.textSeed + i, t)}}, nullptr))));
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        s.ending.push_back(frame(chunk(choice(i, OJson::object(), c.truncated(i, r.maxTokens) ? "length" : "stop"))));
    }
    if (r.includeUsage) {
        OJson last = chunk(OJson::array());
        last["usage"] = openAiUsage(r, c);
        s.ending.push_back(frame(last));
    }
    s.ending.emplace_back("data: [DONE]\n\n");
    return s;
}

OJson anthropicUsage(std::int64_t input, std::int64_t output)
{
    return OJson{{"input_tokens", input}, {"cache_creation_input_tokens", 0}, {"cache_read_input_tokens", 0},
                 {"output_tokens", output}};
}

std::string anthropicReference(const CompletionRequest& r, const MockReply& c)
{
    const std::int64_t out = c.outputTokens.at(0);
    return OJson{{"id", c.id},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", r.model},
                 {"content", OJson::array({OJson{{"type", "text"}, {"text", dialect::text(c.textSeed, out)}}})},
                 {"stop_reason", c.truncated(0, r.maxTokens) ? "max_tokens" : "end_turn"},
                 {"stop_sequence", nullptr},
                 {"usage", anthropicUsage(r.inputTokens, out)}}
        .dump();
}

StreamScript anthropicStreamReference(const CompletionRequest& r, const MockReply& c)
{
    const auto frame = [](std::string_view event, const OJson& data) {
        return "event: " + std::string(event) + "\ndata: " + data.dump() + "\n\n";
    };
    StreamScript s;
    const std::int64_t out = c.outputTokens.at(0);
    s.preamble.push_back(frame("message_start", OJson{{"type", "message_start"},
                                                      {"message",
                                                       {{"id", c.id},
                                                        {"type", "message"},
                                                        {"role", "assistant"},
                                                        {"model", r.model},
                                                        {"content", OJson::array()},
                                                        {"stop_reason", nullptr},
                                                        {"stop_sequence", nullptr},
                                                        {"usage", anthropicUsage(r.inputTokens, 1)}}}}));
    s.preamble.push_back(frame("content_block_start", OJson{{"type", "content_block_start"},
                                                            {"index", 0},
                                                            {"content_block", {{"type", "text"}, {"text", ""}}}}));
    s.preamble.push_back(frame("ping", OJson{{"type", "ping"}}));
    for (std::int64_t t = 0; t < out; ++t) {
        s.tokens.push_back(frame("content_block_delta",
                                 OJson{{"type", "content_block_delta"},
                                       {"index", 0},
                                       {"delta", {{"type", "text_delta"}, {"text", dialect::token(c.textSeed, t)}}}}));
    }
    s.ending.push_back(frame("content_block_stop", OJson{{"type", "content_block_stop"}, {"index", 0}}));
    s.ending.push_back(frame("message_delta", OJson{{"type", "message_delta"},
                                                    {"delta",
                                                     {{"stop_reason", c.truncated(0, r.maxTokens) ? "max_tokens" : "end_turn"},
                                                      {"stop_sequence", nullptr}}},
                                                    {"usage", {{"output_tokens", out}}}}));
    s.ending.push_back(frame("message_stop", OJson{{"type", "message_stop"}}));
    return s;
}

QByteArray joined(const StreamScript& s)
{
    QByteArray all;
    for (const auto* part : {&s.preamble, &s.tokens, &s.ending}) {
        all += "---\n";
        for (const std::string& frame : *part) {
            all += QByteArray::fromStdString(frame);
        }
    }
    return all;
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
    void textIsItsTokens();
    void openAiBodyIsTheDocumentsDump_data();
    void openAiBodyIsTheDocumentsDump();
    void anthropicBodyIsTheDocumentsDump_data() { openAiBodyIsTheDocumentsDump_data(); }
    void anthropicBodyIsTheDocumentsDump();
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

void TestMockBodies::textIsItsTokens()
{
    // A streamed answer sends token() by token(); the whole answer is text(): the same words.
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{5}, ~std::uint64_t{0}}) {
        std::string joined;
        for (std::int64_t i = 0; i < 100; ++i) {
            joined += dialect::token(seed, i);
        }
        QCOMPARE(QByteArray::fromStdString(dialect::text(seed, 100)), QByteArray::fromStdString(joined));
        QVERIFY(joined.find("  ") == std::string::npos && joined.front() != ' ');
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

// The current row's request and its answers' lengths (both dialects' tests read the same rows).
static std::pair<CompletionRequest, std::vector<std::int64_t>> rowRequest()
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
    return {r, std::vector<std::int64_t>(outputs.begin(), outputs.end())};
}

void TestMockBodies::openAiBodyIsTheDocumentsDump()
{
    auto [r, outputs] = rowRequest();
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{31}, std::uint64_t{1} << 63}) {
        MockReply c;
        c.id = dialect::randomId("chatcmpl-", seed, 29);
        c.created = 1796633709 + static_cast<std::int64_t>(seed % 1000);
        c.textSeed = seed;
        c.outputTokens = outputs;
        const std::string body = openAiDialect().body(r, c);
        QCOMPARE(QByteArray::fromStdString(body), QByteArray::fromStdString(openAiReference(r, c)));
        for (const bool usage : {false, true}) {
            r.stream = true;
            r.includeUsage = usage;
            QCOMPARE(joined(openAiDialect().stream(r, c)), joined(openAiStreamReference(r, c)));
        }
        r.stream = false;
        r.includeUsage = false;
    }
}

void TestMockBodies::anthropicBodyIsTheDocumentsDump()
{
    auto [r, outputs] = rowRequest();
    r.n = 1;
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{31}, std::uint64_t{1} << 63}) {
        MockReply c;
        c.id = dialect::randomId("msg_", seed, 24);
        c.created = 1796633709;
        c.textSeed = seed;
        c.outputTokens = {outputs.front()};  // Messages has one answer
        QCOMPARE(QByteArray::fromStdString(anthropicDialect().body(r, c)),
                 QByteArray::fromStdString(anthropicReference(r, c)));
        r.stream = true;
        QCOMPARE(joined(anthropicDialect().stream(r, c)), joined(anthropicStreamReference(r, c)));
        r.stream = false;
    }
}

QTEST_APPLESS_MAIN(TestMockBodies)
#include "tst_mock_bodies.moc"
