// Signals and the fleet across instances of one Redis namespace: a real
// redis-server started by the test, dispatchers sending over real HTTP to
// the in-process mock. One instance's 429 cool-down holds the key on its
// peer without a request; limits learned from headers and an operator's
// limit change reach every instance (a stale change never wins); the fleet
// lists who is there and forgets an instance that stops beating; the real
// sluice-cli loadtest honours "shared".
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "mock/mock_provider.h"
#include "shared/fleet_registry.h"
#include "shared/limits_codec.h"
#include "shared/shared_membership.h"
#include "shared/signal_bridge.h"
#include "support/mock_fixture.h"
#include "support/redis_server.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Quiet : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override { ++finished; }
    std::atomic<int> finished{0};
};

Config sluiceConfig(const std::string& baseUrl, bool learn, int redisPort)
{
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", "openai"},
                                {"base_url", baseUrl},
                                {"learn_limits", learn},
                                {"timeouts", {{"connect_s", 2}, {"total_s", 5}}},
                                {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})},
                 {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}},
                 {"shared",
                  {{"redis", "redis://127.0.0.1:" + std::to_string(redisPort) + "/0"}, {"namespace", "fleet-test"}}}};
    return loadConfig(JsonSource("fleet-test.json", root.dump(2)), [](const std::string& name) {
        return name == "MOCK_KEY" ? std::optional<std::string>("sk-mock") : std::nullopt;
    });
}

JobSpec chat(const std::string& id)
{
    JobSpec j;
    j.customId = id;
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", "gpt-4o-mini"},
              {"max_tokens", 20},
              {"messages", json::array({{{"role", "user"}, {"content", "Hello " + id}}})}};
    return j;
}

// One instance: its admission, dispatcher and (when sharing) membership.
struct Instance {
    Admission admission;
    Quiet listener;
    std::unique_ptr<shared::SharedMembership> membership;
    std::unique_ptr<Dispatcher> dispatcher;

    Instance(Clock& clock, const Config& config, bool share, const std::string& program)
        : admission(clock)
    {
        if (share) {
            membership = shared::makeMembership(config, clock, program, nullptr);
        }
        DispatcherOptions opt;
        opt.seed = 3;
        opt.peerSignals = membership ? membership->observer() : nullptr;
        dispatcher = std::make_unique<Dispatcher>(config, clock, admission, listener, opt);
        if (membership) {
            membership->attach(*dispatcher);
        }
        dispatcher->start();
    }
    ~Instance()
    {
        if (membership) {
            membership->detach();
        }
        dispatcher->stop();
    }
    KeyStatus::State keyState()
    {
        const DispatcherStats s = dispatcher->stats();
        return s.keys.empty() ? KeyStatus::State::Ok : s.keys.front().state;
    }
    std::vector<LimitSpec> limitsOf(std::initializer_list<std::string_view> path)
    {
        ScopeId scope = Admission::root();
        for (std::string_view name : path) {
            const auto next = admission.findScope(scope, name);
            if (!next) {
                return {};
            }
            scope = *next;
        }
        std::vector<LimitSpec> out;
        for (const auto& d : admission.snapshot(scope).dimensions) {
            out.push_back(d.spec);
        }
        return out;
    }
    bool laneWaitsFor(const std::string& text)
    {
        for (const LaneStatus& l : dispatcher->stats().lanes) {
            if (l.waitingFor.find(text) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

std::int64_t limitOf(const std::vector<LimitSpec>& specs, Measure m)
{
    for (const LimitSpec& s : specs) {
        if (s.measure == m) {
            return s.limit;
        }
    }
    return -1;
}

bool subscribed(Instance& i)
{
    return i.membership->signals().subscribed();
}

// The stock mock with every delay at zero; with `rpm`, gpt-4o-mini limited
// to that many requests (and `tpm` tokens, when given) a minute.
mock::MockConfig quietMock(std::int64_t rpm = 0, std::int64_t tpm = 0)
{
    mock::MockConfig m = test::quietConfig();
    if (rpm > 0) {
        m.models["gpt-4o-mini"].limits = mock::RateLimits{};
        m.models["gpt-4o-mini"].limits.requestsPerMinute = rpm;
        m.models["gpt-4o-mini"].limits.tokensPerMinute = tpm;
    }
    return m;
}

// A fresh redis-server, a started mock on the system clock, and two
// instances ("test A", "test B") sharing the namespace "fleet-test".
struct TwoInstances {
    testing::RedisServerFixture redis;
    SystemClock clock;
    mock::MockProvider provider;
    Config config;
    Instance a;
    Instance b;

    TwoInstances(const mock::MockConfig& m, bool learn)
        : provider(clock, m),
          config(sluiceConfig(startedBaseUrl(provider), learn, redis.port())),
          a(clock, config, true, "test A"),
          b(clock, config, true, "test B")
    {
    }
    bool bothSubscribed() { return subscribed(a) && subscribed(b); }

private:
    static std::string startedBaseUrl(mock::MockProvider& p)
    {
        p.start();
        return p.baseUrl();
    }
};

}  // namespace

class TestFleetSignals : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void coolDownHoldsThePeerWithoutSending();
    void learnedLimitsReachThePeer();
    void quarantineReachesThePeer();
    void rejectsTlsUrls();
    void loadtestSharesTheBudget();
    void operatorChangeReachesAllAndStaleLoses();
    void fleetListsAndForgetsTheSilent();
    void loadMeterRatesOverTheLastMinute();
    void limitsCodecRoundTrips();
};

void TestFleetSignals::coolDownHoldsThePeerWithoutSending()
{
    // One request a minute: the second meets a 429 with a long Retry-After.
    TwoInstances f(quietMock(1), false);
    Instance& a = f.a;
    Instance& b = f.b;
    QTRY_VERIFY(f.bothSubscribed());
    a.dispatcher->submit(chat("a1"));
    a.dispatcher->submit(chat("a2"));
    QTRY_VERIFY(a.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::RateLimited)] >= 1);
    QTRY_COMPARE(a.keyState(), KeyStatus::State::CoolingDown);
    // B never sent on the key, yet holds it too.
    QTRY_COMPARE(b.keyState(), KeyStatus::State::CoolingDown);
    QVERIFY(b.membership->signals().counters().applied >= 1);
    QVERIFY(a.membership->signals().counters().sent >= 1);
    b.dispatcher->submit(chat("b1"));
    QTRY_VERIFY(b.laneWaitsFor("cooling down"));
    QCOMPARE(b.dispatcher->stats().attempts, std::uint64_t{0});

    // Without the signal, an instance finds out by meeting the 429 itself.
    Instance c(f.clock, f.config, false, "test C");
    c.dispatcher->submit(chat("c1"));
    QTRY_VERIFY(c.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::RateLimited)] >= 1);
    f.provider.stop();
}

void TestFleetSignals::learnedLimitsReachThePeer()
{
    TwoInstances f(quietMock(480, 90000), true);
    Instance& a = f.a;
    Instance& b = f.b;
    QTRY_VERIFY(f.bothSubscribed());
    a.dispatcher->submit(chat("a1"));
    QTRY_COMPARE(limitOf(a.limitsOf({"mock", "main", "gpt-4o-mini"}), Measure::Requests), std::int64_t{480});
    // B learned them without a response of its own.
    QTRY_COMPARE(limitOf(b.limitsOf({"mock", "main", "gpt-4o-mini"}), Measure::Requests), std::int64_t{480});
    QCOMPARE(limitOf(b.limitsOf({"mock", "main", "gpt-4o-mini"}), Measure::TotalTokens), std::int64_t{90000});
    QCOMPARE(b.dispatcher->stats().attempts, std::uint64_t{0});
    f.provider.stop();
}

void TestFleetSignals::quarantineReachesThePeer()
{
    mock::MockConfig m = quietMock();
    m.keys["sk-mock"].quotaExhausted = true;
    TwoInstances f(m, false);
    Instance& a = f.a;
    Instance& b = f.b;
    QTRY_VERIFY(f.bothSubscribed());
    a.dispatcher->submit(chat("a1"));
    QTRY_COMPARE(a.keyState(), KeyStatus::State::Quarantined);
    QTRY_COMPARE(b.keyState(), KeyStatus::State::Quarantined);
    QVERIFY(b.dispatcher->stats().keys.front().reason.find("another instance") != std::string::npos);
    // B's job finds no usable key without a request of its own.
    b.dispatcher->submit(chat("b1"));
    QTRY_COMPARE(b.listener.finished.load(), 1);
    QCOMPARE(b.dispatcher->stats().attempts, std::uint64_t{0});
    f.provider.stop();
}

void TestFleetSignals::rejectsTlsUrls()
{
    const json root = {{"providers", json::array()},
                       {"shared", {{"redis", "rediss://cache.example:6380/0"}, {"namespace", "x"}}}};
    try {
        loadConfig(JsonSource("tls.json", root.dump(2)), [](const std::string&) { return std::nullopt; });
        QFAIL("a rediss:// URL was accepted");
    } catch (const InputError& e) {
        const std::string what = e.what();
        QVERIFY2(what.find("/shared/redis") != std::string::npos && what.find("TLS") != std::string::npos,
                 what.c_str());
    }
}

void TestFleetSignals::loadtestSharesTheBudget()
{
    // The real sluice-cli loadtest with "shared": its Sluice run admits
    // through the namespace's budget in Redis (the script's keys appear)
    // and says so.
    testing::RedisServerFixture redis;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const json config = {{"providers",
                          json::array({{{"name", "openai"},
                                        {"flavor", "openai"},
                                        {"base_url", "http://127.0.0.1:1"},
                                        {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})},
                         {"shared",
                          {{"redis", "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0"},
                           {"namespace", "lt-test"}}}};
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/resources/workloads/steady-mix.json");
    std::stringstream text;
    text << in.rdbuf();
    json workload = json::parse(text.str());
    workload["mix"]["models"] = json::array({{{"model", "gpt-4o-mini"}, {"weight", 1}}});
    const QString configPath = dir.filePath(QStringLiteral("lt.json"));
    const QString workloadPath = dir.filePath(QStringLiteral("w.json"));
    std::ofstream(configPath.toStdString()) << config.dump(2);
    std::ofstream(workloadPath.toStdString()) << workload.dump(2);
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MOCK_KEY"), QStringLiteral("sk-mock"));
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(SLUICE_CLI_PATH),
            {QStringLiteral("loadtest"), QStringLiteral("--config"), configPath, QStringLiteral("--workload"),
             workloadPath, QStringLiteral("--mock"), QStringLiteral("--duration"), QStringLiteral("2s"),
             QStringLiteral("--progress"), QStringLiteral("never")});
    QVERIFY(p.waitForFinished(120'000));
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(p.exitCode() == 0, qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("sharing limits, signals and the fleet in namespace lt-test")), qPrintable(err));
    shared::RedisConnection conn(redis.endpoint());
    const shared::RedisReply keys = conn.checked({"KEYS", "{lt-test}:b:*"});
    QVERIFY(keys.size() > 0);
    // It left the fleet on its way out.
    QCOMPARE(shared::listFleet(conn, "lt-test").size(), std::size_t{0});
}

void TestFleetSignals::operatorChangeReachesAllAndStaleLoses()
{
    TwoInstances f(mock::MockConfig::defaults(), false);
    Instance& a = f.a;
    Instance& b = f.b;
    QTRY_VERIFY(f.bothSubscribed());
    const LimitTarget target{"mock", "", ""};
    const std::int64_t v1 = a.membership->signals().changeLimits(target, {perMinute(Measure::Requests, 100)});
    QTRY_COMPARE(limitOf(b.limitsOf({"mock"}), Measure::Requests), std::int64_t{100});
    // The sender's own dispatcher applies the change on its thread, as a
    // posted command: it is not there yet when changeLimits returns.
    QTRY_COMPARE(limitOf(a.limitsOf({"mock"}), Measure::Requests), std::int64_t{100});
    const std::int64_t v2 = b.membership->signals().changeLimits(target, {perMinute(Measure::Requests, 200)});
    QVERIFY(v2 > v1);
    QTRY_COMPARE(limitOf(a.limitsOf({"mock"}), Measure::Requests), std::int64_t{200});

    // A change that arrives late (an older version) does not overwrite.
    shared::SignalBus late(f.redis.endpoint(), "fleet-test", "late-sender", nullptr);
    shared::SharedSignal s;
    s.kind = shared::SharedSignal::Kind::LimitsChanged;
    s.version = v1;
    s.limitsJson = json{{"target", json::array({"mock", "", ""})},
                        {"limits", json::parse(shared::encodeLimits({perMinute(Measure::Requests, 50)}))}}
                       .dump();
    const std::uint64_t staleBefore = a.membership->signals().counters().stale;
    QVERIFY(late.publish(s));
    QTRY_VERIFY(a.membership->signals().counters().stale > staleBefore);
    QCOMPARE(limitOf(a.limitsOf({"mock"}), Measure::Requests), std::int64_t{200});

    // An instance that starts later catches up with the newest change.
    Instance c(f.clock, f.config, true, "test C");
    QTRY_COMPARE(limitOf(c.limitsOf({"mock"}), Measure::Requests), std::int64_t{200});
    f.provider.stop();
}

void TestFleetSignals::fleetListsAndForgetsTheSilent()
{
    testing::RedisServerFixture redis;
    ManualClock clock;
    shared::FleetMember one;
    one.id = "one";
    one.host = "h1";
    one.pid = 11;
    one.program = "sluice-cli worker";
    shared::FleetMember two = one;
    two.id = "two";
    two.program = "sluice-cli serve";
    auto load = [] {
        shared::FleetLoad l;
        l.requestsPerMinute = 120;
        l.inFlight = 3;
        return l;
    };
    shared::FleetRegistry stays(redis.endpoint(), "fleet-test", one, clock, load, 10s, false);
    {
        // No heartbeat after the first, as if it had crashed.
        shared::FleetRegistry silent(redis.endpoint(), "fleet-test", two, clock, load, 300ms, false);
        shared::RedisConnection conn(redis.endpoint());
        const auto fleet = shared::listFleet(conn, "fleet-test");
        QCOMPARE(fleet.size(), std::size_t{2});
        QCOMPARE(QString::fromStdString(fleet[0].program), QStringLiteral("sluice-cli worker"));
        QCOMPARE(fleet[0].load.requestsPerMinute, 120.0);
        QCOMPARE(fleet[0].load.inFlight, std::int64_t{3});
        QCOMPARE(fleet[1].pid, std::int64_t{11});
        QTRY_COMPARE(shared::listFleet(conn, "fleet-test").size(), std::size_t{1});
        QCOMPARE(QString::fromStdString(shared::listFleet(conn, "fleet-test")[0].id), QStringLiteral("one"));
        // Its id is forgotten too, not only its registration.
        QCOMPARE(conn.checked({"SCARD", "{fleet-test}:fleet"}).integer(), std::int64_t{1});
    }
    QVERIFY(stays.beat());
    QCOMPARE(stays.lastSize(), std::size_t{1});
    // Leaving on destruction: gone at once.
    {
        shared::FleetRegistry leaves(redis.endpoint(), "fleet-test", two, clock, load, 10s, false);
        QVERIFY(stays.beat());
        QCOMPARE(stays.lastSize(), std::size_t{2});
    }
    QVERIFY(stays.beat());
    QCOMPARE(stays.lastSize(), std::size_t{1});
}

void TestFleetSignals::loadMeterRatesOverTheLastMinute()
{
    ManualClock clock;
    DispatcherStats stats;
    shared::FleetLoadMeter meter(clock, [&stats] { return stats; });
    QCOMPARE(meter.sample().requestsPerMinute, 0.0);
    clock.advance(30s);
    stats.attempts = 100;
    stats.inputTokens = 1000;
    stats.outputTokens = 500;
    stats.inFlight = 4;
    shared::FleetLoad l = meter.sample();
    QCOMPARE(l.requestsPerMinute, 200.0);
    QCOMPARE(l.tokensPerMinute, 3000.0);
    QCOMPARE(l.inFlight, std::int64_t{4});
    // Two minutes on without traffic: the old burst has left the window.
    clock.advance(60s);
    meter.sample();
    clock.advance(60s);
    l = meter.sample();
    QCOMPARE(l.requestsPerMinute, 0.0);
}

void TestFleetSignals::limitsCodecRoundTrips()
{
    LimitSpec daily = perMinute(Measure::SpendMicroUsd, 5000000);
    daily.window = Window::Fixed;
    daily.period = std::chrono::hours(24);
    daily.utcOffset = -std::chrono::hours(8);
    const std::vector<LimitSpec> in{perMinute(Measure::Requests, 600, 10), daily};
    const auto out = shared::decodeLimits(shared::encodeLimits(in));
    QVERIFY(out.has_value());
    QCOMPARE(out->size(), std::size_t{2});
    QCOMPARE((*out)[0].burst, std::int64_t{10});
    QVERIFY((*out)[1].window == Window::Fixed);
    QVERIFY((*out)[1].utcOffset == -std::chrono::hours(8));
    QVERIFY(!shared::decodeLimits(R"([{"measure":"requests","limit":"many"}])"));
    QVERIFY(!shared::decodeLimits(R"([{"measure":"nonsense","limit":5}])"));
    QVERIFY(!shared::decodeTarget(R"(["only two", ""])"));
}

QTEST_APPLESS_MAIN(TestFleetSignals)
#include "tst_fleet_signals.moc"
