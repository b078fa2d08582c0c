// Metrics of a real run: the dispatcher over loopback against the in-process
// mock, recording into a RollupStore on a real SQLite file. The report built
// from the stored rollups must count exactly what the mock counted; the
// /metrics endpoint must serve text that parses as Prometheus exposition;
// an attempt abandoned in flight must leave nothing in flight.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/fan_out_listener.h"
#include "metrics/metrics_recorder.h"
#include "metrics/prometheus.h"
#include "metrics/report.h"
#include "metrics/rollup_store.h"
#include "mock/mock_provider.h"
#include "support/http_client.h"
#include "support/prometheus_text.h"

#include <QtTest>

#include <QTemporaryDir>

#include <condition_variable>

using namespace sluice;
using namespace sluice::metrics;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Outcomes : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        m_results[o.customId] = o.result;
        m_cv.notify_all();
    }
    bool waitFor(std::size_t n)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, 60s, [&] { return m_results.size() >= n; });
    }
    std::size_t count(JobResult r)
    {
        std::lock_guard g(m_mutex);
        return static_cast<std::size_t>(
            std::count_if(m_results.begin(), m_results.end(), [&](const auto& e) { return e.second == r; }));
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<std::string, JobResult> m_results;
};

Config sluiceConfig(const std::string& baseUrl)
{
    const json root = {
        {"providers",
         json::array({{{"name", "mock"},
                       {"flavor", "openai"},
                       {"base_url", baseUrl},
                       {"learn_limits", false},
                       {"timeouts", {{"connect_s", 5}, {"total_s", 20}}},
                       // The exhausted key first, so it is tried and quarantined.
                       {"keys", json::array({{{"name", "broke"}, {"env", "BROKE_KEY"}},
                                             {{"name", "main"}, {"env", "MAIN_KEY"}}})}}})},
        {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}, {"max_rate_limit_retries", 1000}}}};
    const std::map<std::string, std::string> env = {{"BROKE_KEY", "sk-broke"}, {"MAIN_KEY", "sk-mock"}};
    return loadConfig(JsonSource("live-config.json", root.dump()), [env](const std::string& name) {
        const auto it = env.find(name);
        return it == env.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
    });
}

JobSpec chat(const std::string& id, const std::string& model, bool stream)
{
    JobSpec j;
    j.customId = id;
    j.body = {{"model", model},
              {"max_tokens", 30},
              {"messages", json::array({{{"role", "user"}, {"content", "Count the sheep, " + id}}})}};
    if (stream) {
        j.body["stream"] = true;
    }
    return j;
}

// The mock, a dispatcher over it, and a recorder writing rollups to a file.
struct Rig {
    explicit Rig(mock::MockConfig m)
        : mock(clock, std::move(m)),
          rollups(std::filesystem::path(dir.path().toStdString()) / "state.db"),
          recorder(clock, {}, &rollups)
    {
        mock.start();
        dispatcher = std::make_unique<Dispatcher>(sluiceConfig(mock.baseUrl()), clock, admission, fan,
                                                  DispatcherOptions{7, 512});
        recorder.setGaugeSource(
            [this] { return gaugeSampleOf(dispatcher->stats(), admission.snapshotAll()); });
        dispatcher->start();
    }
    ~Rig()
    {
        dispatcher->stop();
        mock.stop();
    }

    QTemporaryDir dir;
    SystemClock clock;
    mock::MockProvider mock;
    Admission admission{clock};
    RollupStore rollups;
    MetricsRecorder recorder;
    Outcomes outcomes;
    FanOutListener fan{&recorder, &outcomes};
    std::unique_ptr<Dispatcher> dispatcher;
};

mock::MockConfig limitedMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 0;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.keys["sk-broke"].quotaExhausted = true;
    // 600 RPM enforced per second: bursts of 10, so a quick batch meets 429s.
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 600;
    m.models["gpt-4o-mini"].limits.tokensPerMinute = 0;
    m.models["gpt-4o-mini"].limits.granularity = 1s;
    return m;
}

}  // namespace

class TestMetricsLive : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reportCountsEqualMockCounters();
    void metricsEndpointServesPrometheusText();
    void abandonedAttemptLeavesNothingInFlight();
};

void TestMetricsLive::reportCountsEqualMockCounters()
{
    Rig rig(limitedMock());
    constexpr int kJobs = 40;
    for (int i = 0; i < kJobs; ++i) {
        rig.dispatcher->submit(chat("j" + std::to_string(i), "gpt-4o-mini", i % 3 == 0));
    }
    for (int i = 0; i < 3; ++i) {
        rig.dispatcher->submit(chat("missing" + std::to_string(i), "no-such-model", false));
    }
    QVERIFY(rig.outcomes.waitFor(kJobs + 3));
    rig.dispatcher->stop();
    QVERIFY(rig.recorder.flush());

    const auto extent = rig.rollups.extent();
    QVERIFY(extent);
    const auto rows = rig.rollups.rows(extent->first, extent->second + 1min);
    const Report byKey = buildReport(rows, extent->first, extent->second + 1min, ReportGrouping::Key);
    const Totals& t = byKey.total.totals;
    const mock::MockStats m = rig.mock.stats();
    std::int64_t rateLimited = 0;
    for (const auto n : m.rateLimited) {
        rateLimited += n;
    }
    QVERIFY2(rateLimited > 0, "the run should have met the mock's rate limit");
    QVERIFY(m.quotaExhausted > 0);
    QCOMPARE(static_cast<std::int64_t>(t.sent), m.requests);
    QCOMPARE(static_cast<std::int64_t>(t.finished()), m.requests);
    QCOMPARE(static_cast<std::int64_t>(t.completed), m.accepted);
    QCOMPARE(t.completed, std::uint64_t{kJobs});
    QCOMPARE(static_cast<std::int64_t>(t.failuresOf(FailureClass::RateLimited)), rateLimited);
    QCOMPARE(static_cast<std::int64_t>(t.failuresOf(FailureClass::QuotaExhausted)), m.quotaExhausted);
    QCOMPARE(static_cast<std::int64_t>(t.failuresOf(FailureClass::NotFound)), m.errorCount(404));
    QCOMPARE(t.failed(), t.failuresOf(FailureClass::RateLimited) + t.failuresOf(FailureClass::QuotaExhausted) +
                             t.failuresOf(FailureClass::NotFound));
    QCOMPARE(t.inputTokens, m.inputTokens);
    QCOMPARE(t.outputTokens, m.outputTokens);
    QCOMPARE(t.latency.count(), t.completed);
    QCOMPARE(t.timeToFirstToken.count(), std::uint64_t{14});  // the streamed jobs
    QCOMPARE(t.unpriced, std::uint64_t{0});
    QVERIFY(t.spendMicroUsd > 0);
    // By key: every request on the exhausted key was refused for quota.
    const auto broke = std::find_if(byKey.rows.begin(), byKey.rows.end(), [](const ReportRow& r) { return r.key == "broke"; });
    QVERIFY(broke != byKey.rows.end());
    QCOMPARE(broke->totals.completed, std::uint64_t{0});
    QCOMPARE(broke->totals.failuresOf(FailureClass::QuotaExhausted) + broke->totals.failuresOf(FailureClass::NotFound),
             broke->totals.sent);
    // The recorder's live totals agree with what it stored.
    QCOMPARE(rig.recorder.snapshot().find(ScopeKey::global())->totals, t);
    QCOMPARE(rig.outcomes.count(JobResult::DeadLettered), std::size_t{3});
}

void TestMetricsLive::metricsEndpointServesPrometheusText()
{
    Rig rig(limitedMock());
    for (int i = 0; i < 12; ++i) {
        rig.dispatcher->submit(chat("j" + std::to_string(i), "gpt-4o-mini", i % 2 == 0));
    }
    QVERIFY(rig.outcomes.waitFor(12));
    MetricsEndpoint endpoint("127.0.0.1", 0, prometheusRenderer(rig.recorder));
    const std::uint16_t port = endpoint.start();
    test::HttpClient http("http://127.0.0.1:" + std::to_string(port));
    const test::HttpResponse r = http.get("/metrics");
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    QVERIFY(r.header("content-type").value_or("").find("text/plain; version=0.0.4") == 0);
    const test::PromText prom = test::parsePrometheusText(r.body);
    QVERIFY2(prom.errors.empty(), prom.errors.empty() ? "" : prom.errors.front().c_str());
    const mock::MockStats m = rig.mock.stats();
    QCOMPARE(*prom.value("sluice_requests_sent_total"), static_cast<double>(m.requests));
    QCOMPARE(*prom.value("sluice_requests_total", {{"class", "ok"}}), static_cast<double>(m.accepted));
    QCOMPARE(*prom.value("sluice_requests_total"), static_cast<double>(m.requests));
    QCOMPARE(*prom.value("sluice_tokens_total", {{"direction", "input"}}), static_cast<double>(m.inputTokens));
    QCOMPARE(*prom.value("sluice_request_duration_seconds_count"), 12.0);
    QCOMPARE(*prom.value("sluice_in_flight"), 0.0);
    // Gauges sampled at the scrape: the global in-flight cap of the dispatcher.
    QCOMPARE(*prom.value("sluice_limit", {{"scope", "global"}, {"measure", "concurrency"}}), 512.0);
    QVERIFY(prom.value("sluice_headroom", {{"scope", "global"}}));
    // Keys are labelled by name; the values are nowhere.
    QVERIFY(r.body.find("key=\"main\"") != std::string::npos);
    QVERIFY(r.body.find("sk-mock") == std::string::npos);
    QVERIFY(r.body.find("sk-broke") == std::string::npos);

    QCOMPARE(http.get("/").status, 404L);
    QCOMPARE(http.post("/metrics", "x").status, 405L);
    endpoint.stop();
}

void TestMetricsLive::abandonedAttemptLeavesNothingInFlight()
{
    mock::MockConfig m = limitedMock();
    m.latency.baseMs = 30'000;
    Rig rig(m);
    rig.dispatcher->submit(chat("slow", "gpt-4o", false));
    // The exhausted key answers at once, so the request that hangs is on "main".
    const auto inFlightOnMain = [&] {
        const MetricsSnapshot snap = rig.recorder.snapshot();
        const ScopeTotals* leaf = snap.find(ScopeKey::ofKeyModel("mock", "main", "gpt-4o"));
        return leaf != nullptr ? leaf->inFlight : 0;
    };
    QTRY_COMPARE_WITH_TIMEOUT(inFlightOnMain(), std::int64_t{1}, 20000);
    QCOMPARE(rig.recorder.snapshot().find(ScopeKey::global())->inFlight, std::int64_t{1});
    rig.dispatcher->cancel("slow");
    QVERIFY(rig.outcomes.waitFor(1));
    const MetricsSnapshot snap = rig.recorder.snapshot();
    for (const ScopeTotals& s : snap.scopes) {
        QCOMPARE(s.inFlight, std::int64_t{0});
    }
    const Totals& t = snap.find(ScopeKey::global())->totals;
    QCOMPARE(t.sent, t.finished());
    QCOMPARE(t.failuresOf(FailureClass::Cancelled), std::uint64_t{1});
    QCOMPARE(t.completed, std::uint64_t{0});
}

QTEST_APPLESS_MAIN(TestMetricsLive)
#include "tst_metrics_live.moc"
