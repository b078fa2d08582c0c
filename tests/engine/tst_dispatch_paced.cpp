// Sluice's pacing against the mock provider's own rate limiter, in
// simulated time: the dispatcher sends to SimTransport, which decides each
// request with the mock's LimitTable (its RateBucket) at the instant it
// arrives on a ManualClock, and answers after the mock's latency. Told the
// provider's limits, Sluice must meet not one 429, and must not pace slower
// than the limits allow. Both limiters read the same clock, so the outcome
// does not depend on how loaded the machine is (the real-HTTP version of
// this needed two real-time limiters to agree).
#include "admission/admission.h"
#include "config/config.h"
#include "core/json_reader.h"
#include "dispatch/dispatcher.h"
#include "simulate/sim_transport.h"

#include <QtTest>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Outcomes, with the simulated time each arrived (listeners run on the
// dispatcher thread, the only one that moves the clock).
class Recorder : public DispatchListener {
public:
    explicit Recorder(Clock& clock) : m_clock(clock) {}
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        m_last = m_clock.now();
        m_results.push_back(o.result);
        m_cv.notify_all();
    }
    // Real time only bounds the wait; a simulated run takes milliseconds.
    bool waitFor(std::size_t n)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, 30s, [&] { return m_results.size() >= n; });
    }
    std::size_t completed()
    {
        std::lock_guard g(m_mutex);
        return static_cast<std::size_t>(std::count(m_results.begin(), m_results.end(), JobResult::Completed));
    }
    TimePoint last()
    {
        std::lock_guard g(m_mutex);
        return m_last;
    }

private:
    Clock& m_clock;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<JobResult> m_results;
    TimePoint m_last{};
};

// A provider on the far side of a hop that holds one request up: request
// number `late` (from 1) reaches SimTransport `by` after it left, so the
// one after it, sent on time, arrives too soon after it: a near miss,
// which the provider answers as Anthropic does, "retry-after: 1".
class LateArrival final : public Transport {
public:
    LateArrival(ManualClock& clock, simulate::SimTransport& inner, int late, Duration by)
        : m_clock(clock), m_inner(inner), m_late(late), m_by(by)
    {
    }
    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override
    {
        if (++m_started != m_late) {
            return m_inner.start(std::move(request), std::move(handlers));
        }
        auto held = std::make_shared<std::pair<http::HttpRequest, http::TransferHandlers>>(std::move(request),
                                                                                        std::move(handlers));
        m_inner.schedule(m_clock.now() + m_by,
                         [this, held] { m_inner.start(std::move(held->first), std::move(held->second)); });
        return kHeld;
    }
    void abort(TransferId id) override
    {
        if (id != kHeld) {
            m_inner.abort(id);
        }
    }
    void poll(Duration timeout) override { m_inner.poll(timeout); }
    void wakeup() override { m_inner.wakeup(); }

private:
    static constexpr TransferId kHeld = ~TransferId{0};
    ManualClock& m_clock;
    simulate::SimTransport& m_inner;
    int m_late;
    Duration m_by;
    int m_started = 0;
};

JobSpec claude(int i)
{
    JobSpec j;
    j.customId = "c" + std::to_string(i);
    j.flavor = ApiFlavor::Anthropic;
    j.body = {{"model", "claude-sonnet-4-5"},
              {"max_tokens", 20},
              {"messages", json::array({{{"role", "user"}, {"content", "Say hello to " + j.customId}}})}};
    return j;
}

JobSpec chat(int i)
{
    JobSpec j;
    j.customId = "p" + std::to_string(i);
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", "gpt-4o-mini"},
              {"max_tokens", 20},
              {"messages", json::array({{{"role", "user"}, {"content", "Say hello to " + j.customId}}})}};
    return j;
}

}  // namespace

class TestDispatchPaced : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchingLimitsMeetNo429s_data();
    void matchingLimitsMeetNo429s();
    void roundedRetryAfterCostsANearMiss();
};

void TestDispatchPaced::matchingLimitsMeetNo429s_data()
{
    QTest::addColumn<int>("rpm");
    QTest::addColumn<double>("granularity");
    QTest::addColumn<int>("jobs");
    QTest::addColumn<int>("latencyMs");
    QTest::newRow("1200 rpm per second, slow answers") << 1200 << 1.0 << 60 << 300;
    QTest::newRow("1200 rpm per second, fast answers") << 1200 << 1.0 << 200 << 5;
    QTest::newRow("600 rpm per 200 ms") << 600 << 0.2 << 100 << 50;
    QTest::newRow("60 rpm per 10 s") << 60 << 10.0 << 30 << 100;
}

void TestDispatchPaced::matchingLimitsMeetNo429s()
{
    QFETCH(int, rpm);
    QFETCH(double, granularity);
    QFETCH(int, jobs);
    QFETCH(int, latencyMs);

    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = latencyMs;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = rpm;
    m.models["gpt-4o-mini"].limits.granularity = secondsToDuration(granularity);

    const json provider = {{"name", "mock"},
                           {"flavor", "openai"},
                           {"base_url", "http://simulated.invalid"},
                           {"learn_limits", false},
                           {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", rpm}, {"granularity_s", granularity}}}}}}},
                           {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    Config cfg = loadConfig(JsonSource("paced.json", json{{"providers", json::array({provider})}}.dump(2)),
                            [](const std::string&) { return std::optional<std::string>("sk-mock"); });

    ManualClock clock;
    simulate::SimTransport transport(clock, m);
    Admission admission(clock);
    Recorder recorder(clock);
    DispatcherOptions opt;
    opt.seed = 7;
    opt.transport = &transport;
    Dispatcher dispatcher(std::move(cfg), clock, admission, recorder, opt);
    // Submitted on the dispatcher thread at the first instant, all at once,
    // so simulated time cannot run ahead of the test.
    const TimePoint t0 = clock.now();
    transport.schedule(t0, [&dispatcher, jobs] {
        for (int i = 0; i < jobs; ++i) {
            dispatcher.submit(chat(i));
        }
    });
    dispatcher.start();
    const bool done = recorder.waitFor(static_cast<std::size_t>(jobs));
    dispatcher.stop();
    QVERIFY(done);

    const simulate::SimProviderCounts counts = transport.counts();
    QCOMPARE(counts.rateLimited, std::uint64_t{0});
    QCOMPARE(counts.admitted, static_cast<std::uint64_t>(jobs));
    QCOMPARE(recorder.completed(), static_cast<std::size_t>(jobs));
    // Not slower than the limit allows: after the first bucket's worth the
    // rest go at the rate, then one answer's latency. Allow a tenth more
    // (Sluice keeps a small arrival margin) and a bucket's refill time.
    const double bucket = rpm * granularity / 60.0;
    const double fastest = std::max(0.0, jobs - bucket) * 60.0 / rpm + latencyMs / 1000.0;
    const double took = std::chrono::duration<double>(recorder.last() - t0).count();
    QVERIFY2(took <= fastest * 1.1 + granularity,
             qPrintable(QStringLiteral("took %1 s of simulated time; the limits allow %2 s").arg(took).arg(fastest)));
}

// 50 RPM enforced per second (claude-sonnet-4-5's first tier): one request
// per 1.2 s, each a whole bucket. One request reaches the provider 20 ms
// late, so the next is refused 14 ms early with Anthropic's only hint,
// "retry-after: 1" (whole seconds, rounded up). That near miss must not
// cost the second it names (most of a request at this rate) on top of the
// rest, nor pacing 2% below the limit for the rest of the run as if the
// provider counted a window (73.5 s here before). It still costs one
// refill: the 429's "remaining: 0" corrects the ledger as if the refused
// request had emptied the bucket at its send (correctFromHeaders).
void TestDispatchPaced::roundedRetryAfterCostsANearMiss()
{
    constexpr int kJobs = 60;
    constexpr int kRpm = 50;
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 200;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.limitsEnabled = true;
    m.models["claude-sonnet-4-5"].flavour = mock::Flavour::Anthropic;
    m.models["claude-sonnet-4-5"].limits = mock::RateLimits{};
    m.models["claude-sonnet-4-5"].limits.requestsPerMinute = kRpm;
    m.models["claude-sonnet-4-5"].limits.granularity = 1s;

    const json provider = {
        {"name", "anthropic"},
        {"flavor", "anthropic"},
        {"base_url", "http://simulated.invalid"},
        {"ramp_after_idle", false},
        {"models", {{"claude-sonnet-4-5", {{"limits", {{"rpm", kRpm}, {"granularity_s", 1}}}}}}},
        {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    Config cfg = loadConfig(JsonSource("rounded.json", json{{"providers", json::array({provider})}}.dump(2)),
                            [](const std::string&) { return std::optional<std::string>("sk-mock"); });

    ManualClock clock;
    simulate::SimTransport sim(clock, m);
    LateArrival transport(clock, sim, 5, 20ms);
    Admission admission(clock);
    Recorder recorder(clock);
    DispatcherOptions opt;
    opt.seed = 7;
    opt.transport = &transport;
    Dispatcher dispatcher(std::move(cfg), clock, admission, recorder, opt);
    const TimePoint t0 = clock.now();
    sim.schedule(t0, [&dispatcher] {
        for (int i = 0; i < kJobs; ++i) {
            dispatcher.submit(claude(i));
        }
    });
    dispatcher.start();
    const bool done = recorder.waitFor(kJobs);
    dispatcher.stop();
    QVERIFY(done);

    const simulate::SimProviderCounts counts = sim.counts();
    QCOMPARE(counts.rateLimited, std::uint64_t{1});
    QCOMPARE(recorder.completed(), static_cast<std::size_t>(kJobs));
    // The limit allows one request per 1.2 s after the first, then one
    // answer's latency. Sluice keeps at most 1% of the refill time as its
    // arrival margin; the late hop, the probe's rest and the one refill
    // may cost 1.45 s together, the rounded second and pacing may not.
    const double fastest = (kJobs - 1) * 60.0 / kRpm + 0.2;
    const double took = std::chrono::duration<double>(recorder.last() - t0).count();
    QVERIFY2(took <= fastest * 1.01 + 1.45,
             qPrintable(QStringLiteral("took %1 s of simulated time; the limit allows %2 s").arg(took).arg(fastest)));
}

QTEST_APPLESS_MAIN(TestDispatchPaced)
#include "tst_dispatch_paced.moc"
