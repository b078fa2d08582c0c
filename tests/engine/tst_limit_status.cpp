// What the dispatcher's status snapshot says about each key+model's limits
// (DispatcherStats::modelLimits, ::calibration) and what a job's timeline
// says of them (the "limits" notes --explain prints): where each limit came
// from, the burst in force after 429s, window pacing, the learned arrival
// margin, the idle ramp and the estimator's calibration. On a ManualClock
// over a scripted transport, so every 429 and every header is the test's.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/limit_status.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"
#include "support/fake_transport.h"
#include "support/scripted_dispatch.h"
#include "support/test_images.h"

#include <QtTest>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using test::FakeTransport;

namespace {

Config config(json provider)
{
    return test::fakeProviderConfig(provider, {{"global", {{"limits", {{"concurrency", 100}}}}}}, "status-config.json");
}

JobSpec chat(const std::string& id, const std::string& model = "gpt-4o-mini", const std::string& text = "hi")
{
    JobSpec j;
    j.customId = id;
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", model}, {"max_tokens", 20}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
    return j;
}

std::string rateLimited(const std::string& tryAgainIn)
{
    return R"({"error":{"message":"Rate limit reached for gpt-4o-mini on requests per min (RPM): )"
           R"(Limit 600, Used 10, Requested 1. Please try again in )" +
           tryAgainIn + R"(.","type":"requests","param":null,"code":"rate_limit_exceeded"}})";
}

struct Rig : test::ScriptedRig<test::OutcomeRecorder> {
    using ScriptedRig::ScriptedRig;
    test::OutcomeRecorder& recorder = listener;

    std::optional<ModelLimitStatus> model(const std::string& name) const
    {
        for (const ModelLimitStatus& m : dispatcher->stats().modelLimits) {
            if (m.provider == "fake" && m.key == "main" && m.model == name) {
                return m;
            }
        }
        return std::nullopt;
    }
    // Polls the snapshot (the dispatcher publishes it every pass on a
    // clock that does not move) until `ok` holds.
    template <typename Ok>
    std::optional<ModelLimitStatus> waitModel(const std::string& name, Ok ok) const
    {
        for (int i = 0; i < 1000; ++i) {
            if (auto m = model(name); m && ok(*m)) {
                return m;
            }
            QTest::qWait(5);
        }
        return model(name);
    }
};

const LimitInForce* limitOf(const ModelLimitStatus& m, Measure measure, const std::string& scope = "model")
{
    for (const LimitInForce& l : m.limits) {
        if (l.spec.measure == measure && l.scope == scope) {
            return &l;
        }
    }
    return nullptr;
}

std::vector<std::string> limitsNotes(const JobOutcome& o)
{
    std::vector<std::string> out;
    for (const TimelineEvent& e : o.timeline) {
        if (e.kind == TimelineEvent::Kind::Limits) {
            out.push_back(e.text());
        }
    }
    return out;
}

bool anyContains(const std::vector<std::string>& texts, const std::string& what)
{
    return std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.find(what) != std::string::npos; });
}

}  // namespace

class TestLimitStatus : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void windowRateLimitPacesEvenly();
    void nearMissNarrowsTheBurstAndTeachesTheMargin();
    void headersTeachAndLowerLimits();
    void idleRampState();
    void calibrationPerModel();
    void calibrationNamesTheCountItReservesBy();
    void exactCountFollowsTheProvidersCount();
    void mediaTeachesNoCalibrator();
    void aKeptConversationIsReservedAndTeachesNoCalibrator();
};

// A 429 that says "in a second" at a pace the ledger allowed: the provider
// counts a window. Before it, the configured limit with its whole burst;
// after it, a burst of one, paced evenly, and the job's timeline says so.
void TestLimitStatus::windowRateLimitPacesEvenly()
{
    Rig rig(config({{"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}}}}}}}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));
    const auto before = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus&) { return true; });
    QVERIFY(before.has_value());
    const LimitInForce* rpm = limitOf(*before, Measure::Requests);
    QVERIFY(rpm != nullptr);
    QCOMPARE(rpm->origin, LimitOrigin::Configured);
    QCOMPARE(rpm->spec.limit, std::int64_t{600});
    QCOMPARE(rpm->burstInForce, rpm->spec.capacity());
    QVERIFY(!rpm->narrowed);
    QVERIFY(!before->pacedEvenly);
    QVERIFY(!before->ramp.has_value());  // an OpenAI provider does not ramp by default

    rig.transport.reply(rig.transport.started()[0].id, 429, rateLimited("1s"), {{"retry-after", "1"}});
    const auto after = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& m) { return m.pacedEvenly; });
    QVERIFY(after.has_value());
    QVERIFY(after->pacedEvenly);
    rpm = limitOf(*after, Measure::Requests);
    QCOMPARE(rpm->origin, LimitOrigin::Configured);  // the value is still the configuration's
    QCOMPARE(rpm->burstInForce, std::int64_t{1});
    QVERIFY(rpm->narrowed);
    const std::string text = describeModelLimits(*after);
    QVERIFY2(text.find("rpm 600 configured") != std::string::npos, text.c_str());
    QVERIFY2(text.find("1 in force: paced evenly") != std::string::npos, text.c_str());

    // The retry goes after the cool-down; its timeline names the change.
    rig.clock.advance(5s);
    QVERIFY(rig.transport.waitStarted(2));
    rig.transport.reply(rig.transport.started()[1].id, 200, FakeTransport::completion());
    QVERIFY(rig.recorder.waitFor(1));
    const auto notes = limitsNotes(rig.recorder.outcome("first"));
    QVERIFY(!notes.empty());
    QVERIFY2(anyContains(notes, "fake/main/gpt-4o-mini: rpm 600 configured") && anyContains(notes, "paced evenly"),
             notes.front().c_str());
}

// "Try again in 3ms": a near miss. The burst halves (narrowed after 429s,
// not paced) and the absolute margin learns the lateness.
void TestLimitStatus::nearMissNarrowsTheBurstAndTeachesTheMargin()
{
    Rig rig(config({{"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}}}}}}}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));
    const auto before = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus&) { return true; });
    QVERIFY(before.has_value());
    const Duration marginBefore = limitOf(*before, Measure::Requests)->leastMargin;
    const std::int64_t burst = limitOf(*before, Measure::Requests)->spec.capacity();
    rig.transport.reply(rig.transport.started()[0].id, 429, rateLimited("3ms"));
    const auto after = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& m) {
        const LimitInForce* l = limitOf(m, Measure::Requests);
        return l != nullptr && l->narrowed;
    });
    QVERIFY(after.has_value());
    const LimitInForce* rpm = limitOf(*after, Measure::Requests);
    QVERIFY(rpm->narrowed);
    QCOMPARE(rpm->burstInForce, std::max<std::int64_t>(2, burst / 2));
    QVERIFY(!after->pacedEvenly);
    QVERIFY2(rpm->leastMargin > marginBefore, std::to_string(rpm->leastMargin.count()).c_str());
    QVERIFY(rpm->marginPer10k > 0);
    const std::string text = describeModelLimits(*after);
    QVERIFY2(text.find("narrowed after 429s") != std::string::npos, text.c_str());
    QVERIFY2(text.find("margin ") != std::string::npos, text.c_str());
}

// Limits the configuration leaves out come from the headers ("learned");
// one the provider announces below the configured value binds ("lowered").
void TestLimitStatus::headersTeachAndLowerLimits()
{
    Rig rig(config({{"learn_limits", true}, {"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 100000}}}}}}}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));
    rig.transport.reply(rig.transport.started()[0].id, 200, FakeTransport::completion(),
                        {{"x-ratelimit-limit-requests", "600"},
                         {"x-ratelimit-remaining-requests", "599"},
                         {"x-ratelimit-limit-tokens", "60000"},
                         {"x-ratelimit-remaining-tokens", "59000"}});
    const auto m = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& s) {
        const LimitInForce* r = limitOf(s, Measure::Requests);
        const LimitInForce* t = limitOf(s, Measure::TotalTokens);
        return r != nullptr && t != nullptr && t->spec.limit == 60000;
    });
    QVERIFY(m.has_value());
    QCOMPARE(limitOf(*m, Measure::Requests)->origin, LimitOrigin::Learned);
    QCOMPARE(limitOf(*m, Measure::Requests)->spec.limit, std::int64_t{600});
    QCOMPARE(limitOf(*m, Measure::TotalTokens)->origin, LimitOrigin::Lowered);
    const std::string text = describeModelLimits(*m);
    QVERIFY2(text.find("rpm 600 learned from headers") != std::string::npos, text.c_str());
    QVERIFY2(text.find("tpm 60,000 lowered by headers") != std::string::npos, text.c_str());
}

// After idle the model ramps from half its request limit over 10 s; the
// snapshot follows the fraction, and a 429 during the ramp flattens the
// next ones (from a quarter, over 20 s).
void TestLimitStatus::idleRampState()
{
    Rig rig(config({{"ramp_after_idle", {{"idle_s", 60}, {"length_s", 10}, {"start", 0.5}}},
                    {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}}}}}}}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));
    auto m = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& s) { return s.ramp && s.ramp->inRamp; });
    QVERIFY(m && m->ramp);
    QCOMPARE(m->ramp->fraction, 0.5);
    QCOMPARE(m->ramp->flattened, 0);
    rig.transport.reply(rig.transport.started()[0].id, 200, FakeTransport::completion());
    QVERIFY(rig.recorder.waitFor(1));
    rig.clock.advance(5s);
    m = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& s) { return s.ramp && s.ramp->fraction > 0.5; });
    QVERIFY(m && m->ramp);
    QCOMPARE(m->ramp->fraction, 0.75);
    QVERIFY2(describeModelLimits(*m).find("ramping up after idle: 75% of the request limit") != std::string::npos,
             describeModelLimits(*m).c_str());
    // A 429 within the ramp.
    rig.dispatcher->submit(chat("second"));
    QVERIFY(rig.transport.waitStarted(2));
    rig.transport.reply(rig.transport.started()[1].id, 429, rateLimited("2s"), {{"retry-after", "2"}});
    m = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& s) { return s.ramp && s.ramp->flattened > 0; });
    QVERIFY(m && m->ramp);
    QCOMPARE(m->ramp->flattened, 1);
    QCOMPARE(m->ramp->start, 0.25);
    QCOMPARE(m->ramp->length, Duration(20s));
    // The retry goes after the hint; then a long idle: the next request
    // starts a ramp.
    rig.clock.advance(3s);
    QVERIFY(rig.transport.waitStarted(3));
    rig.transport.reply(rig.transport.started()[2].id, 200, FakeTransport::completion());
    QVERIFY(rig.recorder.waitFor(2));
    rig.clock.advance(2min);
    m = rig.waitModel("gpt-4o-mini", [](const ModelLimitStatus& s) { return s.ramp && s.ramp->idle; });
    QVERIFY(m && m->ramp && m->ramp->idle && !m->ramp->inRamp);
}

// A model with no public tokenizer: the calibrator learns reported over
// estimated prompt tokens, and the snapshot shows the ratio per model.
void TestLimitStatus::calibrationPerModel()
{
    Rig rig(config({{"models", {{"llama-3-70b", {{"limits", {{"rpm", 600}}}}}}}}));
    QVERIFY(rig.dispatcher->stats().calibration.empty());
    // About 100 tokens by the rule of thumb; the provider counts 300.
    rig.dispatcher->submit(chat("first", "llama-3-70b", std::string(400, 'a')));
    QVERIFY(rig.transport.waitStarted(1));
    rig.transport.reply(rig.transport.started()[0].id, 200, FakeTransport::completion(300, 5));
    QVERIFY(rig.recorder.waitFor(1));
    rig.clock.advance(1s);  // the loop's next pass publishes the status
    std::vector<ModelCalibration> c;
    for (int i = 0; i < 1000 && c.empty(); ++i) {
        c = rig.dispatcher->stats().calibration;
        QTest::qWait(5);
    }
    QCOMPARE(c.size(), std::size_t{1});
    QCOMPARE(c[0].model, std::string("llama-3-70b"));
    QCOMPARE(c[0].samples, std::uint64_t{1});
    QVERIFY2(c[0].ratio > 1.5, std::to_string(c[0].ratio).c_str());
    const std::string text = describeCalibration(c, "llama-3-70b");
    QVERIFY2(text.rfind("prompt estimate ×", 0) == 0 && text.find("1 sample") != std::string::npos, text.c_str());
    QVERIFY(describeCalibration(c, "gpt-4o-mini").empty());
}

// Once the o200k count predicts a model's reports better than characters
// do, the status says that is what is reserved by, with its slope and
// offset; without a proxy calibrator, the ratio as before.
void TestLimitStatus::calibrationNamesTheCountItReservesBy()
{
    tokenize::TokenCalibrator rule;
    tokenize::ProxyCalibrator proxy;
    for (int i = 0; i < 20; ++i) {
        const std::int64_t counted = 20 + i * 19;
        // Characters miss by ±20% from prompt to prompt; o200k by 3 tokens
        // of framing, always.
        rule.observe("claude-haiku-4-5", counted, counted * (i % 2 == 0 ? 6 : 4) / 5, tokenize::LanguageClass::Latin);
        proxy.observe("claude-haiku-4-5", counted, counted - 3, tokenize::LanguageClass::Latin);
    }
    const std::vector<ModelCalibration> c = calibrationStatus(&rule, &proxy);
    QCOMPARE(c.size(), std::size_t{1});
    QVERIFY(c[0].byProxy);
    QCOMPARE(c[0].samples, std::uint64_t{20});
    QVERIFY(std::abs(c[0].ratio - 1.0) < 0.01);
    QVERIFY(std::abs(c[0].offset + 3.0) < 0.5);
    const std::string text = describeCalibration(c, "claude-haiku-4-5");
    QCOMPARE(text, std::string("prompt estimate o200k_base ×1.00 -3 (latin, 20 samples)"));
    const std::vector<ModelCalibration> plain = calibrationStatus(&rule);
    QCOMPARE(plain.size(), std::size_t{1});
    QVERIFY(!plain[0].byProxy);
    QVERIFY2(describeCalibration(plain, "claude-haiku-4-5").rfind("prompt estimate ×", 0) == 0,
             describeCalibration(plain, "claude-haiku-4-5").c_str());
}

// An OpenAI model's prompt is counted with its tokenizer, but what is
// reserved follows the provider's own count: before it has reported one,
// the larger of the exact count and the rule of thumb (a first burst from a
// full bucket must not overrun a provider that counts characters); after,
// the exact count scaled to the provider's, which for a provider that
// counts as the tokenizer does is the exact count itself.
void TestLimitStatus::exactCountFollowsTheProvidersCount()
{
    std::string english;
    for (int i = 0; i < 12; ++i) {
        english += "The quick brown fox jumps over the lazy dog. ";
    }
    const auto reserved = [&](Rig& rig) {
        const Dispatcher::Prepared p = rig.dispatcher->prepare(chat("priced", "gpt-4o-mini", english));
        return std::pair{p.job->cost.inputTokens, p.job->info.prompt};
    };
    const auto answer = [&](Rig& rig, const std::string& id, int reportedPrompt, std::size_t n) {
        rig.dispatcher->submit(chat(id, "gpt-4o-mini", english));
        QVERIFY(rig.transport.waitStarted(n));
        rig.transport.reply(rig.transport.started()[n - 1].id, 200, FakeTransport::completion(reportedPrompt, 5));
        QVERIFY(rig.recorder.waitFor(n));
    };
    {
        Rig rig(config({{"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 60000}}}}}}}}));
        const auto [before, prompt] = reserved(rig);
        QCOMPARE(prompt.method, PromptCountMethod::Exact);
        QVERIFY2(prompt.ruleOfThumb > prompt.counted,
                 qPrintable(QStringLiteral("%1 %2").arg(prompt.ruleOfThumb).arg(prompt.counted)));
        QCOMPARE(before, prompt.ruleOfThumb);
        // The provider counts a quarter more than the tokenizer.
        const auto counted = static_cast<int>(prompt.counted);
        QVERIFY(prompt.ruleOfThumb != counted + counted / 4);  // so the next figure is the report's
        answer(rig, "first", counted + counted / 4, 1);
        QCOMPARE(reserved(rig).first, static_cast<std::int64_t>(counted + counted / 4));
    }
    {
        // A provider that counts as the tokenizer does: the exact count.
        Rig rig(config({{"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 60000}}}}}}}}));
        const auto counted = reserved(rig).second.counted;
        answer(rig, "first", static_cast<int>(counted), 1);
        QCOMPARE(reserved(rig).first, counted);
    }
}

// A 1024×1024 PNG as a chat image part: its header is all the size needs.
json pngPart()
{
    return {{"type", "image_url"},
            {"image_url", {{"url", "data:image/png;base64," + test::base64Of(test::pngHeader(1024, 1024))}}}};
}

// What an image costs says nothing about how text tokenizes: a prompt with
// one is reserved with the image's estimate on top (765 for 1024×1024 at
// OpenAI), and the provider's count for it (far from ours) teaches neither
// the rule of thumb's calibrator nor an exact count's agreement, so the
// text-only prompts after a run of vision requests are reserved as before.
// Without the exclusion the first report alone would raise the next text
// reservation by half or more.
void TestLimitStatus::mediaTeachesNoCalibrator()
{
    const std::string words(400, 'a');
    for (const std::string model : {"llama-3-70b", "gpt-4o-mini"}) {
        Rig rig(config({{"models", {{model, {{"limits", {{"tpm", 600000}}}}}}}}));
        const auto reserved = [&](const JobSpec& spec) { return std::move(*rig.dispatcher->prepare(spec).job); };
        JobSpec vision = chat("vision", model, words);
        vision.body["messages"][0]["content"] = json::array({{{"type", "text"}, {"text", words}}, pngPart()});
        const auto before = reserved(chat("text", model, words));
        const auto priced = reserved(vision);
        QCOMPARE(priced.info.prompt.mediaParts, 1);
        if (model == "llama-3-70b") {
            QCOMPARE(priced.info.prompt.media, std::int64_t{765});
            QCOMPARE(priced.cost.inputTokens, before.cost.inputTokens + 765);
        } else {
            // The chat count sizes the image itself.
            QCOMPARE(priced.info.prompt.counted, before.info.prompt.counted + 765);
        }
        for (int i = 1; i <= 3; ++i) {
            vision.customId = "vision-" + std::to_string(i);
            rig.dispatcher->submit(vision);
            QVERIFY(rig.transport.waitStarted(static_cast<std::size_t>(i)));
            rig.transport.reply(rig.transport.started()[static_cast<std::size_t>(i) - 1].id, 200,
                                FakeTransport::completion(4000, 5));
            QVERIFY(rig.recorder.waitFor(static_cast<std::size_t>(i)));
        }
        QCOMPARE(reserved(chat("text-after", model, words)).cost.inputTokens, before.cost.inputTokens);
    }
}

// A continuation's conversation, kept by the provider (JobSpec::
// contextTokens, from the report of the answer it continues), is reserved
// as it is on top of the estimate of the new text, and the provider's count
// of both teaches neither calibrator: without the exclusion the rule of
// thumb's ratio would rise to its cap after a few such reports.
void TestLimitStatus::aKeptConversationIsReservedAndTeachesNoCalibrator()
{
    const std::string words(400, 'a');
    for (const std::string model : {"llama-3-70b", "gpt-4o-mini"}) {
        Rig rig(config({{"models", {{model, {{"limits", {{"tpm", 600000}}}}}}}}));
        const auto reserved = [&](const JobSpec& spec) { return std::move(*rig.dispatcher->prepare(spec).job); };
        const auto before = reserved(chat("text", model, words));
        JobSpec continued = chat("continued", model, words);
        continued.contextTokens = 800;
        const auto priced = reserved(continued);
        QCOMPARE(priced.info.prompt.context, std::int64_t{800});
        QCOMPARE(priced.cost.inputTokens, before.cost.inputTokens + 800);
        for (int i = 1; i <= 3; ++i) {
            continued.customId = "continued-" + std::to_string(i);
            rig.dispatcher->submit(continued);
            QVERIFY(rig.transport.waitStarted(static_cast<std::size_t>(i)));
            rig.transport.reply(rig.transport.started()[static_cast<std::size_t>(i) - 1].id, 200,
                                FakeTransport::completion(800 + 2 * before.cost.inputTokens, 5));
            QVERIFY(rig.recorder.waitFor(static_cast<std::size_t>(i)));
        }
        QCOMPARE(reserved(chat("text-after", model, words)).cost.inputTokens, before.cost.inputTokens);
    }
}

QTEST_APPLESS_MAIN(TestLimitStatus)
#include "tst_limit_status.moc"
