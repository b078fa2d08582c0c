// The mock counting prompts with a real tokenizer (`"tokenizer":
// "o200k_base"`): the counts it enforces and reports are js-tiktoken's
// (tests/data/tokenize/expected.json) plus the provider's framing, not the
// characters ÷ 4 Sluice itself would estimate; a tokenizer it cannot load is
// refused by name.
#include "mock/prompt_counter.h"
#include "support/mock_fixture.h"
#include "support/test_images.h"

#include <QtTest>

#include <fstream>
#include <sstream>

using namespace sluice;
using namespace sluice::mock;
using namespace sluice::test;
using nlohmann::json;

namespace {

const std::string kData = SLUICE_SOURCE_DIR "/tests/data/tokenize";

std::string corpus(const std::string& name)
{
    std::ifstream in(kData + "/corpus/" + name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::int64_t referenceCount(const std::string& name)
{
    std::ifstream in(kData + "/expected.json");
    const json expected = json::parse(in);
    return expected["encodings"]["o200k_base"][name]["count"].get<std::int64_t>();
}

MockConfig counting(PromptCounting how)
{
    MockConfig c = quietConfig();
    c.models["gpt-4o-mini"].promptCounting = how;
    c.models["claude-haiku-4-5"].promptCounting = how;
    return c;
}

std::string pngBase64(std::uint32_t w, std::uint32_t h)
{
    return base64Of(pngHeader(w, h, 20000));
}

std::int64_t usageOf(MockFixture& f, const std::string& path, const json& body, const Headers& headers,
                     const char* field)
{
    const HttpResponse r = f.http.post(path, body.dump(), headers);
    if (r.status != 200) {
        return -r.status;
    }
    return parseJson(r.body)["usage"][field].get<std::int64_t>();
}

std::int64_t chatPromptTokens(MockFixture& f, const std::string& content)
{
    const json body = {{"model", "gpt-4o-mini"},
                       {"max_tokens", 5},
                       {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
    const HttpResponse r = f.http.post("/v1/chat/completions", body.dump(), openAiHeaders());
    if (r.status != 200) {
        return -r.status;
    }
    return parseJson(r.body)["usage"]["prompt_tokens"].get<std::int64_t>();
}

}  // namespace

class TestMockTokens : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void chatCountsAsOpenAiDoes_data();
    void chatCountsAsOpenAiDoes();
    void defaultIsCharactersOverFour();
    void anthropicCountsTheTextPlusFraming();
    void limitsChargeTheRealCount();
    void aMissingRankFileIsRefused();
    void mediaIsChargedByTheProvidersRules();
};

void TestMockTokens::chatCountsAsOpenAiDoes_data()
{
    QTest::addColumn<QString>("file");
    for (const char* f : {"japanese.txt", "chinese.txt", "korean.txt", "code_cpp.txt", "emoji.txt", "english.txt",
                          "whitespace.txt"}) {
        QTest::newRow(f) << QString::fromLatin1(f);
    }
}

void TestMockTokens::chatCountsAsOpenAiDoes()
{
    QFETCH(QString, file);
    MockFixture f(counting(PromptCounting::O200kBase));
    // OpenAI's framing: 3 per message, the role ("user": 1 token), 3 priming the reply.
    QCOMPARE(chatPromptTokens(f, corpus(file.toStdString())), referenceCount(file.toStdString()) + 3 + 1 + 3);
}

void TestMockTokens::defaultIsCharactersOverFour()
{
    MockFixture f(counting(PromptCounting::Estimate));
    const std::string text = corpus("japanese.txt");
    const auto estimate = static_cast<std::int64_t>((text.size() + 3) / 4);
    QCOMPARE(chatPromptTokens(f, text), estimate + 3 + 1 + 3);
    // The point of the option: for Japanese the rule of thumb undercounts
    // (99 against 118 here), so a client trusting it overruns the limit.
    QVERIFY(estimate < referenceCount("japanese.txt") * 9 / 10);
}

void TestMockTokens::anthropicCountsTheTextPlusFraming()
{
    MockFixture f(counting(PromptCounting::O200kBase));
    const json body = {{"model", "claude-haiku-4-5"},
                       {"max_tokens", 5},
                       {"system", corpus("english.txt")},
                       {"messages", json::array({{{"role", "user"}, {"content", corpus("code_cpp.txt")}}})}};
    const HttpResponse r = f.http.post("/v1/messages", body.dump(), anthropicHeaders());
    QCOMPARE(r.status, 200L);
    // The role is framing too ("user": 1 token), plus 3 per message.
    QCOMPARE(parseJson(r.body)["usage"]["input_tokens"].get<std::int64_t>(),
             referenceCount("english.txt") + referenceCount("code_cpp.txt") + 1 + 3);
}

void TestMockTokens::limitsChargeTheRealCount()
{
    // Room for two Japanese prompts (and max_tokens 5) as counted exactly,
    // where characters ÷ 4 would have let three in.
    const std::int64_t exact = referenceCount("japanese.txt") + 7;
    const auto byChars = static_cast<std::int64_t>((corpus("japanese.txt").size() + 3) / 4) + 7;
    const std::int64_t limit = 3 * (byChars + 5) + 5;
    QVERIFY(limit >= 2 * (exact + 5) && limit < 3 * (exact + 5));
    MockConfig c = counting(PromptCounting::O200kBase);
    c.models["gpt-4o-mini"].limits = RateLimits{};
    c.models["gpt-4o-mini"].limits.tokensPerMinute = limit;
    c.models["gpt-4o-mini"].limits.granularity = std::chrono::minutes(1);
    MockFixture f(c);
    QCOMPARE(chatPromptTokens(f, corpus("japanese.txt")), exact);
    QCOMPARE(chatPromptTokens(f, corpus("japanese.txt")), exact);
    QCOMPARE(chatPromptTokens(f, corpus("japanese.txt")), -429);
}

void TestMockTokens::aMissingRankFileIsRefused()
{
    QTemporaryDir empty;
    QVERIFY(empty.isValid());
    QVERIFY(QDir(empty.path()).mkpath(QStringLiteral("tokenizers")));
    const QByteArray before = qgetenv("SLUICE_RESOURCES_DIR");
    qputenv("SLUICE_RESOURCES_DIR", empty.path().toUtf8());
    ManualClock clock;
    QString message;
    try {
        MockProvider provider(clock, counting(PromptCounting::O200kBase));
    } catch (const ConfigError& e) {
        message = QString::fromUtf8(e.what());
    }
    // Nothing counted with a tokenizer: no rank file needed.
    MockProvider plain(clock, counting(PromptCounting::Estimate));
    if (before.isEmpty()) {
        qunsetenv("SLUICE_RESOURCES_DIR");
    } else {
        qputenv("SLUICE_RESOURCES_DIR", before);
    }
    QVERIFY2(message.contains(QStringLiteral("/tokenizer: o200k_base cannot be used")), qPrintable(message));
}

// With a real tokenizer the mock charges an image or a PDF as the providers
// publish, not as the tokens of its base64: Anthropic's 1000×1000 image
// 1,334, OpenAI's 1024×1024 input_image 765, a three-page PDF 9,000. The
// same body without the part is the baseline.
void TestMockTokens::mediaIsChargedByTheProvidersRules()
{
    MockFixture f(counting(PromptCounting::O200kBase));
    const json text = {{"type", "text"}, {"text", "Describe this."}};
    const auto messages = [&](json part) {
        json content = json::array({text});
        if (!part.is_null()) {
            content.push_back(std::move(part));
        }
        return json{{"model", "claude-haiku-4-5"},
                    {"max_tokens", 5},
                    {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
    };
    const std::int64_t plain = usageOf(f, "/v1/messages", messages(nullptr), anthropicHeaders(), "input_tokens");
    QVERIFY(plain > 0);
    const json image = {{"type", "image"},
                        {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", pngBase64(1000, 1000)}}}};
    QCOMPARE(usageOf(f, "/v1/messages", messages(image), anthropicHeaders(), "input_tokens"), plain + 1334);
    const std::string pdf = "%PDF-1.4\n<</Type /Page>> <</Type /Page>> <</Type /Page>> <</Type /Pages /Count 3>>\n%%EOF";
    const json document = {{"type", "document"},
                           {"source", {{"type", "base64"}, {"media_type", "application/pdf"},
                                       {"data", QByteArray::fromStdString(pdf).toBase64().toStdString()}}}};
    QCOMPARE(usageOf(f, "/v1/messages", messages(document), anthropicHeaders(), "input_tokens"), plain + 9000);
    const auto input = [&](json part) {
        json content = json::array({{{"type", "input_text"}, {"text", "Describe this."}}});
        if (!part.is_null()) {
            content.push_back(std::move(part));
        }
        return json{{"model", "gpt-4o-mini"}, {"input", json::array({{{"role", "user"}, {"content", content}}})}};
    };
    const std::int64_t plainInput = usageOf(f, "/v1/responses", input(nullptr), openAiHeaders(), "input_tokens");
    QVERIFY(plainInput > 0);
    const json inputImage = {{"type", "input_image"}, {"image_url", "data:image/png;base64," + pngBase64(1024, 1024)}};
    QCOMPARE(usageOf(f, "/v1/responses", input(inputImage), openAiHeaders(), "input_tokens"), plainInput + 765);
}

QTEST_APPLESS_MAIN(TestMockTokens)
#include "tst_mock_tokens.moc"
