// The dispatcher end to end: real HTTP over loopback against an in-process
// mock provider. Each triage class is produced by the mock's limits or fault
// injection; tests wait on conditions (outcomes, stats), never on sleeps.
// Ordering, fairness, pause, retry timing and exact accounting are tested on
// a ManualClock in tst_dispatch_scripted, pacing against the mock's limiter
// in tst_dispatch_paced; here only what needs the wire.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "mock/mock_provider.h"
#include "support/test_images.h"

#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Recorder : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        m_order.push_back(o.customId);
        m_outcomes[o.customId] = std::move(o);
        m_cv.notify_all();
    }
    void onAttempt(const AttemptReport& r) override
    {
        std::lock_guard g(m_mutex);
        m_attempts.push_back(r);
    }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override
    {
        std::lock_guard g(m_mutex);
        m_keyProblems.push_back(provider + "/" + key + ": " + reason);
    }
    void onProviderProblem(const std::string& provider, const std::string& reason) override
    {
        std::lock_guard g(m_mutex);
        m_providerProblems.push_back(provider + ": " + reason);
    }
    std::vector<std::string> providerProblems()
    {
        std::lock_guard g(m_mutex);
        return m_providerProblems;
    }
    bool waitFor(std::size_t n, Duration timeout = 20s)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, timeout, [&] { return m_outcomes.size() >= n; });
    }
    JobOutcome outcome(const std::string& id)
    {
        std::lock_guard g(m_mutex);
        const auto it = m_outcomes.find(id);
        return it == m_outcomes.end() ? JobOutcome{} : it->second;
    }
    std::vector<std::string> order()
    {
        std::lock_guard g(m_mutex);
        return m_order;
    }
    std::vector<AttemptReport> attempts()
    {
        std::lock_guard g(m_mutex);
        return m_attempts;
    }
    std::vector<std::string> keyProblems()
    {
        std::lock_guard g(m_mutex);
        return m_keyProblems;
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<std::string, JobOutcome> m_outcomes;
    std::vector<std::string> m_order;
    std::vector<AttemptReport> m_attempts;
    std::vector<std::string> m_keyProblems;
    std::vector<std::string> m_providerProblems;
};

// A loopback port nothing listens on (bound, read, closed again).
std::uint16_t unusedPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    std::uint16_t port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    if (fd >= 0) {
        ::close(fd);
    }
    return port;
}

ProviderStatus::State providerState(const DispatcherStats& s, const std::string& name)
{
    for (const ProviderStatus& p : s.providers) {
        if (p.provider == name) {
            return p.state;
        }
    }
    return ProviderStatus::State::Ok;
}

mock::MockConfig fastMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 0;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.limitsEnabled = false;
    m.keys["sk-second"] = mock::MockKey{};
    return m;
}

// A Sluice config for one provider on the mock; `extra` is merged into the
// provider object.
Config sluiceConfig(const std::string& baseUrl, const std::string& flavor, json providerExtra = json::object(),
                    json top = json::object())
{
    json provider = {{"name", "mock"},
                     {"flavor", flavor},
                     {"base_url", baseUrl},
                     {"timeouts", {{"connect_s", 2}, {"total_s", 5}}},
                     {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    provider.merge_patch(providerExtra);
    json root = {{"providers", json::array({provider})}, {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
    root.merge_patch(top);
    const std::map<std::string, std::string> env = {{"MOCK_KEY", "sk-mock"}, {"SECOND_KEY", "sk-second"},
                                                    {"BAD_KEY", "sk-unknown"}};
    return loadConfig(JsonSource("test-config.json", root.dump(2)), [env](const std::string& name) {
        const auto it = env.find(name);
        return it == env.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
    });
}

JobSpec chat(const std::string& id, const std::string& model = "gpt-4o-mini", int maxTokens = 50, bool stream = false)
{
    JobSpec j;
    j.customId = id;
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", model},
              {"max_tokens", maxTokens},
              {"messages", json::array({{{"role", "user"}, {"content", "Say hello to " + id}}})}};
    if (stream) {
        j.body["stream"] = true;
    }
    return j;
}

JobSpec message(const std::string& id, bool stream = false)
{
    JobSpec j;
    j.customId = id;
    j.flavor = ApiFlavor::Anthropic;
    j.body = {{"model", "claude-haiku-4-5"},
              {"max_tokens", 64},
              {"messages", json::array({{{"role", "user"}, {"content", "Hello " + id}}})}};
    if (stream) {
        j.body["stream"] = true;
    }
    return j;
}

// The mock, a dispatcher over it, and what the dispatcher reported.
struct Rig {
    SystemClock clock;
    mock::MockProvider provider;
    Admission admission{clock};
    Recorder recorder;
    std::unique_ptr<Dispatcher> dispatcher;

    explicit Rig(mock::MockConfig m) : provider(clock, std::move(m)) { provider.start(); }
    void run(Config cfg)
    {
        DispatcherOptions opt;
        opt.seed = 7;
        dispatcher = std::make_unique<Dispatcher>(std::move(cfg), clock, admission, recorder, opt);
        dispatcher->start();
    }
    ~Rig()
    {
        if (dispatcher) {
            dispatcher->stop();
        }
        provider.stop();
    }
    std::int64_t used(const std::string& key, const std::string& model, Measure m)
    {
        const auto p = admission.findScope(Admission::root(), "mock");
        const auto k = admission.findScope(*p, key);
        const auto s = admission.findScope(*k, model);
        for (const auto& d : admission.snapshot(*s).dimensions) {
            if (d.spec.measure == m) {
                return d.used;
            }
        }
        return -1;
    }
    std::vector<LimitSpec> modelLimits(const std::string& key, const std::string& model)
    {
        const auto p = admission.findScope(Admission::root(), "mock");
        const auto k = admission.findScope(*p, key);
        const auto s = admission.findScope(*k, model);
        std::vector<LimitSpec> out;
        for (const auto& d : admission.snapshot(*s).dimensions) {
            out.push_back(d.spec);
        }
        return out;
    }
};

bool timelineHas(const JobOutcome& o, TimelineEvent::Kind kind, const std::string& text = {})
{
    return std::any_of(o.timeline.begin(), o.timeline.end(), [&](const TimelineEvent& e) {
        return e.kind == kind && (text.empty() || e.text().find(text) != std::string::npos);
    });
}

std::string dumpTimeline(const JobOutcome& o)
{
    std::string s;
    for (const auto& e : o.timeline) {
        s += std::string(timelineKindName(e.kind)) + ": " + e.text() + "\n";
    }
    return s;
}

}  // namespace

class TestDispatcher : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void completesAndSettlesToRealUsage();
    void streamsBothFlavours();
    void anthropicNonStreaming();
    void rateLimitedCoolsDownWithoutBurningAttempts();
    void requestTooLargeFailsAtOnce();
    void neverFitsLocallyIsNotSent();
    void quotaExhaustedQuarantinesAndFailsOver();
    void authFailureWithNoOtherKeyDeadLetters();
    void overloadBacksOffTheProvider();
    void serverErrorsExhaustAttempts();
    void faultsAreTriaged_data();
    void faultsAreTriaged();
    void learnsLimitsFromHeaders();
    void lowerAnnouncedLimitOverridesTheConfig();
    void cancelledJobKeepsWhatTheProviderCounted();
    void cancelQueuedLeavesAJobAlreadySent();
    void visionRequestsStayUnderAnInputTokenLimit();
    void waitingTimelineNamesTheDimension();
    void busyModelDoesNotBlockAnother();
    void rejectsUnroutableJobs();
    void keysChangeWhileTrafficFlows();
    void limitsChangeAtRunTime();
    void removingAProviderDeadLettersItsQueue();
    void unreachableProviderBacksOffAndResumes();
};

// The wire: a real answer's body, usage, request id and price come back.
// (What the ledger then holds is tested exactly, on a ManualClock, in
// tst_dispatch_scripted: here real time drains the bucket meanwhile.)
void TestDispatcher::completesAndSettlesToRealUsage()
{
    mock::MockConfig m = fastMock();
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 10;  // far below the 50 reserved per request
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"token_accounting", "actual"}, {"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 60'000}}}}}}}}));
    for (int i = 0; i < 20; ++i) {
        rig.dispatcher->submit(chat("job-" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(20));
    for (int i = 0; i < 20; ++i) {
        const JobOutcome o = rig.recorder.outcome("job-" + std::to_string(i));
        QCOMPARE(o.result, JobResult::Completed);
        QCOMPARE(o.status, 200L);
        QVERIFY(o.usage.has_value());
        QVERIFY(!json::parse(o.body)["choices"][0]["message"]["content"].get<std::string>().empty());
        QVERIFY(!o.requestId.empty());
        QVERIFY(o.spendMicroUsd.has_value());
        QCOMPARE(o.usage->outputTokens, 10);
        QVERIFY(o.usage->inputTokens > 0);
    }
    QTRY_COMPARE(rig.dispatcher->stats().completed, std::uint64_t{20});
    QCOMPARE(rig.dispatcher->stats().attempts, std::uint64_t{20});
    QCOMPARE(rig.provider.stats().accepted, std::int64_t{20});
    // The four events every request has are kept as names and numbers and
    // written when read: the text is what it was when written at once.
    const JobOutcome o = rig.recorder.outcome("job-0");
    const std::string timeline = dumpTimeline(o);
    QVERIFY2(timelineHas(o, TimelineEvent::Kind::Queued, "tenant default, priority 0, estimated "), timeline.c_str());
    QVERIFY2(timelineHas(o, TimelineEvent::Kind::Sent, "on key mock/main (attempt 1)"), timeline.c_str());
    QVERIFY2(timelineHas(o, TimelineEvent::Kind::Response, "HTTP 200 after "), timeline.c_str());
    QVERIFY2(timelineHas(o, TimelineEvent::Kind::Completed,
                         std::to_string(o.usage->inputTokens) + " input + 10 output tokens"),
             timeline.c_str());
}

void TestDispatcher::streamsBothFlavours()
{
    Rig rig(fastMock());
    Config cfg = sluiceConfig(rig.provider.baseUrl(), "openai");
    json anthropic = {{"name", "mock-anthropic"},
                      {"flavor", "anthropic"},
                      {"base_url", rig.provider.baseUrl()},
                      {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    Config both = sluiceConfig(rig.provider.baseUrl(), "openai", json::object(),
                               {{"providers", json::array({json{{"name", "mock"},
                                                                {"flavor", "openai"},
                                                                {"base_url", rig.provider.baseUrl()},
                                                                {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}},
                                                           anthropic})}});
    rig.run(std::move(both));
    rig.dispatcher->submit(chat("o1", "gpt-4o-mini", 30, true));
    rig.dispatcher->submit(message("a1", true));
    QVERIFY(rig.recorder.waitFor(2));
    const JobOutcome o = rig.recorder.outcome("o1");
    QCOMPARE(o.result, JobResult::Completed);
    QVERIFY2(json::parse(o.body)["choices"][0]["message"]["content"].is_string(), o.body.c_str());
    QVERIFY(o.usage && o.usage->outputTokens > 0);
    QVERIFY2(timelineHas(o, TimelineEvent::Kind::FirstToken), dumpTimeline(o).c_str());
    const JobOutcome a = rig.recorder.outcome("a1");
    QCOMPARE(a.result, JobResult::Completed);
    QCOMPARE(QString::fromStdString(json::parse(a.body)["type"].get<std::string>()), QStringLiteral("message"));
    QVERIFY(a.usage && a.usage->inputTokens > 0);
    const auto attempts = rig.recorder.attempts();
    QVERIFY(std::all_of(attempts.begin(), attempts.end(), [](const AttemptReport& r) { return r.timeToFirstToken.has_value(); }));
}

void TestDispatcher::anthropicNonStreaming()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "anthropic"));
    rig.dispatcher->submit(message("m1"));
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("m1");
    QCOMPARE(o.result, JobResult::Completed);
    QVERIFY(json::parse(o.body)["content"][0]["text"].is_string());
    QCOMPARE(QString::fromStdString(o.model), QStringLiteral("claude-haiku-4-5"));
}

void TestDispatcher::rateLimitedCoolsDownWithoutBurningAttempts()
{
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    // 600 RPM enforced 10 per second: a burst of 30 meets 429s.
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 600;
    m.models["gpt-4o-mini"].limits.granularity = 1s;
    Rig rig(m);
    // Sluice is told nothing about the limit and may not learn it.
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", {{"learn_limits", false}},
                         {{"retry", {{"max_attempts", 1}}}}));
    for (int i = 0; i < 30; ++i) {
        rig.dispatcher->submit(chat("r" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(30, 30s));
    // max_attempts 1, yet all done: 429s cost no attempt.
    QTRY_COMPARE(rig.dispatcher->stats().completed, std::uint64_t{30});
    const auto stats = rig.dispatcher->stats();
    QVERIFY(stats.failures[static_cast<std::size_t>(FailureClass::RateLimited)] > 0);
    bool cooled = false;
    for (int i = 0; i < 30; ++i) {
        cooled = cooled || timelineHas(rig.recorder.outcome("r" + std::to_string(i)), TimelineEvent::Kind::KeyCooled, "rate_limited");
    }
    QVERIFY(cooled);
}

void TestDispatcher::requestTooLargeFailsAtOnce()
{
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.tokensPerMinute = 1000;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", {{"learn_limits", false}}));
    rig.dispatcher->submit(chat("big", "gpt-4o-mini", 5000));
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("big");
    QCOMPARE(o.result, JobResult::DeadLettered);
    QCOMPARE(o.cls, FailureClass::RequestTooLarge);
    QCOMPARE(o.attempts.size(), std::size_t{1});
    QCOMPARE(o.status, 429L);
}

void TestDispatcher::neverFitsLocallyIsNotSent()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 1000}}}}}}}}));
    rig.dispatcher->submit(chat("big", "gpt-4o-mini", 5000));
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("big");
    QCOMPARE(o.cls, FailureClass::RequestTooLarge);
    QVERIFY2(o.reason.find("total_tokens per minute of model mock/main/gpt-4o-mini") != std::string::npos, o.reason.c_str());
    QVERIFY(o.attempts.empty());
    QCOMPARE(rig.provider.stats().accepted, std::uint64_t{0});
}

void TestDispatcher::quotaExhaustedQuarantinesAndFailsOver()
{
    mock::MockConfig m = fastMock();
    m.keys["sk-mock"].quotaExhausted = true;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}},
                                                {{"name", "backup"}, {"env", "SECOND_KEY"}}})}}));
    for (int i = 0; i < 10; ++i) {
        rig.dispatcher->submit(chat("q" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(10));
    for (int i = 0; i < 10; ++i) {
        const JobOutcome o = rig.recorder.outcome("q" + std::to_string(i));
        QCOMPARE(o.result, JobResult::Completed);
        QCOMPARE(QString::fromStdString(o.key), QStringLiteral("backup"));
    }
    const auto problems = rig.recorder.keyProblems();
    QCOMPARE(problems.size(), std::size_t{1});
    QVERIFY2(problems[0].find("mock/main: quota_exhausted") == 0, problems[0].c_str());
    QTRY_VERIFY(!rig.dispatcher->stats().keys.empty() &&
                rig.dispatcher->stats().keys[0].state == KeyStatus::State::Quarantined);
}

void TestDispatcher::authFailureWithNoOtherKeyDeadLetters()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"keys", json::array({{{"name", "bad"}, {"env", "BAD_KEY"}}})}}));
    rig.dispatcher->submit(chat("a1"));
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome first = rig.recorder.outcome("a1");
    QCOMPARE(first.result, JobResult::DeadLettered);
    QCOMPARE(first.cls, FailureClass::NoUsableKey);
    QVERIFY(timelineHas(first, TimelineEvent::Kind::KeyQuarantined, "auth_failed"));
    QCOMPARE(rig.recorder.keyProblems().size(), std::size_t{1});
    // The key stays quarantined: the next job is not even sent.
    rig.dispatcher->submit(chat("a2"));
    QVERIFY(rig.recorder.waitFor(2));
    QCOMPARE(rig.recorder.outcome("a2").cls, FailureClass::NoUsableKey);
    QVERIFY(rig.recorder.outcome("a2").attempts.empty());
    QTRY_COMPARE(rig.dispatcher->stats().attempts, std::uint64_t{1});
}

void TestDispatcher::overloadBacksOffTheProvider()
{
    mock::MockConfig m = fastMock();
    m.faults[mock::Fault::Http529] = 1.0;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", json::object(), {{"retry", {{"max_attempts", 10}}}}));
    rig.dispatcher->submit(chat("o1"));
    QTRY_VERIFY(rig.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::Overloaded)] >= 2);
    rig.provider.applyPatch(R"({"faults":{"http529":0}})");
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("o1");
    QCOMPARE(o.result, JobResult::Completed);
    QVERIFY(o.attempts.size() >= 3);
    QCOMPARE(o.attempts.front().cls, FailureClass::Overloaded);
    QVERIFY(timelineHas(o, TimelineEvent::Kind::RetryScheduled));
}

void TestDispatcher::serverErrorsExhaustAttempts()
{
    mock::MockConfig m = fastMock();
    m.faults[mock::Fault::Http500] = 1.0;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", json::object(), {{"retry", {{"max_attempts", 3}}}}));
    rig.dispatcher->submit(chat("s1"));
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("s1");
    QCOMPARE(o.result, JobResult::DeadLettered);
    QCOMPARE(o.cls, FailureClass::ServerError);
    QCOMPARE(o.attempts.size(), std::size_t{3});
    for (const auto& a : o.attempts) {
        QCOMPARE(a.status, 500L);
        QCOMPARE(a.cls, FailureClass::ServerError);
    }
    QCOMPARE(o.status, 500L);
}

void TestDispatcher::faultsAreTriaged_data()
{
    QTest::addColumn<int>("fault");
    QTest::addColumn<bool>("stream");
    QTest::addColumn<int>("expected");
    QTest::newRow("503") << int(mock::Fault::Http503) << false << int(FailureClass::Overloaded);
    QTest::newRow("connection reset") << int(mock::Fault::ConnectionReset) << false << int(FailureClass::ConnectionError);
    QTest::newRow("stall past the timeout") << int(mock::Fault::Stall) << false << int(FailureClass::Timeout);
    QTest::newRow("malformed JSON") << int(mock::Fault::MalformedJson) << false << int(FailureClass::ServerError);
    QTest::newRow("SSE error after 200") << int(mock::Fault::SseError) << true << int(FailureClass::StreamError);
    QTest::newRow("stream cut before usage") << int(mock::Fault::StreamCut) << true << int(FailureClass::StreamCut);
}

// Each fault fails the first attempt with its own class; once the fault is
// switched off the retry succeeds.
void TestDispatcher::faultsAreTriaged()
{
    QFETCH(int, fault);
    QFETCH(bool, stream);
    QFETCH(int, expected);
    mock::MockConfig m = fastMock();
    m.faults[static_cast<mock::Fault>(fault)] = 1.0;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", {{"timeouts", {{"total_s", 0.5}}}},
                         {{"retry", {{"max_attempts", 20}, {"base_delay_s", 0.05}, {"max_delay_s", 0.1}}}}));
    rig.dispatcher->submit(chat("f1", "gpt-4o-mini", 20, stream));
    QTRY_VERIFY_WITH_TIMEOUT(rig.dispatcher->stats().failures[static_cast<std::size_t>(expected)] >= 1, 10000);
    rig.provider.setConfig(fastMock());
    QVERIFY(rig.recorder.waitFor(1));
    const JobOutcome o = rig.recorder.outcome("f1");
    QCOMPARE(o.result, JobResult::Completed);
    QCOMPARE(int(o.attempts.front().cls), expected);
}

void TestDispatcher::learnsLimitsFromHeaders()
{
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 300;
    m.models["gpt-4o-mini"].limits.tokensPerMinute = 90'000;
    m.models["gpt-4o-mini"].limits.granularity = 1s;  // 5 requests at once, then one per 200 ms
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    rig.dispatcher->submit(chat("l1"));
    QVERIFY(rig.recorder.waitFor(1));
    const auto limits = rig.modelLimits("main", "gpt-4o-mini");
    const auto find = [&](Measure me) {
        for (const auto& s : limits) {
            if (s.measure == me) {
                return s;
            }
        }
        return LimitSpec{};
    };
    QCOMPARE(find(Measure::Requests).limit, 300);
    QCOMPARE(find(Measure::Requests).burst, 4);  // one second's worth, less a request of jitter allowance
    QCOMPARE(find(Measure::TotalTokens).limit, 90'000);
    // Having learned the limit, a burst of 15 is paced and meets no 429.
    for (int i = 0; i < 15; ++i) {
        rig.dispatcher->submit(chat("after-" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(16));
    QTRY_COMPARE(rig.dispatcher->stats().completed, std::uint64_t{16});
    QCOMPARE(rig.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::RateLimited)], std::uint64_t{0});
    QCOMPARE(rig.provider.stats().accepted, std::uint64_t{16});
}

void TestDispatcher::lowerAnnouncedLimitOverridesTheConfig()
{
    // The config says 600 RPM and 300,000 TPM; the key really has 300 RPM
    // (announced in every response's headers) and more tokens than configured.
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 300;
    m.models["gpt-4o-mini"].limits.tokensPerMinute = 900'000;
    m.models["gpt-4o-mini"].limits.granularity = 1s;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}, {"tpm", 300000}, {"granularity_s", 1}}}}}}}}));
    const auto find = [&](Measure me) {
        for (const auto& s : rig.modelLimits("main", "gpt-4o-mini")) {
            if (s.measure == me) {
                return s;
            }
        }
        return LimitSpec{};
    };
    const LimitSpec configuredRpm = find(Measure::Requests);
    QCOMPARE(configuredRpm.limit, 600);
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.recorder.waitFor(1));
    // Lowered to what the provider announced, at the configured granularity
    // (half the requests, half the burst); tokens stay as configured, since
    // the provider's limit is higher.
    QCOMPARE(find(Measure::Requests).limit, 300);
    QCOMPARE(find(Measure::Requests).burst, configuredRpm.burst / 2);
    QCOMPARE(find(Measure::TotalTokens).limit, 300'000);
    // Paced by the lowered limit: a burst meets no 429.
    for (int i = 0; i < 15; ++i) {
        rig.dispatcher->submit(chat("after-" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(16));
    QCOMPARE(rig.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::RateLimited)], std::uint64_t{0});

    // The provider raises the key's limit above the config: the configured
    // 600 comes back, and no more.
    rig.provider.applyPatch(R"({"models":{"gpt-4o-mini":{"limits":{"rpm":1200}}}})");
    rig.dispatcher->submit(chat("raised"));
    QVERIFY(rig.recorder.waitFor(17));
    QCOMPARE(find(Measure::Requests).limit, 600);
    QCOMPARE(find(Measure::Requests).burst, configuredRpm.burst);
}

// A job given up after it was sent keeps its estimate charged: the
// provider (the mock as OpenAI) counted the prompt and max_tokens when the
// request arrived, and a cancel does not give them back. Its connection is
// free at once. Refunded, the tokens would be admitted again within the
// same window and overfill it.
void TestDispatcher::cancelledJobKeepsWhatTheProviderCounted()
{
    mock::MockConfig m = fastMock();
    m.latency.baseMs = 5000;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 6000}, {"concurrency", 4}}}}}}}}));
    rig.dispatcher->submit(chat("c1", "gpt-4o-mini", 500));
    QTRY_COMPARE(rig.dispatcher->stats().inFlight, std::uint64_t{1});
    // Reserved: the prompt plus 500 output tokens, draining at 100 a second.
    const std::int64_t reserved = rig.used("main", "gpt-4o-mini", Measure::TotalTokens);
    QVERIFY(reserved >= 400);
    QCOMPARE(rig.used("main", "gpt-4o-mini", Measure::Concurrency), 1);
    rig.dispatcher->cancel("c1");
    QVERIFY(rig.recorder.waitFor(1));
    QCOMPARE(rig.recorder.outcome("c1").result, JobResult::Cancelled);
    QCOMPARE(rig.used("main", "gpt-4o-mini", Measure::Concurrency), 0);
    // Still charged, less what drained meanwhile (well under a second's 100).
    QVERIFY2(rig.used("main", "gpt-4o-mini", Measure::TotalTokens) >= reserved - 100,
             std::to_string(rig.used("main", "gpt-4o-mini", Measure::TotalTokens)).c_str());
}

// The gateway's hold bounds the wait for admission, not the provider's
// answer: cancelQueued gives up a job still in its queue (here while the
// dispatcher is paused) and leaves the one already sent to finish.
void TestDispatcher::cancelQueuedLeavesAJobAlreadySent()
{
    mock::MockConfig m = fastMock();
    m.latency.baseMs = 300;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    rig.dispatcher->submit(chat("sent"));
    QTRY_COMPARE(rig.dispatcher->stats().inFlight, std::uint64_t{1});
    rig.dispatcher->pause();
    rig.dispatcher->submit(chat("waiting"));
    rig.dispatcher->cancelQueued("sent");
    rig.dispatcher->cancelQueued("waiting");
    QVERIFY(rig.recorder.waitFor(2));
    QCOMPARE(rig.recorder.outcome("waiting").result, JobResult::Cancelled);
    QCOMPARE(rig.recorder.outcome("sent").result, JobResult::Completed);
    QCOMPARE(rig.recorder.outcome("sent").status, 200L);

    // Sent, then refused: not queued again for a retry (which would wait
    // past the hold), but given up after its one attempt.
    rig.dispatcher->resume();
    rig.provider.applyPatch(R"({"faults":{"http500":1.0}})");
    rig.dispatcher->submit(chat("refused"));
    // At the mock, which answers 500 after 300 ms.
    QTRY_COMPARE(rig.provider.stats().requests, std::int64_t{2});
    rig.dispatcher->cancelQueued("refused");
    QVERIFY(rig.recorder.waitFor(3));
    QCOMPARE(rig.recorder.outcome("refused").result, JobResult::Cancelled);
    QCOMPARE(rig.recorder.outcome("refused").attempts.size(), std::size_t{1});
}

// Anthropic vision requests against a provider that charges images as
// Anthropic publishes (the mock with a real tokenizer: 1,334 for a
// 1000×1000 image) under an input-token limit that takes seven of them a
// second: reserved as their image, they are paced and none is refused; as
// their dozen words of text (before media were estimated) the first burst
// sent all twelve at once and the mock refused four of them.
void TestDispatcher::visionRequestsStayUnderAnInputTokenLimit()
{
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    mock::MockModel& claude = m.models["claude-haiku-4-5"];
    claude.promptCounting = mock::PromptCounting::O200kBase;
    claude.limits = mock::RateLimits{};
    claude.limits.inputTokensPerMinute = 600'000;
    claude.limits.granularity = std::chrono::seconds(1);
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "anthropic",
                         {{"models", {{"claude-haiku-4-5", {{"limits", {{"itpm", 600'000}, {"granularity_s", 1}}}}}}}}));
    const std::string data = test::base64Of(test::pngHeader(1000, 1000, 30000));
    constexpr int kJobs = 12;
    for (int i = 0; i < kJobs; ++i) {
        JobSpec j;
        j.customId = "vision-" + std::to_string(i);
        j.flavor = ApiFlavor::Anthropic;
        j.body = {{"model", "claude-haiku-4-5"},
                  {"max_tokens", 16},
                  {"messages", json::array({{{"role", "user"},
                                             {"content", json::array({{{"type", "image"},
                                                                       {"source", {{"type", "base64"},
                                                                                   {"media_type", "image/png"},
                                                                                   {"data", data}}}},
                                                                      {{"type", "text"}, {"text", "What is this?"}}})}}})}};
        rig.dispatcher->submit(std::move(j));
    }
    QVERIFY(rig.recorder.waitFor(kJobs, 30s));
    for (int i = 0; i < kJobs; ++i) {
        QCOMPARE(rig.recorder.outcome("vision-" + std::to_string(i)).result, JobResult::Completed);
    }
    const mock::MockStats stats = rig.provider.stats();
    QCOMPARE(stats.accepted, std::int64_t{kJobs});
    QCOMPARE(stats.rateLimitedBy(mock::LimitKind::InputTokens), std::int64_t{0});
    QVERIFY2(stats.inputTokens >= kJobs * 1334, std::to_string(stats.inputTokens).c_str());
}

void TestDispatcher::waitingTimelineNamesTheDimension()
{
    Rig rig(fastMock());
    // One request per 200 ms on the model: the second job must wait for it.
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 300}, {"granularity_s", 0.2}}}}}}}}));
    rig.dispatcher->submit(chat("w1"));
    rig.dispatcher->submit(chat("w2"));
    QVERIFY(rig.recorder.waitFor(2));
    const JobOutcome second = rig.recorder.outcome("w2");
    QVERIFY2(timelineHas(second, TimelineEvent::Kind::Waiting, "requests per minute of model mock/main/gpt-4o-mini until"),
             dumpTimeline(second).c_str());
    QVERIFY(!timelineHas(rig.recorder.outcome("w1"), TimelineEvent::Kind::Waiting));
}

void TestDispatcher::busyModelDoesNotBlockAnother()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o", {{"limits", {{"rpm", 1}}}}}, {"gpt-4o-mini", json::object()}}}}));
    rig.dispatcher->submit(chat("slow-1", "gpt-4o"));
    rig.dispatcher->submit(chat("slow-2", "gpt-4o"));  // waits a minute for the RPM
    for (int i = 0; i < 5; ++i) {
        rig.dispatcher->submit(chat("fast-" + std::to_string(i)));
    }
    QVERIFY(rig.recorder.waitFor(6));
    for (int i = 0; i < 5; ++i) {
        QCOMPARE(rig.recorder.outcome("fast-" + std::to_string(i)).result, JobResult::Completed);
    }
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{1});
    QTRY_COMPARE(rig.dispatcher->stats().lanes.size(), std::size_t{2});
}

void TestDispatcher::rejectsUnroutableJobs()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", {{"models", {{"gpt-4o", json::object()}}}}));
    QVERIFY(rig.dispatcher->validate(chat("x", "gpt-4o")).empty());
    QCOMPARE(QString::fromStdString(rig.dispatcher->validate(chat("x", "mystery"))),
             QStringLiteral("body.model: no openai provider in the config serves model \"mystery\""));
    QCOMPARE(QString::fromStdString(rig.dispatcher->validate(message("x"))),
             QStringLiteral("body.model: no anthropic provider in the config serves model \"claude-haiku-4-5\""));
    JobSpec noMessages = chat("y", "gpt-4o");
    noMessages.body.erase("messages");
    QVERIFY_THROWS_EXCEPTION(InputError, rig.dispatcher->submit(noMessages));
}

void TestDispatcher::keysChangeWhileTrafficFlows()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    rig.dispatcher->pause();
    for (int i = 0; i < 10; ++i) {
        rig.dispatcher->submit(chat("k" + std::to_string(i)));
    }
    rig.dispatcher->setKeyEnabled("mock", "main", false);
    KeyConfig second;
    second.name = "second";
    second.envVar = "GUI";
    second.value = Secret("sk-second");
    rig.dispatcher->addKey("mock", second);
    rig.dispatcher->resume();
    QVERIFY(rig.recorder.waitFor(10));
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(QString::fromStdString(rig.recorder.outcome("k" + std::to_string(i)).key), QStringLiteral("second"));
    }
    rig.dispatcher->removeKey("mock", "second");
    rig.dispatcher->setKeyEnabled("mock", "main", true);
    rig.dispatcher->submit(chat("back"));
    QVERIFY(rig.recorder.waitFor(11));
    QCOMPARE(QString::fromStdString(rig.recorder.outcome("back").key), QStringLiteral("main"));
    const auto cfg = rig.dispatcher->config();
    QCOMPARE(cfg->providers[0].keys.size(), std::size_t{1});
    QVERIFY_THROWS_EXCEPTION(InputError, rig.dispatcher->addKey("mock", cfg->providers[0].keys[0]));
    QVERIFY_THROWS_EXCEPTION(InputError, rig.dispatcher->addKey("nowhere", second));
    QVERIFY_THROWS_EXCEPTION(InputError, rig.dispatcher->removeKey("mock", "second"));
}

void TestDispatcher::limitsChangeAtRunTime()
{
    mock::MockConfig m = fastMock();
    m.limitsEnabled = true;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = 6000;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.recorder.waitFor(1));
    QTRY_VERIFY(!rig.modelLimits("main", "gpt-4o-mini").empty());  // learned: 6000 rpm
    rig.dispatcher->setLimits(LimitTarget{"mock", "", "gpt-4o-mini"}, {perMinute(Measure::Requests, 60, 1)});
    QTRY_COMPARE(rig.modelLimits("main", "gpt-4o-mini").size(), std::size_t{1});
    QTRY_COMPARE(rig.modelLimits("main", "gpt-4o-mini")[0].limit, 60);
    // Set by hand, the limit is no longer replaced by what headers announce.
    rig.dispatcher->submit(chat("second"));
    QVERIFY(rig.recorder.waitFor(2));
    QCOMPARE(rig.modelLimits("main", "gpt-4o-mini")[0].limit, 60);
    // The third request waits a second for the 60 rpm (burst 1) limit.
    rig.dispatcher->submit(chat("third"));
    QVERIFY(rig.recorder.waitFor(3));
    QVERIFY2(timelineHas(rig.recorder.outcome("third"), TimelineEvent::Kind::Waiting, "requests per minute of model mock/main/gpt-4o-mini"),
             dumpTimeline(rig.recorder.outcome("third")).c_str());
    QVERIFY_THROWS_EXCEPTION(InputError, rig.dispatcher->setLimits(LimitTarget{"mock", "", ""}, {perMinute(Measure::Requests, -5)}));
    rig.dispatcher->setLimits(LimitTarget{}, {concurrency(7)});
    QTRY_COMPARE(rig.admission.snapshot(Admission::root()).dimensions.at(0).spec.limit, 7);
}

void TestDispatcher::removingAProviderDeadLettersItsQueue()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    rig.dispatcher->pause();
    for (int i = 0; i < 3; ++i) {
        rig.dispatcher->submit(chat("gone-" + std::to_string(i)));
    }
    rig.dispatcher->removeProvider("mock");
    QVERIFY(rig.recorder.waitFor(3));
    for (int i = 0; i < 3; ++i) {
        const JobOutcome o = rig.recorder.outcome("gone-" + std::to_string(i));
        QCOMPARE(o.cls, FailureClass::NoUsableKey);
        QVERIFY2(o.reason.find("was removed") != std::string::npos, o.reason.c_str());
    }
    QVERIFY(!rig.dispatcher->validate(chat("later")).empty());
    QCOMPARE(rig.provider.stats().accepted, std::int64_t{0});
}

void TestDispatcher::unreachableProviderBacksOffAndResumes()
{
    const std::uint16_t port = unusedPort();
    QVERIFY(port != 0);
    SystemClock clock;
    Admission admission{clock};
    Recorder recorder;
    DispatcherOptions opt;
    opt.seed = 7;
    // Two attempts per job: a provider that is down must not use them up.
    Dispatcher dispatcher(sluiceConfig("http://127.0.0.1:" + std::to_string(port), "openai", json::object(),
                                       {{"retry", {{"max_attempts", 2}}}}),
                          clock, admission, recorder, opt);
    dispatcher.start();
    for (int i = 0; i < 20; ++i) {
        dispatcher.submit(chat("u" + std::to_string(i)));
    }
    // Refused again and again (every job once, then one probe at a time),
    // and nothing given up.
    const auto refused = [&] {
        return dispatcher.stats().failures[static_cast<std::size_t>(FailureClass::ConnectionError)];
    };
    QTRY_VERIFY_WITH_TIMEOUT(refused() >= 25, 20000);
    QTRY_COMPARE(providerState(dispatcher.stats(), "mock"), ProviderStatus::State::Unreachable);
    DispatcherStats stats = dispatcher.stats();
    QCOMPARE(stats.deadLettered, std::uint64_t{0});
    QCOMPARE(stats.completed, std::uint64_t{0});
    QCOMPARE(stats.queued + stats.inFlight, std::uint64_t{20});
    // Said once, not once per request.
    QCOMPARE(recorder.providerProblems().size(), std::size_t{1});
    QVERIFY2(recorder.providerProblems().front().find("mock: connection_error") == 0,
             recorder.providerProblems().front().c_str());
    bool laneSaysSo = false;
    for (const LaneStatus& l : stats.lanes) {
        laneSaysSo = laneSaysSo || l.waitingFor.find("unreachable") != std::string::npos;
    }
    QVERIFY(laneSaysSo);

    // The provider comes up on that port: every job completes.
    mock::MockConfig m = fastMock();
    m.port = port;
    mock::MockProvider provider(clock, m);
    QCOMPARE(provider.start(), port);
    QVERIFY(recorder.waitFor(20, 30s));
    for (int i = 0; i < 20; ++i) {
        const JobOutcome o = recorder.outcome("u" + std::to_string(i));
        QCOMPARE(o.result, JobResult::Completed);
    }
    QTRY_COMPARE(providerState(dispatcher.stats(), "mock"), ProviderStatus::State::Ok);
    dispatcher.stop();
    provider.stop();
}

QTEST_APPLESS_MAIN(TestDispatcher)
#include "tst_dispatcher.moc"
