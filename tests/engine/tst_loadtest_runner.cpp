// The load-test runner on a manual clock with a scripted target: requests
// go out exactly at their scheduled times and never before; a pipeline's
// stages wait for the calls they depend on; a run drains, cuts or stops as
// told; snapshots and the summary add up. Time moves only when the test
// moves it; the test waits on conditions, never on sleeps.
#include "loadtest/arrivals.h"
#include "loadtest/load_test.h"

#include <QtTest>

#include <condition_variable>
#include <random>

using namespace sluice;
using namespace sluice::loadtest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr Duration kWait = 20s;  // real time, only ever a bound on a condition

// A target that holds every job until the test ends it. The first
// `capacity` held jobs are "in flight"; the rest are queued and go in
// flight as slots free up, unless the target is paused.
class ScriptedTarget final : public LoadTarget {
public:
    struct Event {
        enum class Kind : std::uint8_t { Submitted, Completed, Failed, Cancelled } kind;
        std::string id;
        TimePoint at;
    };

    ScriptedTarget(Clock& clock, DispatchListener& listener, bool autoComplete, std::size_t capacity)
        : m_clock(clock), m_listener(listener), m_auto(autoComplete), m_capacity(capacity)
    {
    }

    void start() override {}
    void stop() override
    {
        {
            std::lock_guard g(m_mutex);
            m_stopped = true;
        }
        m_cv.notify_all();
    }
    std::string validate(const JobSpec&) const override { return {}; }

    void submit(JobSpec job) override
    {
        const std::string id = job.customId;
        {
            std::lock_guard g(m_mutex);
            m_log.push_back({Event::Kind::Submitted, id, m_clock.now()});
            m_held.push_back(Held{id, m_clock.wallNow(), std::nullopt});
            promote();
        }
        m_cv.notify_all();
        if (m_auto) {
            end(id, Event::Kind::Completed);
        }
    }

    void cancel(const std::string& id) override
    {
        bool queued = false;
        {
            std::lock_guard g(m_mutex);
            const auto it = find(id);
            queued = it != m_held.end() && !it->sent;
        }
        if (queued) {
            end(id, Event::Kind::Cancelled);
        }
    }

    void pause() override
    {
        {
            std::lock_guard g(m_mutex);
            m_paused = true;
        }
        m_cv.notify_all();
    }

    DispatcherStats stats() const override
    {
        std::lock_guard g(m_mutex);
        DispatcherStats s;
        s.paused = m_paused;
        for (const Held& h : m_held) {
            (h.sent ? s.inFlight : s.queued) += 1;
        }
        return s;
    }

    // Ends a held job the way `kind` says, reporting it as a dispatcher would.
    void end(const std::string& id, Event::Kind kind)
    {
        Held h;
        {
            std::lock_guard g(m_mutex);
            const auto it = find(id);
            if (it == m_held.end()) {
                return;
            }
            h = *it;
            m_held.erase(it);
            m_log.push_back({kind, id, m_clock.now()});
            promote();
        }
        m_cv.notify_all();
        JobOutcome o;
        o.customId = id;
        o.provider = "p";
        o.model = "m";
        o.timeline.push_back({h.queued, TimelineEvent::Kind::Queued, ""});
        if (h.sent) {
            o.timeline.push_back({*h.sent, TimelineEvent::Kind::Sent, ""});
            AttemptRecord a;
            a.status = kind == Event::Kind::Failed ? 500 : 200;
            a.cls = kind == Event::Kind::Failed ? FailureClass::ServerError : FailureClass::None;
            o.attempts.push_back(a);
            AttemptReport r;
            r.status = a.status;
            r.cls = a.cls;
            r.finishedAt = m_clock.now();
            m_listener.onAttempt(r);
        }
        switch (kind) {
        case Event::Kind::Completed:
            o.result = JobResult::Completed;
            o.usage = ResponseUsage{10, 5, {}};
            o.spendMicroUsd = 3;
            break;
        case Event::Kind::Failed:
            o.result = JobResult::DeadLettered;
            o.cls = FailureClass::ServerError;
            break;
        default:
            o.result = JobResult::Cancelled;
            o.cls = FailureClass::Cancelled;
            break;
        }
        m_listener.onFinished(std::move(o));
    }

    // Waits (real time) until `ready` holds over the log and held ids.
    template <typename Pred>
    bool waitFor(Pred ready)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, kWait, [&] { return ready(m_log, heldIds()); });
    }
    bool waitForSubmits(std::size_t n)
    {
        return waitFor([n](const std::vector<Event>& log, const std::vector<std::string>&) {
            return std::count_if(log.begin(), log.end(),
                                 [](const Event& e) { return e.kind == Event::Kind::Submitted; }) >= static_cast<long>(n);
        });
    }
    std::vector<Event> log() const
    {
        std::lock_guard g(m_mutex);
        return m_log;
    }
    std::vector<std::string> held() const
    {
        std::lock_guard g(m_mutex);
        return heldIds();
    }
    std::vector<std::string> inFlight() const
    {
        std::lock_guard g(m_mutex);
        std::vector<std::string> out;
        for (const Held& h : m_held) {
            if (h.sent) {
                out.push_back(h.id);
            }
        }
        return out;
    }
    // Called inside waitFor's predicate, with the lock held.
    bool paused() const { return m_paused; }
    bool stopped() const { return m_stopped; }

private:
    struct Held {
        std::string id;
        WallTime queued{};
        std::optional<WallTime> sent;
    };
    std::vector<Held>::iterator find(const std::string& id)
    {
        return std::find_if(m_held.begin(), m_held.end(), [&](const Held& h) { return h.id == id; });
    }
    std::vector<std::string> heldIds() const
    {
        std::vector<std::string> ids;
        for (const Held& h : m_held) {
            ids.push_back(h.id);
        }
        return ids;
    }
    void promote()
    {
        std::size_t sent = 0;
        for (Held& h : m_held) {
            if (h.sent) {
                ++sent;
            } else if (!m_paused && sent < m_capacity) {
                h.sent = m_clock.wallNow();
                ++sent;
            }
        }
    }

    Clock& m_clock;
    DispatchListener& m_listener;
    bool m_auto;
    std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<Event> m_log;
    std::vector<Held> m_held;
    bool m_paused = false;
    bool m_stopped = false;
};

Config tinyConfig()
{
    const json root = {{"providers", json::array({{{"name", "p"},
                                                   {"flavor", "openai"},
                                                   {"base_url", "http://127.0.0.1:1"},
                                                   {"models", {{"m", {{"limits", {{"tpm", 6000}, {"rpm", 60}}}}}}},
                                                   {"keys", json::array({{{"name", "k"}, {"env", "K"}}})}}})}};
    return loadConfig(JsonSource("config.json", root.dump()), [](const std::string&) { return std::string("sk"); });
}

Workload workloadOf(const json& doc)
{
    return loadWorkload(JsonSource("workload.json", doc.dump()), "");
}

// A LoadTest on a manual clock whose target the test scripts.
struct Rig {
    ManualClock clock;
    ScriptedTarget* target = nullptr;
    std::unique_ptr<LoadTest> test;

    Rig(const json& workload, bool autoComplete, std::size_t capacity = 1000)
    {
        LoadTestOptions o;
        o.target = [this, autoComplete, capacity](DispatchListener& l) {
            auto t = std::make_unique<ScriptedTarget>(clock, l, autoComplete, capacity);
            target = t.get();
            return t;
        };
        test = std::make_unique<LoadTest>(workloadOf(workload), tinyConfig(), clock, o);
    }
};

json arrivalOf(const std::string& process, double rate)
{
    return {{"process", process}, {"rate", rate}};
}

std::size_t indexOf(const std::vector<ScriptedTarget::Event>& log, ScriptedTarget::Event::Kind kind,
                    const std::string& id)
{
    for (std::size_t i = 0; i < log.size(); ++i) {
        if (log[i].kind == kind && log[i].id == id) {
            return i;
        }
    }
    return log.size();
}

}  // namespace

class TestLoadtestRunner : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void submitsAtTheScheduledTimes_data();
    void submitsAtTheScheduledTimes();
    void pipelineStagesWaitForTheirDependencies();
    void cutLetsInFlightFinishAndCancelsTheRest();
    void stopEndsEarlyAndKeepsWhatWasMeasured();
    void drainTimeoutCuts();
};

void TestLoadtestRunner::submitsAtTheScheduledTimes_data()
{
    QTest::addColumn<QByteArray>("arrival");
    QTest::newRow("constant") << QByteArray(R"({"process": "constant", "rate": 10})");
    QTest::newRow("poisson") << QByteArray(R"({"process": "poisson", "rate": 8})");
    QTest::newRow("ramp") << QByteArray(R"({"process": "ramp", "from": 1, "to": 20, "poisson": true})");
    QTest::newRow("spike with a burst")
        << QByteArray(R"({"process": "spike", "rate": 3, "spikes": [{"at_s": 1, "for_s": 0.5, "rate": 30}, {"at_s": 2, "count": 25}]})");
}

void TestLoadtestRunner::submitsAtTheScheduledTimes()
{
    QFETCH(QByteArray, arrival);
    const json doc = {{"duration_s", 3},
                      {"seed", 9},
                      {"arrival", json::parse(arrival.toStdString())},
                      {"mix", {{"models", {"m"}}, {"prompt_tokens", 20}, {"max_tokens", 10}}}};
    Rig rig(doc, true);
    const TimePoint start = rig.clock.now();
    const std::vector<Duration> schedule = arrivalSchedule(rig.test->workload().arrival, 3s, 9);
    QVERIFY(schedule.size() > 10);
    rig.test->start();
    std::size_t due = 0;
    for (std::size_t i = 0; i < schedule.size(); i = due) {
        rig.clock.advanceTo(start + schedule[i]);
        due = static_cast<std::size_t>(std::upper_bound(schedule.begin(), schedule.end(), schedule[i]) - schedule.begin());
        QVERIFY(rig.target->waitForSubmits(due));
        // Exactly the arrivals due by now, none early.
        const auto log = rig.target->log();
        const auto submitted = std::count_if(log.begin(), log.end(), [](const auto& e) {
            return e.kind == ScriptedTarget::Event::Kind::Submitted;
        });
        QCOMPARE(static_cast<std::size_t>(submitted), due);
    }
    for (const auto& e : rig.target->log()) {
        if (e.kind == ScriptedTarget::Event::Kind::Submitted) {
            const std::size_t index = std::stoul(e.id.substr(1));  // "r12"
            QCOMPARE(e.at, start + schedule[index]);
        }
    }
    const LoadTestSnapshot live = rig.test->snapshot();
    QCOMPARE(live.state, LoadTestState::Running);
    QCOMPARE(live.submitted, schedule.size());
    rig.clock.advanceTo(start + 3s);
    QVERIFY(rig.test->waitFinished(kWait));
    const LoadTestSummary s = *rig.test->summary();
    QCOMPARE(s.arrivals, schedule.size());
    QCOMPARE(s.completed, schedule.size());
    QCOMPARE(s.attempts, schedule.size());
    QCOMPARE(s.inputTokens, static_cast<std::int64_t>(10 * schedule.size()));
    QCOMPARE(s.elapsed, Duration(3s));
    QCOMPARE(s.spendMicroUsd, static_cast<std::int64_t>(3 * schedule.size()));
    QCOMPARE(s.lanes.size(), std::size_t{1});
    QCOMPARE(s.lanes[0].limits.tpm, std::optional<std::int64_t>(6000));
    const LoadTestSnapshot end = rig.test->snapshot(1);
    QCOMPARE(end.state, LoadTestState::Finished);
    QCOMPARE(end.progress, 1.0);
    QCOMPARE(end.series.front().second, std::int64_t{1});  // from the second asked for
    std::uint64_t arrivals = 0;
    for (const auto& x : rig.test->snapshot().series) {
        arrivals += x.arrivals;
    }
    QCOMPARE(arrivals, schedule.size());
}

void TestLoadtestRunner::pipelineStagesWaitForTheirDependencies()
{
    const json doc = {{"duration_s", 2},
                      {"arrival", arrivalOf("constant", 2)},
                      {"mix", {{"models", {"m"}}, {"prompt_tokens", 20}, {"max_tokens", 10}}},
                      {"pipeline",
                       {{"stages",
                         {{{"name", "outline"}},
                          {{"name", "section"}, {"count", 3}, {"after", "outline"}},
                          {{"name", "summary"}, {"after", {"section"}}},
                          {{"name", "keywords"}, {"after", {"section"}}}}}}}};
    Rig rig(doc, false);
    const TimePoint start = rig.clock.now();
    rig.test->start();
    std::mt19937 rng(5);
    // Ends held calls one at a time in a random order, failing pipeline 2's
    // outline, while time moves to the end of the arrivals.
    while (true) {
        const auto held = rig.target->held();
        if (!held.empty()) {
            const std::string id = held[std::uniform_int_distribution<std::size_t>(0, held.size() - 1)(rng)];
            rig.target->end(id, id == "p2.outline.0" ? ScriptedTarget::Event::Kind::Failed
                                                     : ScriptedTarget::Event::Kind::Completed);
            continue;
        }
        if (rig.clock.now() < start + 2s) {
            rig.clock.advance(250ms);
            continue;
        }
        // Nothing held and time is up: either a stage is about to be
        // submitted, or the run is over and stops its target.
        QVERIFY(rig.target->waitFor([&](const auto&, const auto& ids) { return !ids.empty() || rig.target->stopped(); }));
        if (rig.target->held().empty()) {
            break;  // only this thread ends held calls, so the target was stopped
        }
    }
    QVERIFY(rig.test->waitFinished(kWait));
    const auto log = rig.target->log();
    using Kind = ScriptedTarget::Event::Kind;
    for (int p = 0; p < 4; ++p) {
        const std::string pre = "p" + std::to_string(p) + ".";
        const std::size_t outlineDone = indexOf(log, p == 2 ? Kind::Failed : Kind::Completed, pre + "outline.0");
        QVERIFY(outlineDone < log.size());
        std::size_t lastSection = 0;
        for (int c = 0; c < 3; ++c) {
            const std::size_t submitted = indexOf(log, Kind::Submitted, pre + "section." + std::to_string(c));
            if (p == 2) {
                QCOMPARE(submitted, log.size());  // its outline failed: never sent
                continue;
            }
            QVERIFY2(submitted < log.size() && submitted > outlineDone, (pre + "section").c_str());
            lastSection = std::max(lastSection, indexOf(log, Kind::Completed, pre + "section." + std::to_string(c)));
        }
        for (const char* last : {"summary.0", "keywords.0"}) {
            const std::size_t submitted = indexOf(log, Kind::Submitted, pre + last);
            if (p == 2) {
                QCOMPARE(submitted, log.size());
            } else {
                QVERIFY2(submitted < log.size() && submitted > lastSection, (pre + last).c_str());
            }
        }
    }
    const LoadTestSummary s = *rig.test->summary();
    QCOMPARE(s.pipelinesStarted, std::uint64_t{4});
    QCOMPARE(s.pipelinesCompleted, std::uint64_t{3});
    QCOMPARE(s.pipelinesFailed, std::uint64_t{1});
    QCOMPARE(s.notSent, std::uint64_t{5});
    QCOMPARE(s.completed, std::uint64_t{3 * 6});
    QCOMPARE(s.failed, std::uint64_t{1});
    QCOMPARE(s.failedByClass.at("server_error"), std::uint64_t{1});
    QCOMPARE(s.pipelineLatency.count, std::size_t{3});
    QCOMPARE(s.stages.size(), std::size_t{4});
    QCOMPARE(s.stages[1].name, std::string("section"));
    QCOMPARE(s.stages[1].completed, std::uint64_t{9});
}

void TestLoadtestRunner::cutLetsInFlightFinishAndCancelsTheRest()
{
    const json doc = {{"duration_s", 1},
                      {"end", "cut"},
                      {"arrival", arrivalOf("constant", 4)},
                      {"mix", {{"models", {"m"}}}}};
    Rig rig(doc, false, 1);
    const TimePoint start = rig.clock.now();
    rig.test->start();
    rig.clock.advanceTo(start + 1s);
    QVERIFY(rig.target->waitForSubmits(4));
    // The run pauses the target, then waits for what is in flight.
    QVERIFY(rig.target->waitFor([&](const auto&, const auto&) { return rig.target->paused(); }));
    QCOMPARE(rig.target->inFlight(), std::vector<std::string>{"r0"});
    QVERIFY(!rig.test->finished());
    rig.target->end("r0", ScriptedTarget::Event::Kind::Completed);
    QVERIFY(rig.test->waitFinished(kWait));
    const LoadTestSummary s = *rig.test->summary();
    QCOMPARE(s.completed, std::uint64_t{1});
    QCOMPARE(s.cancelled, std::uint64_t{3});
    QVERIFY(!s.stoppedEarly);
    QCOMPARE(s.attempts, std::uint64_t{1});
}

void TestLoadtestRunner::stopEndsEarlyAndKeepsWhatWasMeasured()
{
    const json doc = {{"duration_s", 10}, {"arrival", arrivalOf("constant", 4)}, {"mix", {{"models", {"m"}}}}};
    Rig rig(doc, false, 1);
    const TimePoint start = rig.clock.now();
    rig.test->start();
    rig.clock.advanceTo(start + 300ms);
    QVERIFY(rig.target->waitForSubmits(2));
    rig.test->stop();
    QVERIFY(rig.target->waitFor([&](const auto&, const auto&) { return rig.target->paused(); }));
    rig.target->end("r0", ScriptedTarget::Event::Kind::Completed);
    QVERIFY(rig.test->waitFinished(kWait));
    const LoadTestSummary s = *rig.test->summary();
    QVERIFY(s.stoppedEarly);
    QCOMPARE(s.arrivals, std::uint64_t{2});
    QCOMPARE(s.completed, std::uint64_t{1});
    QCOMPARE(s.cancelled, std::uint64_t{1});
    QCOMPARE(s.elapsed, Duration(300ms));
}

void TestLoadtestRunner::drainTimeoutCuts()
{
    const json doc = {{"duration_s", 1},
                      {"drain_timeout_s", 5},
                      {"arrival", arrivalOf("constant", 2)},
                      {"mix", {{"models", {"m"}}}}};
    Rig rig(doc, false, 1);
    const TimePoint start = rig.clock.now();
    rig.test->start();
    rig.clock.advanceTo(start + 1s);
    QVERIFY(rig.target->waitForSubmits(2));
    rig.target->end("r0", ScriptedTarget::Event::Kind::Completed);  // r1 goes in flight and stays
    QVERIFY(rig.test->waitForState(LoadTestState::Ending, kWait));
    QVERIFY(!rig.target->stats().paused);  // draining: still waiting for r1
    rig.clock.advanceTo(start + 6s);
    QVERIFY(rig.target->waitFor([&](const auto&, const auto&) { return rig.target->paused(); }));
    rig.target->end("r1", ScriptedTarget::Event::Kind::Completed);
    QVERIFY(rig.test->waitFinished(kWait));
    QCOMPARE(rig.test->summary()->completed, std::uint64_t{2});
}

QTEST_APPLESS_MAIN(TestLoadtestRunner)
#include "tst_loadtest_runner.moc"
