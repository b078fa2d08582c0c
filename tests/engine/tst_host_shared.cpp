// EngineHost (the console's own engine) with "shared" in its configuration,
// against the in-process mock and a real redis-server: it and another
// instance on the same key, each configured with the key's full limit,
// together stay within it (the mock answers no 429); it joins the fleet as
// "sluice console"; with Redis stopped it reports the local_share fallback (or,
// configured so, that it admits nothing)
// in its status and events, and rejoins when Redis is back.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "host/engine_host.h"
#include "mock/mock_provider.h"
#include "shared/fleet_registry.h"
#include "shared/shared_run.h"
#include "support/redis_server.h"

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <chrono>

#include <nlohmann/json.hpp>

using namespace sluice;
using nlohmann::json;

namespace {

const std::string kKey = "sk-proj-Host7Shared3Key9Value1Xx";
// Sluice paces a per-minute limit evenly; the mock enforces it per second
// (a bucket of kRpm / 60), so an instance that spent the whole limit beside
// another would be answered 429 within a second or two.
constexpr std::int64_t kRpm = 600;

Config sharedConfig(const std::string& baseUrl, int redisPort, const std::string& whenUnavailable = "local_share")
{
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", "openai"},
                                {"base_url", baseUrl},
                                {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", kRpm}}}}}}},
                                {"keys", json::array({{{"name", "team-key"}, {"env", "HOST_SHARED_KEY"}}})}}})},
                 {"shared",
                  {{"redis", "redis://127.0.0.1:" + std::to_string(redisPort) + "/0"},
                   {"namespace", "host-test"},
                   {"when_unavailable", whenUnavailable}}}};
    return loadConfig(JsonSource("host-shared.json", root.dump(2)), [](const std::string& name) {
        return name == "HOST_SHARED_KEY" ? std::optional<std::string>(kKey) : std::nullopt;
    });
}

std::string chatBody(const std::string& id)
{
    return json{{"model", "gpt-4o-mini"},
                {"max_tokens", 10},
                {"messages", json::array({{{"role", "user"}, {"content", "hi " + id}}})}}
        .dump();
}

class Quiet : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override { ++finished; }
    std::atomic<int> finished{0};
};

// Another instance of the namespace, as sluice-cli serve builds it.
struct Other {
    shared::SharedRun run;
    Admission admission;
    Quiet listener;
    std::unique_ptr<Dispatcher> dispatcher;
    std::unique_ptr<shared::MembershipAttachment> attached;

    Other(Clock& clock, const Config& config)
        : run(config, clock, "tst other"), admission(clock, run.budget())
    {
        DispatcherOptions opt;
        opt.peerSignals = run.observer();
        dispatcher = std::make_unique<Dispatcher>(config, clock, admission, listener, opt);
        attached = std::make_unique<shared::MembershipAttachment>(run.membership(), *dispatcher);
        dispatcher->start();
    }
    ~Other()
    {
        dispatcher->stop();
        attached.reset();
        dispatcher.reset();
    }
};

}  // namespace

class TestHostShared : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sharesTheKeysLimitWithAnotherInstance()
    {
        testing::RedisServerFixture redis;
        SystemClock clock;
        mock::MockConfig mc = mock::MockConfig::defaults();
        mc.keys.clear();
        mc.keys[kKey] = mock::MockKey{};
        mc.latency.baseMs = 0;
        mc.models["gpt-4o-mini"].limits = mock::RateLimits{};
        mc.models["gpt-4o-mini"].limits.requestsPerMinute = kRpm;
        mc.models["gpt-4o-mini"].limits.granularity = std::chrono::seconds(1);
        mock::MockProvider provider(clock, mc);
        provider.start();
        const Config config = sharedConfig(provider.baseUrl(), redis.port());

        QTemporaryDir dir;
        host::HostOptions options;
        options.database = std::filesystem::path(dir.path().toStdString()) / "ws.db";
        options.config = config;
        options.shared = shared::sharedLinkFactory("sluice console");
        host::EngineHost host(clock, std::move(options));
        QVERIFY(host.status().shared.active);
        Other other(clock, config);

        // Each alone could send kRpm at once; together they have kRpm.
        constexpr int kEach = 50;
        for (int i = 0; i < kEach; ++i) {
            store::NewJob job;
            job.customId = "h-" + std::to_string(i);
            job.url = "/v1/chat/completions";
            job.body = chatBody(job.customId);
            job.model = "gpt-4o-mini";
            host.store().enqueue(job);
        }
        const auto started = std::chrono::steady_clock::now();
        host.start();
        for (int i = 0; i < kEach; ++i) {
            JobSpec j;
            j.customId = "o-" + std::to_string(i);
            j.flavor = ApiFlavor::OpenAI;
            j.body = json::parse(chatBody(j.customId));
            other.dispatcher->submit(std::move(j));
        }
        // Both spend the key's shared rate (kRpm / 60 a second) for about 3 s.
        QTRY_VERIFY_WITH_TIMEOUT(provider.stats().accepted >= kRpm / 20, 15000);
        QTRY_VERIFY(other.listener.finished.load() > 0 && host.status().dispatch.finished() > 0);
        const double elapsedS =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const mock::MockStats s = provider.stats();
        std::int64_t limited = 0;
        for (std::int64_t n : s.rateLimited) {
            limited += n;
        }
        QVERIFY2(limited <= 1, qPrintable(QStringLiteral("%1 answered 429").arg(limited)));
        // Together within the rate (plus one bucket): alone, each would send
        // kRpm / 60 a second, twice that together.
        const double perSecond = static_cast<double>(kRpm) / 60.0;
        QVERIFY2(static_cast<double>(s.accepted) <= perSecond * (elapsedS + 1.0) + 2.0,
                 qPrintable(QStringLiteral("%1 accepted in %2 s").arg(s.accepted).arg(elapsedS)));

        // The console's engine is a member of the fleet.
        shared::RedisConnection conn(redis.endpoint());
        QTRY_VERIFY([&] {
            for (const shared::FleetMember& m : shared::listFleet(conn, "host-test")) {
                if (m.program == "sluice console") {
                    return true;
                }
            }
            return false;
        }());
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.connected && host.status().shared.fleetSize == 2, 10000);
        host.stop();
    }

    void saysTheFallbackWhenRedisStopsAndRejoins()
    {
        testing::RedisServerFixture redis;
        SystemClock clock;
        mock::MockProvider provider(clock, mock::MockConfig::defaults());
        provider.start();
        QTemporaryDir dir;
        host::HostOptions options;
        options.database = std::filesystem::path(dir.path().toStdString()) / "ws.db";
        options.config = sharedConfig(provider.baseUrl(), redis.port());
        options.shared = shared::sharedLinkFactory("sluice console");
        host::EngineHost host(clock, std::move(options));
        host.start();
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.connected, 10000);
        QVERIFY(host::sharedStatusLine(host.status().shared).find("unreachable") == std::string::npos);

        redis.stop();
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.fallback, 15000);
        const host::HostStatus down = host.status();
        QVERIFY(!down.shared.connected);
        const std::string line = host::sharedStatusLine(down.shared);
        QVERIFY2(line.find("Shared budget unreachable: running on a local share (1/") == 0, line.c_str());
        bool said = false;
        for (const host::HostEvent& e : down.events) {
            said = said || e.text.find("Shared budget unreachable") != std::string::npos;
        }
        QVERIFY(said);

        redis.start();
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.connected && !host.status().shared.fallback, 20000);
        host.stop();
    }

    void saysItAdmitsNothingWhenConfiguredToStop()
    {
        testing::RedisServerFixture redis;
        SystemClock clock;
        mock::MockProvider provider(clock, mock::MockConfig::defaults());
        provider.start();
        QTemporaryDir dir;
        host::HostOptions options;
        options.database = std::filesystem::path(dir.path().toStdString()) / "ws.db";
        options.config = sharedConfig(provider.baseUrl(), redis.port(), "stop");
        options.shared = shared::sharedLinkFactory("sluice console");
        host::EngineHost host(clock, std::move(options));
        host.start();
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.connected, 10000);
        redis.stop();
        QTRY_VERIFY_WITH_TIMEOUT(host.status().shared.stopped, 15000);
        const std::string line = host::sharedStatusLine(host.status().shared);
        QVERIFY2(line.find("Shared budget unreachable: admitting nothing (when_unavailable: stop)") == 0, line.c_str());
        host.stop();
    }

    void withoutSharedNothingChanges()
    {
        SystemClock clock;
        QTemporaryDir dir;
        host::HostOptions options;
        options.database = std::filesystem::path(dir.path().toStdString()) / "ws.db";
        options.shared = shared::sharedLinkFactory("sluice console");
        host::EngineHost host(clock, std::move(options));
        QVERIFY(!host.status().shared.active);
        QVERIFY(host::sharedStatusLine(host.status().shared).empty());
    }
};

QTEST_GUILESS_MAIN(TestHostShared)
#include "tst_host_shared.moc"
