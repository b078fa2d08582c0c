// Whether a provider gives back the output a request reserved and did not
// use (RefundProbe), and what requests that state no max_tokens need
// reserve (UnstatedOutputProbe), learned against the mock's own limiter in
// simulated time (SimTransport on a ManualClock) with no rate-limit
// headers: the probes' steps alone, then the dispatcher against a provider
// that refunds, one that keeps what it charged on arrival, and one that
// charges the output when the answer ends.
#include "admission/admission.h"
#include "config/config.h"
#include "core/json_reader.h"
#include "dispatch/dispatcher.h"
#include "dispatch/refund_probe.h"
#include "dispatch/unstated_output.h"
#include "simulate/sim_transport.h"

#include <QtTest>

#include <future>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const TimePoint kT0 = TimePoint{} + 1000s;

// Completed answers' tokens as the provider reported them, at the
// simulated time each arrived (listeners run on the dispatcher thread, the
// only one that moves the clock).
class Recorder : public DispatchListener {
public:
    explicit Recorder(Clock& clock) : m_clock(clock) {}
    void onProviderLearned(const std::string& provider, const std::string& what) override
    {
        std::lock_guard g(m_mutex);
        m_learned.push_back(provider + ": " + what);
    }
    std::vector<std::string> learned()
    {
        std::lock_guard g(m_mutex);
        return m_learned;
    }
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        if (o.result == JobResult::Completed && o.usage) {
            m_done.emplace_back(m_clock.now(), o.usage->inputTokens + o.usage->outputTokens);
        }
    }
    // Tokens answered per second between `from` and `to` after `t0`.
    double tokensPerSecond(TimePoint t0, Duration from, Duration to)
    {
        std::lock_guard g(m_mutex);
        std::int64_t sum = 0;
        for (const auto& [at, tokens] : m_done) {
            sum += at >= t0 + from && at < t0 + to ? tokens : 0;
        }
        return static_cast<double>(sum) / std::chrono::duration<double>(to - from).count();
    }
    std::size_t completed()
    {
        std::lock_guard g(m_mutex);
        return m_done.size();
    }

private:
    Clock& m_clock;
    std::mutex m_mutex;
    std::vector<std::pair<TimePoint, std::int64_t>> m_done;
    std::vector<std::string> m_learned;
};

JobSpec chat(int i, bool statesMax)
{
    JobSpec j;
    j.customId = "p" + std::to_string(i);
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", "gpt-4o-mini"},
              {"messages", json::array({{{"role", "user"}, {"content", "Say hello to " + j.customId}}})}};
    if (statesMax) {
        j.body["max_tokens"] = 200;
    }
    return j;
}

// Requests that state no max_tokens: the model's default on both sides,
// under the 1,000 tokens a second of the limit allows at once.
constexpr std::int64_t kDefaultMax = 900;

constexpr std::int64_t kTpm = 60'000;

struct Run {
    simulate::SimProviderCounts counts;
    double shareOfLimit = 0;  // tokens answered per second from 120 s to 300 s, of the limit's
    double lateShare = 0;     // the same from 180 s
    std::string refunds;      // what the status said at the end
    std::vector<std::string> told;  // what the listener was told, in order
    std::size_t completed = 0;
    bool ended = false;  // the simulated run reached its end
};

// 60,000 TPM enforced per second as a bucket, no headers, outputs of 20 to
// 200 tokens against max_tokens 200 (110 on average: the arrival charge is
// about twice what is used), or against the default of 900 when requests
// state none. Demand is more than 300 s can serve.
Run runAgainst(mock::TokenCharging charging, const std::string& accounting, bool headers = false,
               bool statesMax = true)
{
    constexpr int kJobs = 3000;
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 400;
    m.latency.perOutputTokenMs = 2;
    m.latency.firstTokenMs = 0;
    m.output = mock::OutputModel{mock::DistributionKind::Uniform, 20, 200, 110, 0.5};
    m.rateLimitHeaders = headers;
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.tokensPerMinute = kTpm;
    m.models["gpt-4o-mini"].limits.granularity = 1s;
    m.models["gpt-4o-mini"].limits.tokenCharging = charging;
    m.models["gpt-4o-mini"].maxOutputTokens = kDefaultMax;

    json provider = {{"name", "compatible"},
                     {"flavor", "openai"},
                     {"base_url", "http://simulated.invalid"},
                     {"models",
                      {{"gpt-4o-mini",
                        {{"limits", {{"tpm", kTpm}, {"granularity_s", 1}}}, {"default_max_tokens", kDefaultMax}}}}},
                     {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    if (!accounting.empty()) {
        provider["token_accounting"] = accounting;
    }
    Config cfg = loadConfig(JsonSource("refunds.json", json{{"providers", json::array({provider})}}.dump(2)),
                            [](const std::string&) { return std::optional<std::string>("sk-mock"); });

    ManualClock clock(kT0, WallTime{});
    simulate::SimTransport transport(clock, m);
    Admission admission(clock);
    Recorder recorder(clock);
    DispatcherOptions opt;
    opt.seed = 7;
    opt.transport = &transport;
    Dispatcher dispatcher(std::move(cfg), clock, admission, recorder, opt);
    transport.schedule(kT0, [&dispatcher, statesMax] {
        for (int i = 0; i < kJobs; ++i) {
            dispatcher.submit(chat(i, statesMax));
        }
    });
    // Ends the run at 300 s of simulated time, whatever is left queued, and
    // reads it a simulated second later: the loop publishes its status as
    // it turns, every 100 ms of its clock.
    std::promise<void> ended;
    transport.schedule(kT0 + 300s, [&dispatcher] { dispatcher.pause(); });
    transport.schedule(kT0 + 301s, [&ended] { ended.set_value(); });
    dispatcher.start();
    Run run;
    // Real time only bounds the wait; a simulated run takes about a second.
    run.ended = ended.get_future().wait_for(120s) == std::future_status::ready;
    for (const ModelLimitStatus& s : dispatcher.stats().modelLimits) {
        run.refunds += s.refunds;
    }
    dispatcher.stop();
    run.counts = transport.counts();
    run.shareOfLimit = recorder.tokensPerSecond(kT0, 120s, 300s) / (kTpm / 60.0);
    run.lateShare = recorder.tokensPerSecond(kT0, 180s, 300s) / (kTpm / 60.0);
    run.completed = recorder.completed();
    run.told = recorder.learned();
    return run;
}

}  // namespace

class TestDispatchRefunds : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void probeStepsUpAndDecides();
    void probeNeedsABoundLimitAndUnusedOutput();
    void stepsThatGaveNothingBackDecideNothing();
    void aFewAnswersAStepAreEnough();
    void a429WhileProbingKeepsTheCharge();
    void headersEndTheProbe();
    void aProviderThatRefundsIsFoundOut();
    void aProviderThatKeepsItsChargeCostsAFew429s();
    void unstatedHoldDropsOnceRefundsAreKnown();
    void unstatedHoldDoublesOnA429AndRestoresOnMore();
    void unstatedHoldFollowsTheRecentAverage();
    void unstated429sNearTheLimitKeepTheHold();
    void unstated429sLiftTheHoldTowardsTheLongestAnswer();
    void unstatedOutputAgainstAProviderThatChargesOnCompletion();
    void unstatedOutputAgainstAProviderThatChargesItsDefault();
};

namespace {

// A bound step with a quarter of each reservation unused.
void boundStep(RefundProbe& p, TimePoint& t)
{
    for (int i = 0; i < 10; ++i) {
        p.answered(400, 100, t);
        p.waitedOnTokens(t);
        t += RefundProbe::kStep / 10;
    }
}

// Four bound steps in: probing, with some of the unused output given back.
RefundProbe probing(TimePoint& t)
{
    RefundProbe p(kT0);
    for (int i = 0; i < 4; ++i) {
        boundStep(p, t);
    }
    return p;
}

}  // namespace

void TestDispatchRefunds::probeStepsUpAndDecides()
{
    RefundProbe p(kT0);
    TimePoint t = kT0;
    boundStep(p, t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Watching);
    boundStep(p, t);
    boundStep(p, t);  // the second step closes as the third begins
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    QCOMPARE(p.share(), 0.25);
    for (const double share : {0.5, 0.75, 1.0}) {
        boundStep(p, t);
        QCOMPARE(p.share(), share);
    }
    // A quiet stretch neither grows the share nor decides.
    t += 10min;
    p.answered(400, 100, t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    QCOMPARE(p.share(), 1.0);
    for (int i = 0; i < RefundProbe::kStepsToDecide; ++i) {
        QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
        boundStep(p, t);
    }
    boundStep(p, t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Refunds);
    // Decided: a 429 later is a near miss, not a refund taken back...
    p.rateLimited(t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Refunds);
    QCOMPARE(p.share(), 1.0);
    boundStep(p, t);
    p.rateLimited(t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Refunds);
    // ...but 429s that come on within a step take it back.
    p.rateLimited(t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Keeps);
    QCOMPARE(p.share(), 0.0);
}

// While probing, a step that gave nothing back (streams without usage,
// answers that used all they reserved) neither grows the share nor counts
// towards deciding that the provider refunds.
void TestDispatchRefunds::stepsThatGaveNothingBackDecideNothing()
{
    RefundProbe p(kT0);
    TimePoint t = kT0;
    for (int i = 0; i < 3; ++i) {
        boundStep(p, t);
    }
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    QCOMPARE(p.share(), 0.25);
    for (int i = 0; i < 100; ++i) {
        p.waitedOnTokens(t);
        p.answered(400, 0, t);
        t += RefundProbe::kStep / 10;
    }
    // The third bound step, which gave some back, closed as these began.
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    QCOMPARE(p.share(), 0.5);
}

void TestDispatchRefunds::probeNeedsABoundLimitAndUnusedOutput()
{
    RefundProbe p(kT0);
    TimePoint t = kT0;
    // Output unused, but nothing waited on tokens: nothing to win.
    for (int i = 0; i < 100; ++i) {
        p.answered(400, 100, t);
        t += 500ms;
    }
    QCOMPARE(p.stage(), RefundProbe::Stage::Watching);
    // Bound, but the answers used nearly all they reserved (1%).
    for (int i = 0; i < 100; ++i) {
        p.answered(400, 4, t);
        p.waitedOnTokens(t);
        t += 500ms;
    }
    QCOMPARE(p.stage(), RefundProbe::Stage::Watching);
    QCOMPARE(p.share(), 0.0);
}

// A low limit with requests larger than a second of it: three answers a
// step, bound all the while. The evidence adds up over the bound steps.
void TestDispatchRefunds::aFewAnswersAStepAreEnough()
{
    RefundProbe p(kT0);
    TimePoint t = kT0;
    const auto step = [&p, &t] {
        for (int i = 0; i < 3; ++i) {
            p.waitedOnTokens(t);
            p.answered(500, 60, t);
            t += RefundProbe::kStep / 3;
        }
    };
    for (int i = 0; i < 3; ++i) {
        step();
    }
    // Six answers over two steps: not yet.
    QCOMPARE(p.stage(), RefundProbe::Stage::Watching);
    step();
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    for (int i = 0; i < 4 + RefundProbe::kStepsToDecide; ++i) {
        step();
    }
    QCOMPARE(p.stage(), RefundProbe::Stage::Refunds);
}

void TestDispatchRefunds::a429WhileProbingKeepsTheCharge()
{
    TimePoint t = kT0;
    RefundProbe p = probing(t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Probing);
    QVERIFY(p.share() > 0.0);
    p.rateLimited(t);
    QCOMPARE(p.stage(), RefundProbe::Stage::Keeps);
    QCOMPARE(p.share(), 0.0);
    for (int i = 0; i < 40; ++i) {
        boundStep(p, t);
    }
    QCOMPARE(p.stage(), RefundProbe::Stage::Keeps);
    QVERIFY(p.describe().find("keeps") != std::string::npos);
}

void TestDispatchRefunds::headersEndTheProbe()
{
    TimePoint t = kT0;
    RefundProbe p = probing(t);
    p.tokenHeadersSeen();
    QCOMPARE(p.stage(), RefundProbe::Stage::Headers);
    QCOMPARE(p.share(), 0.0);
    for (int i = 0; i < 40; ++i) {
        boundStep(p, t);
    }
    QCOMPARE(p.share(), 0.0);
}

// Settled to the arrival charge, Sluice holds back the ~45% of each
// reservation the answer did not use and reaches about 57% of what such a
// provider allows; learning that it refunds, nearly all of it.
void TestDispatchRefunds::aProviderThatRefundsIsFoundOut()
{
    const Run kept = runAgainst(mock::TokenCharging::Refunded, "estimate");
    const Run learned = runAgainst(mock::TokenCharging::Refunded, "");
    QVERIFY(kept.ended && learned.ended);
    qInfo("estimate: %.1f%% of the limit, %llu 429s; learned: %.1f%%, %llu 429s (%s)", kept.shareOfLimit * 100,
          static_cast<unsigned long long>(kept.counts.rateLimited), learned.shareOfLimit * 100,
          static_cast<unsigned long long>(learned.counts.rateLimited), learned.refunds.c_str());
    QVERIFY2(kept.shareOfLimit < 0.7, qPrintable(QString::number(kept.shareOfLimit)));
    QVERIFY2(learned.shareOfLimit > 0.95, qPrintable(QString::number(learned.shareOfLimit)));
    QVERIFY(learned.counts.rateLimited <= 2);
    QVERIFY(learned.refunds.find("found to refund") != std::string::npos);
    // The operator hears of each step once: trying, then found out.
    QCOMPARE(learned.told.size(), std::size_t{2});
    QVERIFY2(learned.told[0].find("compatible: trying whether") == 0, learned.told[0].c_str());
    QVERIFY2(learned.told[1].find("compatible: unused output given back") == 0, learned.told[1].c_str());
    QVERIFY(kept.told.empty());
}

// A provider that keeps what it charged on arrival: the probe costs the
// few 429s of a moment over the limit, once, and then settles as before.
void TestDispatchRefunds::aProviderThatKeepsItsChargeCostsAFew429s()
{
    const Run estimate = runAgainst(mock::TokenCharging::OnArrival, "estimate");
    const Run learned = runAgainst(mock::TokenCharging::OnArrival, "");
    QVERIFY(estimate.ended && learned.ended);
    qInfo("estimate: %.1f%% of the limit, %llu 429s; learned: %.1f%%, %llu 429s (%s)", estimate.shareOfLimit * 100,
          static_cast<unsigned long long>(estimate.counts.rateLimited), learned.shareOfLimit * 100,
          static_cast<unsigned long long>(learned.counts.rateLimited), learned.refunds.c_str());
    QCOMPARE(estimate.counts.rateLimited, std::uint64_t{0});
    QVERIFY(learned.counts.rateLimited >= 1);
    QVERIFY(learned.counts.rateLimited <= 6);
    QVERIFY(learned.refunds.find("keeps") != std::string::npos);
    QVERIFY(learned.shareOfLimit > estimate.shareOfLimit * 0.97);
    // With headers there is nothing to try.
    const Run headers = runAgainst(mock::TokenCharging::OnArrival, "", true);
    QVERIFY(headers.ended);
    QCOMPARE(headers.counts.rateLimited, std::uint64_t{0});
    QVERIFY(headers.refunds.find("headers") != std::string::npos);
    QVERIFY(headers.told.empty());
    QCOMPARE(learned.told.size(), std::size_t{2});
    QVERIFY2(learned.told[1].find("a 429 while trying") != std::string::npos, learned.told[1].c_str());
}

namespace {

// A limit of 1,000 tokens a second.
constexpr double kPerSecond = 1000;

// A bound step with answers of `output` tokens to requests that stated no
// max_tokens and reserved `reserved`, all the answers together using `use`
// of the limit.
void unstatedStep(UnstatedOutputProbe& p, TimePoint& t, std::int64_t output, std::int64_t reserved,
                  bool refunds = true, double use = 0.3)
{
    for (int i = 0; i < 10; ++i) {
        p.answered(output, reserved, t);
        p.used(std::llround(use * kPerSecond * 0.5), t);
        p.waitedOnTokens(refunds, kPerSecond, t);
        t += UnstatedOutputProbe::kStep / 10;
    }
}

// Three bound steps of answers of 100 to 4,096 reserved: lowering, at 200.
UnstatedOutputProbe lowering(TimePoint& t)
{
    UnstatedOutputProbe p(kT0);
    for (int i = 0; i < 3; ++i) {
        unstatedStep(p, t, 100, 4096);
    }
    return p;
}

// Requests that state no max_tokens against `charging`, settled as
// `estimate` and learned; their shares from 180 s, logged.
std::pair<Run, Run> unstatedRuns(mock::TokenCharging charging)
{
    Run estimate = runAgainst(charging, "estimate", false, false);
    Run learned = runAgainst(charging, "", false, false);
    qInfo("estimate: %.1f%% of the limit from 180 s, %llu 429s; learned: %.1f%%, %llu 429s (%s)",
          estimate.lateShare * 100, static_cast<unsigned long long>(estimate.counts.rateLimited),
          learned.lateShare * 100, static_cast<unsigned long long>(learned.counts.rateLimited),
          learned.refunds.c_str());
    return {std::move(estimate), std::move(learned)};
}

}  // namespace

void TestDispatchRefunds::unstatedHoldDropsOnceRefundsAreKnown()
{
    UnstatedOutputProbe p(kT0);
    TimePoint t = kT0;
    // Bound, known to refund, but the answers use most of the limit
    // already: the default is not what binds.
    for (int i = 0; i < 5; ++i) {
        unstatedStep(p, t, 100, 4096, true, 0.75);
    }
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Default);
    // Bound, but the provider is not known to refund: nothing moves.
    for (int i = 0; i < 20; ++i) {
        unstatedStep(p, t, 100, 4096, false);
    }
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Default);
    QCOMPARE(p.hold(4096), std::int64_t{4096});
    // Known to refund: twice what answers use, then what they use.
    unstatedStep(p, t, 100, 4096);
    unstatedStep(p, t, 100, 4096);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowering);
    QCOMPARE(p.hold(4096), std::int64_t{200});
    unstatedStep(p, t, 100, 200);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // A quiet stretch decides nothing.
    t += 10min;
    p.answered(100, 100, t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowering);
    for (int i = 0; i < UnstatedOutputProbe::kStepsToDecide; ++i) {
        unstatedStep(p, t, 100, 100);
    }
    unstatedStep(p, t, 100, 100);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowered);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // Never above the default it stands for.
    QCOMPARE(p.hold(50), std::int64_t{50});
    // Decided: one 429 is a near miss; two within a step restore the default.
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowered);
    unstatedStep(p, t, 100, 100);
    p.rateLimited(t);
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Restored);
    QCOMPARE(p.hold(4096), std::int64_t{4096});
    QVERIFY(p.describe().find("default") != std::string::npos);
}

void TestDispatchRefunds::unstatedHoldDoublesOnA429AndRestoresOnMore()
{
    TimePoint t = kT0;
    UnstatedOutputProbe p = lowering(t);
    QCOMPARE(p.hold(4096), std::int64_t{200});
    unstatedStep(p, t, 100, 200);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // One 429 is a near miss...
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowering);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // ...two within a step, clumps refused: the hold that drew them
    // doubled, and no lower.
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowered);
    QCOMPARE(p.hold(4096), std::int64_t{200});
    for (int i = 0; i < 20; ++i) {
        unstatedStep(p, t, 100, 200);
    }
    QCOMPARE(p.hold(4096), std::int64_t{200});
    // More at that hold: the provider charges its own default on arrival.
    QVERIFY(!p.answersFor429s(t));  // decided by the quiet steps: the refund probe's again
    p.rateLimited(t);
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Restored);
    QCOMPARE(p.hold(4096), std::int64_t{4096});
    // Requests sent on the smaller hold are still refused for a while:
    // those 429s are this probe's, not a refund taken back.
    QVERIFY(p.answersFor429s(t + 50s));
    QVERIFY(!p.answersFor429s(t + 61s));
    for (int i = 0; i < 20; ++i) {
        unstatedStep(p, t, 100, 4096);
    }
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Restored);
    // 429s at the first lowered hold, when that is half the default:
    // doubled, it is the default.
    TimePoint t2 = kT0;
    UnstatedOutputProbe wide(kT0);
    unstatedStep(wide, t2, 1500, 4096);
    unstatedStep(wide, t2, 1500, 4096);
    wide.answered(1500, 4096, t2);
    QCOMPARE(wide.hold(4096), std::int64_t{2048});
    wide.rateLimited(t2);
    wide.rateLimited(t2);
    QCOMPARE(wide.stage(), UnstatedOutputProbe::Stage::Restored);
}

void TestDispatchRefunds::unstatedHoldFollowsTheRecentAverage()
{
    TimePoint t = kT0;
    UnstatedOutputProbe p = lowering(t);
    unstatedStep(p, t, 100, 200);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // One long answer among 41 raises the average, rounded up...
    p.answered(900, 100, t);
    QCOMPARE(p.hold(4096), std::int64_t{120});
    // ...until it is kRecent answers old.
    for (std::size_t i = 0; i + 1 < UnstatedOutputProbe::kRecent; ++i) {
        p.answered(100, 120, t);
    }
    QCOMPARE(p.hold(4096), std::int64_t{113});
    p.answered(100, 113, t);
    QCOMPARE(p.hold(4096), std::int64_t{100});
}

// At the limit, 429s are the ledger's near misses (a sliding minute seen
// at 99–101% of it): the hold stays where it is.
void TestDispatchRefunds::unstated429sNearTheLimitKeepTheHold()
{
    TimePoint t = kT0;
    UnstatedOutputProbe p = lowering(t);
    unstatedStep(p, t, 100, 200, true, 0.99);
    unstatedStep(p, t, 100, 100, true, 0.99);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    for (int i = 0; i < 3; ++i) {
        p.rateLimited(t);
    }
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowering);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    // Well below the limit, the same 429s say the hold is too small.
    unstatedStep(p, t, 100, 100, true, 0.2);
    p.rateLimited(t);
    p.rateLimited(t);
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowered);
    QCOMPARE(p.hold(4096), std::int64_t{200});
}

// Each 429 lifts the hold a quarter of the way from the average answer to
// the longest; bound steps without one let it down again.
void TestDispatchRefunds::unstated429sLiftTheHoldTowardsTheLongestAnswer()
{
    UnstatedOutputProbe p(kT0);
    TimePoint t = kT0;
    const auto step = [&p, &t](double use) {
        for (int i = 0; i < 10; ++i) {
            p.answered(i % 2 == 0 ? 50 : 150, 4096, t);
            p.used(std::llround(use * kPerSecond * 0.5), t);
            p.waitedOnTokens(true, kPerSecond, t);
            t += UnstatedOutputProbe::kStep / 10;
        }
    };
    // Lowering starts well below the limit, and the answers then use it.
    for (int i = 0; i < 3; ++i) {
        step(0.3);
    }
    step(0.99);
    QCOMPARE(p.hold(4096), std::int64_t{100});
    p.rateLimited(t);
    QCOMPARE(p.hold(4096), std::int64_t{113});  // 100 + 0.25 × 50, rounded
    p.rateLimited(t);
    QCOMPARE(p.hold(4096), std::int64_t{125});
    QCOMPARE(p.stage(), UnstatedOutputProbe::Stage::Lowering);  // near the limit: not doubled
    step(0.99);  // the step with the 429s
    // 25 steps let it down (each closes as the next begins).
    for (int i = 0; i < 26; ++i) {
        step(0.99);
    }
    QCOMPARE(p.hold(4096), std::int64_t{100});
}

// Requests that state no max_tokens, against a provider that charges the
// prompt on arrival and the output when it ends: reserving the default 900
// holds most of a second's worth of the limit per request in flight. Once
// the provider is found to refund, the hold comes down to what answers use.
void TestDispatchRefunds::unstatedOutputAgainstAProviderThatChargesOnCompletion()
{
    const auto [estimate, learned] = unstatedRuns(mock::TokenCharging::OnCompletion);
    QVERIFY(estimate.ended && learned.ended);
    QVERIFY2(estimate.lateShare < 0.5, qPrintable(QString::number(estimate.lateShare)));
    QVERIFY2(learned.lateShare > 0.9, qPrintable(QString::number(learned.lateShare)));
    QVERIFY(learned.counts.rateLimited <= 3);
    QVERIFY2(learned.refunds.find("found to refund") != std::string::npos, learned.refunds.c_str());
    QVERIFY2(learned.refunds.find("without max_tokens reserve") != std::string::npos, learned.refunds.c_str());
    QVERIFY2(learned.refunds.find("default") == std::string::npos, learned.refunds.c_str());
    bool told = false;
    for (const std::string& what : learned.told) {
        told = told || what.find("compatible: trying a smaller output reservation") == 0;
    }
    QVERIFY(told);
}

// A provider that charges its own default on arrival for such requests and
// refunds what was not used: a smaller hold is refused well below the
// limit, doubled, refused again, and the default comes back for good, at
// the cost of a few 429s (and the margin they teach the ledger).
void TestDispatchRefunds::unstatedOutputAgainstAProviderThatChargesItsDefault()
{
    const auto [estimate, learned] = unstatedRuns(mock::TokenCharging::Refunded);
    QVERIFY(estimate.ended && learned.ended);
    QCOMPARE(estimate.counts.rateLimited, std::uint64_t{0});
    QVERIFY(learned.counts.rateLimited >= 2);
    QVERIFY(learned.counts.rateLimited <= 4);
    QVERIFY2(learned.refunds.find("reserve the model's default output") != std::string::npos,
             learned.refunds.c_str());
    // The smaller hold's 429s do not take back the refunds it does give.
    QVERIFY2(learned.refunds.find("found to refund") != std::string::npos, learned.refunds.c_str());
    QVERIFY(learned.lateShare > estimate.lateShare * 0.85);
}

QTEST_APPLESS_MAIN(TestDispatchRefunds)
#include "tst_dispatch_refunds.moc"
