// The calibrated estimator: the learned ratio starts at 1.0, follows the
// reported/estimated ratios (averaged with the seed first, then an EWMA),
// per model and language class, bounded, and ignores tiny or empty samples;
// PromptEstimator applies it (and counts exactly where a tokenizer exists).
#include "providers/prompt_estimator.h"
#include "tokenize/bpe_encoding.h"
#include "tokenize/encodings.h"
#include "tokenize/language_class.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"

#include <QtTest>

#include <thread>

using namespace sluice;
using namespace sluice::tokenize;
using nlohmann::json;

class TestTokenCalibrator : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void seededAtOne();
    void averagesThenFollows();
    void firstSampleReplacesAPriorThatIsNoSample();
    void perModelAndLanguage();
    void boundedAndFiltered();
    void modelCountBounded();
    void concurrentObservers();
    void languageClasses_data();
    void languageClasses();
    void estimatorCalibratesUnknownModels();
    void estimatorCountsOpenAiExactly();
    void reportedPromptTokensCountsCacheReads();
    void proxyLearnsSlopeAndOffset();
    void proxyOfOneSizeIsARatio();
    void proxySpreadIsItsPredictionsMiss();
    void estimatorReservesByTheBetterCount();
};

void TestTokenCalibrator::seededAtOne()
{
    const TokenCalibrator c;
    QCOMPARE(c.ratio("claude-sonnet-4-5", LanguageClass::Latin), 1.0);
    // Where characters ÷ 4 undercounts every public tokenizer, the first
    // estimates start above it.
    QCOMPARE(c.apply("claude-sonnet-4-5", 100, LanguageClass::Cjk), std::int64_t{150});
    QCOMPARE(c.apply("claude-sonnet-4-5", 100, LanguageClass::Other), std::int64_t{150});
    QCOMPARE(c.apply("claude-sonnet-4-5", 100, LanguageClass::Code), std::int64_t{130});
    QVERIFY(c.snapshot().empty());
    const TokenCalibrator flat(CalibrationOptions{.prior = {1.0, 1.0, 1.0, 1.0}});
    QCOMPARE(flat.apply("claude-sonnet-4-5", 100, LanguageClass::Cjk), std::int64_t{100});
}

void TestTokenCalibrator::averagesThenFollows()
{
    TokenCalibrator c(CalibrationOptions{.prior = {1.0, 1.0, 1.0, 1.0}, .alpha = 0.1});
    // First sample: the average of the seed (1.0) and 3.0.
    c.observe("m", 100, 300, LanguageClass::Cjk);
    QCOMPARE(c.ratio("m", LanguageClass::Cjk), 2.0);
    // Second: weight 1/3 → 2 + (3 - 2) / 3.
    c.observe("m", 100, 300, LanguageClass::Cjk);
    QVERIFY(qFuzzyCompare(c.ratio("m", LanguageClass::Cjk), 2.0 + 1.0 / 3.0));
    for (int i = 0; i < 200; ++i) {
        c.observe("m", 100, 300, LanguageClass::Cjk);
    }
    QVERIFY(std::abs(c.ratio("m", LanguageClass::Cjk) - 3.0) < 1e-6);
    QCOMPARE(c.apply("m", 101, LanguageClass::Cjk), std::int64_t{303});
    // A change of tokenizer is followed at the EWMA's pace: after 10 samples
    // at 1.5 the ratio is 1.5 + 1.5 * 0.9^10.
    for (int i = 0; i < 10; ++i) {
        c.observe("m", 200, 300, LanguageClass::Cjk);
    }
    QVERIFY(std::abs(c.ratio("m", LanguageClass::Cjk) - (1.5 + 1.5 * std::pow(0.9, 10))) < 1e-6);
    const auto snap = c.snapshot();
    QCOMPARE(snap.size(), std::size_t{1});
    QCOMPARE(QString::fromStdString(snap[0].model), QStringLiteral("m"));
    QCOMPARE(snap[0].language, LanguageClass::Cjk);
    QCOMPARE(snap[0].samples, std::uint64_t{212});
}

// An agreement calibrator (an exact count against the provider's): the
// prior is only a default, so the first report replaces it.
void TestTokenCalibrator::firstSampleReplacesAPriorThatIsNoSample()
{
    TokenCalibrator c(sluice::agreementOptions());
    QCOMPARE(c.apply("gpt-4o-mini", 100, LanguageClass::Latin), std::int64_t{100});
    QVERIFY(!c.applyLearned("gpt-4o-mini", 100, LanguageClass::Latin));
    c.observe("gpt-4o-mini", 100, 122, LanguageClass::Latin);
    QCOMPARE(c.apply("gpt-4o-mini", 100, LanguageClass::Latin), std::int64_t{122});
    QCOMPARE(c.applyLearned("gpt-4o-mini", 100, LanguageClass::Latin), std::optional<std::int64_t>{122});
    // Then a plain average, then the EWMA.
    c.observe("gpt-4o-mini", 100, 118, LanguageClass::Latin);
    QVERIFY(qFuzzyCompare(c.ratio("gpt-4o-mini", LanguageClass::Latin), 1.2));
    // Learned per language class: nothing yet for another one.
    QVERIFY(!c.applyLearned("gpt-4o-mini", 100, LanguageClass::Cjk));
}

void TestTokenCalibrator::perModelAndLanguage()
{
    TokenCalibrator c;
    c.observe("claude", 100, 80, LanguageClass::Latin);
    c.observe("claude", 100, 250, LanguageClass::Code);
    c.observe("gemini", 100, 120, LanguageClass::Latin);
    QCOMPARE(c.ratio("claude", LanguageClass::Latin), 0.9);
    QCOMPARE(c.ratio("claude", LanguageClass::Code), 1.9);  // (prior 1.3 + 2.5) / 2
    QCOMPARE(c.ratio("claude", LanguageClass::Cjk), 1.5);   // the prior: no sample yet
    QCOMPARE(c.ratio("gemini", LanguageClass::Latin), 1.1);
    QCOMPARE(c.snapshot().size(), std::size_t{3});
}

void TestTokenCalibrator::boundedAndFiltered()
{
    TokenCalibrator c(CalibrationOptions{.alpha = 0.5, .minRatio = 0.5, .maxRatio = 2.0, .minEstimate = 10});
    c.observe("m", 5, 500, LanguageClass::Latin);    // estimate too small to tell
    c.observe("m", 100, 0, LanguageClass::Latin);    // no usage reported
    c.observe("m", 0, 100, LanguageClass::Latin);
    QVERIFY(c.snapshot().empty());
    for (int i = 0; i < 50; ++i) {
        c.observe("m", 100, 100000, LanguageClass::Latin);  // a wild sample counts as maxRatio
    }
    QCOMPARE(c.ratio("m", LanguageClass::Latin), 2.0);
    for (int i = 0; i < 50; ++i) {
        c.observe("m", 100, 1, LanguageClass::Latin);
    }
    QCOMPARE(c.ratio("m", LanguageClass::Latin), 0.5);
    QCOMPARE(c.apply("m", 1, LanguageClass::Latin), std::int64_t{1});  // never rounds a prompt to nothing
}

void TestTokenCalibrator::modelCountBounded()
{
    TokenCalibrator c(CalibrationOptions{.maxModels = 2});
    c.observe("a", 100, 200, LanguageClass::Latin);
    c.observe("b", 100, 200, LanguageClass::Latin);
    c.observe("c", 100, 200, LanguageClass::Latin);
    QCOMPARE(c.ratio("c", LanguageClass::Latin), 1.0);
    c.observe("a", 100, 200, LanguageClass::Code);  // known models keep learning
    QCOMPARE(c.snapshot().size(), std::size_t{3});
}

void TestTokenCalibrator::concurrentObservers()
{
    TokenCalibrator c;
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
        threads.emplace_back([&c, k] {
            for (int i = 0; i < 1000; ++i) {
                c.observe(k % 2 == 0 ? "even" : "odd", 100, 150, LanguageClass::Latin);
                (void)c.apply("even", 100, LanguageClass::Latin);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto snap = c.snapshot();
    QCOMPARE(snap.size(), std::size_t{2});
    QCOMPARE(snap[0].samples + snap[1].samples, std::uint64_t{4000});
    QVERIFY(std::abs(snap[0].ratio - 1.5) < 1e-9);
}

void TestTokenCalibrator::languageClasses_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("cls");
    QTest::newRow("english") << QStringLiteral("The quick brown fox jumps over the lazy dog, twice (really).") << "latin";
    QTest::newRow("french") << QStringLiteral("Où est la bibliothèque ? Je ne sais pas, désolé.") << "latin";
    QTest::newRow("japanese") << QStringLiteral("吾輩は猫である。名前はまだ無い。") << "cjk";
    QTest::newRow("korean in english") << QStringLiteral("Say 안녕하세요 and 감사합니다 to them") << "cjk";
    QTest::newRow("russian") << QStringLiteral("Привет, как дела? Всё хорошо.") << "other";
    QTest::newRow("arabic") << QStringLiteral("مرحبا بالعالم، كيف حالك؟") << "other";
    QTest::newRow("cpp") << QStringLiteral("int main() {\n    std::vector<int> v{1, 2};\n    return v[0] == 1;\n}") << "code";
    QTest::newRow("json") << QStringLiteral("{\"a\": [1, 2], \"b\": {\"c\": null}}") << "code";
    QTest::newRow("empty") << QString() << "latin";
    // One line of thousands of bytes, tallied sixteen at a time, past the
    // 255 blocks after which the lane counts are summed: exactly one code
    // mark per twelve visible characters is code (marks × 12 >= visible),
    // one visible character more is not. A count off by one either way in
    // the block path turns the answer.
    const QString twelve = QStringLiteral("abcdefgh ij(k");  // 12 visible, 1 mark, 1 space
    QTest::newRow("long line at the code threshold") << twelve.repeated(700) << "code";
    QTest::newRow("long line just under it") << twelve.repeated(700) + QLatin1Char('z') << "latin";
    QTest::newRow("tab-led line at the threshold, odd tail")
        << QStringLiteral("\t") + twelve.repeated(345) + QStringLiteral("\n") + twelve.repeated(2) << "code";
}

void TestTokenCalibrator::languageClasses()
{
    QFETCH(QString, text);
    QFETCH(QString, cls);
    QCOMPARE(QString::fromLatin1(languageClassName(classifyLanguage(text.toStdString()))), cls);
    QCOMPARE(parseLanguageClass(cls.toStdString()), classifyLanguage(text.toStdString()));
}

void TestTokenCalibrator::estimatorCalibratesUnknownModels()
{
    TokenCalibrator calibrator;
    const PromptEstimator estimator(nullptr, &calibrator);
    const json body = {{"model", "claude-sonnet-4-5"},
                       {"max_tokens", 100},
                       {"messages", json::array({{{"role", "user"}, {"content", "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"}}})}};
    const RequestInfo before = analyzeRequest(ApiFlavor::Anthropic, body, 4096, &estimator);
    QCOMPARE(before.prompt.method, PromptCountMethod::Calibrated);
    QCOMPARE(before.prompt.language, LanguageClass::Cjk);
    // Nothing learned yet: the rule of thumb with the CJK prior.
    QCOMPARE(before.promptTokens, static_cast<std::int64_t>(std::ceil(1.5 * static_cast<double>(before.prompt.ruleOfThumb))));
    QCOMPARE(before.prompt.ruleOfThumb, estimatePromptTokens(ApiFlavor::Anthropic, body));
    for (int i = 0; i < 100; ++i) {
        calibrator.observe("claude-sonnet-4-5", before.prompt.ruleOfThumb, 2 * before.prompt.ruleOfThumb, before.prompt.language);
    }
    const RequestInfo after = analyzeRequest(ApiFlavor::Anthropic, body, 4096, &estimator);
    QCOMPARE(after.prompt.ruleOfThumb, before.prompt.ruleOfThumb);
    QCOMPARE(after.promptTokens, 2 * before.prompt.ruleOfThumb);
    // Without an estimator: the rule of thumb, as before.
    QCOMPARE(analyzeRequest(ApiFlavor::Anthropic, body, 4096).promptTokens, before.prompt.ruleOfThumb);
}

void TestTokenCalibrator::estimatorCountsOpenAiExactly()
{
    const Encodings encodings(std::filesystem::path(SLUICE_SOURCE_DIR) / "resources/tokenizers");
    TokenCalibrator calibrator;
    calibrator.observe("gpt-4o-mini", 100, 400, LanguageClass::Latin);  // must not apply to exact counts
    const PromptEstimator estimator(&encodings, &calibrator);
    // The cookbook's own example: 124 prompt tokens under gpt-4o's encoding.
    const json body = json::parse(R"({"model":"gpt-4o-mini","messages":[
      {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
      {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
      {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
      {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
      {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
      {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]})");
    const RequestInfo info = analyzeRequest(ApiFlavor::OpenAI, body, 4096, &estimator);
    QCOMPARE(info.prompt.method, PromptCountMethod::Exact);
    QCOMPARE(info.promptTokens, std::int64_t{124});
    // A model with no public tokenizer on an OpenAI-compatible API is calibrated.
    json other = body;
    other["model"] = "llama-3.1-70b";
    QCOMPARE(analyzeRequest(ApiFlavor::OpenAI, other, 4096, &estimator).prompt.method, PromptCountMethod::Calibrated);
    // No rank files: the estimate, not a failure.
    const Encodings missing("/nonexistent/sluice-tokenizers");
    const PromptEstimator fallback(&missing, nullptr);
    const RequestInfo est = analyzeRequest(ApiFlavor::OpenAI, body, 4096, &fallback);
    QCOMPARE(est.prompt.method, PromptCountMethod::RuleOfThumb);
    QCOMPARE(est.promptTokens, estimatePromptTokens(ApiFlavor::OpenAI, body));
}

void TestTokenCalibrator::reportedPromptTokensCountsCacheReads()
{
    const auto anthropic = usageFromText(ApiFlavor::Anthropic,
        R"({"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":5})");
    QVERIFY(anthropic);
    QCOMPARE(reportedPromptTokens(ApiFlavor::Anthropic, *anthropic), std::int64_t{330});
    const auto openai = usageFromText(ApiFlavor::OpenAI,
        R"({"prompt_tokens":400,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":256}})");
    QVERIFY(openai);
    QCOMPARE(reportedPromptTokens(ApiFlavor::OpenAI, *openai), std::int64_t{400});
}

// A provider counting 1.2 tokens per counted token plus 5 of framing: the
// fit finds both from prompts of different sizes, and predicts exactly.
void TestTokenCalibrator::proxyLearnsSlopeAndOffset()
{
    ProxyCalibrator proxy;
    QVERIFY(!proxy.fit("claude-haiku-4-5", LanguageClass::Latin));
    QVERIFY(!proxy.predict("claude-haiku-4-5", 100, LanguageClass::Latin));
    for (int i = 0; i < 60; ++i) {
        const std::int64_t counted = 10 + (i * 37) % 390;
        proxy.observe("claude-haiku-4-5", counted, counted * 6 / 5 + 5, LanguageClass::Latin);
    }
    const auto f = proxy.fit("claude-haiku-4-5", LanguageClass::Latin);
    QVERIFY(f);
    QCOMPARE(f->samples, std::uint64_t{60});
    QVERIFY(std::abs(f->slope - 1.2) < 0.01);
    QVERIFY(std::abs(f->offset - 5.0) < 1.0);
    QCOMPARE(proxy.predict("claude-haiku-4-5", 100, LanguageClass::Latin), std::optional<std::int64_t>(125));
    QCOMPARE(proxy.predict("claude-haiku-4-5", 20, LanguageClass::Latin), std::optional<std::int64_t>(29));
    // Per model and class; nothing from counts or reports below 1.
    QVERIFY(!proxy.fit("claude-haiku-4-5", LanguageClass::Cjk));
    QVERIFY(!proxy.fit("claude-sonnet-4-5", LanguageClass::Latin));
    proxy.observe("claude-sonnet-4-5", 0, 10, LanguageClass::Latin);
    proxy.observe("claude-sonnet-4-5", 10, 0, LanguageClass::Latin);
    QVERIFY(!proxy.fit("claude-sonnet-4-5", LanguageClass::Latin));
}

// Prompts all of one size cannot tell an offset from a slope: the fit is
// the ratio, not a division by a zero variance.
void TestTokenCalibrator::proxyOfOneSizeIsARatio()
{
    ProxyCalibrator proxy;
    for (int i = 0; i < 10; ++i) {
        proxy.observe("m", 100, 130, LanguageClass::Code);
    }
    const auto f = proxy.fit("m", LanguageClass::Code);
    QVERIFY(f);
    QVERIFY(std::abs(f->slope - 1.3) < 1e-9);
    QVERIFY(std::abs(f->offset) < 1e-6);
    QCOMPARE(proxy.predict("m", 200, LanguageClass::Code), std::optional<std::int64_t>(260));
}

// The spread is of the predictions made before each sample: none for a
// provider the fit follows exactly, about the noise for one it cannot.
void TestTokenCalibrator::proxySpreadIsItsPredictionsMiss()
{
    ProxyCalibrator exact;
    ProxyCalibrator noisy;
    for (int i = 0; i < 200; ++i) {
        const std::int64_t counted = 20 + (i * 53) % 380;
        exact.observe("m", counted, counted - 3, LanguageClass::Latin);
        // Every other report 20% off, either way.
        const double off = i % 2 == 0 ? 1.0 : (i % 4 == 1 ? 1.2 : 0.8);
        noisy.observe("m", counted, static_cast<std::int64_t>(static_cast<double>(counted) * off), LanguageClass::Latin);
    }
    QVERIFY(exact.fit("m", LanguageClass::Latin)->spread < 0.01);
    const double spread = noisy.fit("m", LanguageClass::Latin)->spread;
    QVERIFY2(spread > 0.08 && spread < 0.3, std::to_string(spread).c_str());
}

// A varied mix against a provider that counts with a BPE tokenizer: the
// characters' ratio differs between English and emoji in one language
// class, the o200k count does not, and once both have enough reports the
// estimator reserves by the o200k count, to the token. Against a provider
// that counts characters as Sluice's rule of thumb does, it keeps that.
void TestTokenCalibrator::estimatorReservesByTheBetterCount()
{
    const Encodings encodings(std::filesystem::path(SLUICE_SOURCE_DIR) / "resources/tokenizers");
    const BpeEncoding* o200k = encodings.get(EncodingId::O200kBase);
    QVERIFY(o200k != nullptr);
    const auto bodyOf = [](int i) {
        const std::string text = i % 2 == 0 ? std::string("Summarise these meeting notes in three bullet points. ")
                                            : std::string("🚀✨🔥 emoji-heavy status update 🎉🎉 done ✅ next ➡️ ");
        std::string content;
        for (int k = 0; k < 1 + (i * 7) % 13; ++k) {
            content += text;
        }
        return json{{"model", "claude-haiku-4-5"},
                    {"max_tokens", 100},
                    {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
    };
    // The provider: o200k's count of each text, 3 tokens less framing.
    const auto bpeProvider = [&](const json& body) {
        return proxyPromptTokens(ApiFlavor::Anthropic, body, [&](std::string_view t) {
                   return static_cast<std::int64_t>(o200k->count(t));
               }) - 3;
    };
    // How many of the last 40 estimates were the provider's count exactly;
    // -1 if any was not read as Latin with a proxy count.
    const auto run = [&](const std::function<std::int64_t(const json&)>& provider) -> int {
        TokenCalibrator calibrator;
        ProxyCalibrator proxy;
        const PromptEstimator estimator(&encodings, &calibrator, nullptr, &proxy);
        int exact = 0;
        for (int i = 0; i < 60; ++i) {
            const json body = bodyOf(i);
            const RequestInfo info = analyzeRequest(ApiFlavor::Anthropic, body, 4096, &estimator);
            if (info.prompt.language != LanguageClass::Latin || info.prompt.proxy <= 0) {
                return -1;
            }
            const std::int64_t reported = provider(body);
            exact += i >= 20 && info.promptTokens == reported ? 1 : 0;
            calibrator.observe("claude-haiku-4-5", info.prompt.ruleOfThumb, reported, info.prompt.language);
            proxy.observe("claude-haiku-4-5", info.prompt.proxy, reported, info.prompt.language);
        }
        return exact;
    };
    QCOMPARE(run(bpeProvider), 40);
    // Characters ÷ 4 is what this provider counts: the rule of thumb fits
    // it with no spread and stays; its calibrated estimate is exact.
    QCOMPARE(run([](const json& body) { return estimatePromptTokens(ApiFlavor::Anthropic, body); }), 40);
    // Without a proxy calibrator nothing is counted twice.
    TokenCalibrator calibrator;
    const PromptEstimator plain(&encodings, &calibrator);
    QCOMPARE(analyzeRequest(ApiFlavor::Anthropic, bodyOf(1), 4096, &plain).prompt.proxy, std::int64_t{0});
}

QTEST_APPLESS_MAIN(TestTokenCalibrator)
#include "tst_token_calibrator.moc"
