// Ramping up after idle (providers' acceleration limits): IdleRamp's
// arithmetic on bare time points, and the dispatcher holding a model's
// requests to the ramp on a ManualClock over a scripted transport.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/idle_ramp.h"
#include "support/fake_transport.h"
#include "support/scripted_dispatch.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using test::FakeTransport;

namespace {

class Quiet : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override {}
};

Config rampConfig(const json& ramp)
{
    const json models = {{"gpt-4o-mini", {{"limits", {{"rpm", 600}}}}}, {"gpt-4o", {{"limits", {{"rpm", 100000}}}}}};
    return test::fakeProviderConfig({{"ramp_after_idle", ramp}, {"models", models}},
                                    {{"global", {{"limits", {{"concurrency", 1000}}}}}}, "ramp-config.json");
}

JobSpec chat(const std::string& id, const std::string& model = "gpt-4o-mini")
{
    return test::chatJob(id, model);
}

struct Rig : test::ScriptedRig<Quiet> {
    using ScriptedRig::ScriptedRig;
    int barriers = 0;

    // How many gpt-4o-mini requests have started once the loop has caught
    // up: a job on another model goes last, and is answered.
    std::size_t startedAfterBarrier()
    {
        const std::size_t before = transport.started().size();
        dispatcher->submit(chat("barrier-" + std::to_string(barriers++), "gpt-4o"));
        for (std::size_t n = before + 1; transport.waitStarted(n, 2s); ++n) {
            const auto s = transport.started()[n - 1];
            if (s.customTag.rfind("barrier-", 0) == 0) {
                transport.reply(s.id, 200, FakeTransport::completion());
                std::size_t mini = 0;
                for (const auto& t : transport.started()) {
                    mini += t.customTag.rfind("barrier-", 0) != 0;
                }
                return mini;
            }
        }
        return 0;
    }
    void answerAll()
    {
        for (const auto& s : transport.started()) {
            transport.reply(s.id, 200, FakeTransport::completion());
        }
    }
};

}  // namespace

class TestIdleRamp : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void arithmetic();
    void steeperStrikesFlattenTheNextRamp();
    void dispatcherHoldsTheRampAfterIdle();
    void anthropicRampsByDefaultAndConfigErrors();
};

void TestIdleRamp::arithmetic()
{
    IdleRamp ramp;
    const IdleRampSettings s{60s, 10s, 0.5};
    const TimePoint t0 = TimePoint(100s);
    // 600 RPM in a bucket of 10: half the bucket at once from idle.
    QVERIFY(ramp.ramping(1, s, t0));
    for (int i = 0; i < 5; ++i) {
        QCOMPARE(ramp.notBefore(1, s, 600, 10, t0), t0);
        ramp.onSent(1, s, t0);
    }
    // The sixth waits for the ramp's rate: 5/s at first (half of 10/s).
    const TimePoint sixth = ramp.notBefore(1, s, 600, 10, t0);
    QVERIFY2(sixth > t0 + 190ms && sixth < t0 + 200ms, std::to_string((sixth - t0).count()).c_str());
    QVERIFY(!ramp.describe(1, s, t0 + 1s).empty());
    // Past the ramp: no hold, nothing to describe.
    QCOMPARE(ramp.notBefore(1, s, 600, 10, t0 + 10s), t0 + 10s);
    ramp.onSent(1, s, t0 + 10s);
    QVERIFY(!ramp.ramping(1, s, t0 + 11s));
    QVERIFY(ramp.describe(1, s, t0 + 11s).empty());
    // Another scope ramps on its own.
    QVERIFY(ramp.ramping(2, s, t0 + 11s));
    // A minute idle: ramping again.
    QVERIFY(ramp.ramping(1, s, t0 + 71s));
    QCOMPARE(ramp.notBefore(1, s, 0, 10, t0 + 71s), t0 + 71s);  // no request limit: nothing to ramp towards
}

void TestIdleRamp::steeperStrikesFlattenTheNextRamp()
{
    IdleRamp ramp;
    const IdleRampSettings s{60s, 10s, 0.5};
    const TimePoint t0 = TimePoint(100s);
    ramp.onSent(1, s, t0);
    // A 429 long after the ramp is not its fault.
    QVERIFY(!ramp.onRateLimited(1, s, t0 + 25s));
    QVERIFY(ramp.onRateLimited(1, s, t0 + 1s));
    // The next ramp after idle: a quarter of the bucket at once, and it
    // lasts twice as long.
    const TimePoint t1 = t0 + 2min;
    for (int i = 0; i < 2; ++i) {
        QCOMPARE(ramp.notBefore(1, s, 600, 10, t1), t1);
        ramp.onSent(1, s, t1);
    }
    QVERIFY(ramp.notBefore(1, s, 600, 10, t1) > t1);
    QVERIFY(ramp.ramping(1, s, t1 + 15s));
    QVERIFY(!ramp.ramping(1, s, t1 + 21s) || ramp.notBefore(1, s, 600, 10, t1 + 21s) == t1 + 21s);
    // Flattening stops at four strikes.
    for (int i = 0; i < 10; ++i) {
        ramp.onRateLimited(1, s, t1 + 1s);
    }
    QVERIFY(!ramp.onRateLimited(1, s, t1 + 1s));
}

void TestIdleRamp::dispatcherHoldsTheRampAfterIdle()
{
    Rig rig(rampConfig({{"idle_s", 60}, {"length_s", 10}, {"start", 0.5}}));
    for (int i = 0; i < 40; ++i) {
        rig.dispatcher->submit(chat("j" + std::to_string(i)));
    }
    // 600 RPM with a second's worth of burst (nine: ten less the arrival
    // margin's share): from idle, half of it.
    QCOMPARE(rig.startedAfterBarrier(), std::size_t{4});
    // One second in, the ramp has allowed 4 + 5.25 in all (the ledger
    // alone would have let the whole burst go at once, and 10 more since).
    rig.clock.advance(1s);
    QCOMPARE(rig.startedAfterBarrier(), std::size_t{9});
    // Past the ramp, the ledger alone: its whole burst at once.
    rig.clock.advance(10s);
    QCOMPARE(rig.startedAfterBarrier(), std::size_t{18});
    rig.answerAll();
}

void TestIdleRamp::anthropicRampsByDefaultAndConfigErrors()
{
    const auto load = [](const json& provider) {
        json root = {{"providers", json::array({provider})}};
        return loadConfig(JsonSource("c.json", root.dump(2)),
                          [](const std::string&) { return std::optional<std::string>("k"); });
    };
    json anthropic = {{"name", "a"},
                      {"flavor", "anthropic"},
                      {"base_url", "http://127.0.0.1:9"},
                      {"keys", json::array({{{"name", "k"}, {"env", "K"}}})}};
    QVERIFY(load(anthropic).providers[0].rampAfterIdle.has_value());
    json openai = anthropic;
    openai["flavor"] = "openai";
    QVERIFY(!load(openai).providers[0].rampAfterIdle.has_value());
    anthropic["ramp_after_idle"] = false;
    QVERIFY(!load(anthropic).providers[0].rampAfterIdle.has_value());
    openai["ramp_after_idle"] = {{"idle_s", 120}, {"length_s", 30}, {"start", 0.25}};
    const IdleRampSettings s = *load(openai).providers[0].rampAfterIdle;
    QCOMPARE(s.idle, Duration(120s));
    QCOMPARE(s.length, Duration(30s));
    QCOMPARE(s.start, 0.25);
    openai["ramp_after_idle"] = {{"start", 2}};
    try {
        load(openai);
        QFAIL("start 2 accepted");
    } catch (const std::exception& e) {
        QVERIFY2(std::string(e.what()).find("/providers/0/ramp_after_idle/start") != std::string::npos, e.what());
    }
    openai["ramp_after_idle"] = "yes";
    try {
        load(openai);
        QFAIL("a string accepted");
    } catch (const std::exception& e) {
        QVERIFY2(std::string(e.what()).find("/providers/0/ramp_after_idle: must be true, false") != std::string::npos,
                 e.what());
    }
}

QTEST_APPLESS_MAIN(TestIdleRamp)
#include "tst_idle_ramp.moc"
