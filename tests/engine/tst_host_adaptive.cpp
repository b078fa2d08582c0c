// EngineHost (the console's own engine) with "concurrency": "auto" on a
// provider, against the in-process mock with hidden limits (no rate-limit
// headers, a bucket of one request per second): the 429s of the first
// burst lower the provider's concurrency limit from its initial value, as
// batch, serve and loadtest already do through AdaptiveWiring.
#include "config/config.h"
#include "host/engine_host.h"
#include "mock/mock_provider.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace sluice;
using nlohmann::json;

namespace {

const std::string kKey = "sk-proj-Host4Adaptive2Key8Value5Xx";
constexpr std::int64_t kInitial = 20;

Config autoConfig(const std::string& baseUrl)
{
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", "openai"},
                                {"base_url", baseUrl},
                                {"limits", {{"concurrency", {{"auto", {{"initial", kInitial}, {"max", 64}}}}}}},
                                {"keys", json::array({{{"name", "team-key"}, {"env", "HOST_ADAPTIVE_KEY"}}})}}})}};
    return loadConfig(JsonSource("host-adaptive.json", root.dump(2)), [](const std::string& name) {
        return name == "HOST_ADAPTIVE_KEY" ? std::optional<std::string>(kKey) : std::nullopt;
    });
}

std::int64_t concurrencyOf(const Config& config)
{
    for (const LimitSpec& l : config.providers.at(0).limits) {
        if (l.measure == Measure::Concurrency) {
            return l.limit;
        }
    }
    return -1;
}

}  // namespace

class TestHostAdaptive : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void autoConcurrencyFollowsTheProvider()
    {
        SystemClock clock;
        mock::MockConfig mc = mock::MockConfig::defaults();
        mc.keys.clear();
        mc.keys[kKey] = mock::MockKey{};
        mc.latency.baseMs = 50;
        mc.rateLimitHeaders = false;  // nothing tells Sluice the limit
        mc.models["gpt-4o-mini"].limits = mock::RateLimits{};
        mc.models["gpt-4o-mini"].limits.requestsPerMinute = 60;
        mc.models["gpt-4o-mini"].limits.granularity = std::chrono::seconds(1);
        mock::MockProvider provider(clock, mc);
        provider.start();

        QTemporaryDir dir;
        host::HostOptions options;
        options.database = std::filesystem::path(dir.path().toStdString()) / "ws.db";
        options.config = autoConfig(provider.baseUrl());
        host::EngineHost host(clock, std::move(options));
        QCOMPARE(concurrencyOf(*host.config()), kInitial);
        for (int i = 0; i < 40; ++i) {
            store::NewJob job;
            job.customId = "a-" + std::to_string(i);
            job.url = "/v1/chat/completions";
            job.body = json{{"model", "gpt-4o-mini"},
                            {"max_tokens", 10},
                            {"messages", json::array({{{"role", "user"}, {"content", "hi " + job.customId}}})}}
                           .dump();
            job.model = "gpt-4o-mini";
            host.store().enqueue(job);
        }
        host.start();
        // The first burst of kInitial meets a bucket of one: its 429s lower
        // the limit through the dispatcher's setLimits.
        QTRY_VERIFY_WITH_TIMEOUT(concurrencyOf(*host.config()) < kInitial, 30000);
        host.stop();
        QVERIFY(concurrencyOf(*host.config()) >= 1);
        std::int64_t refused = 0;
        for (const std::int64_t n : provider.stats().rateLimited) {
            refused += n;
        }
        QVERIFY(refused > 0);
    }
};

QTEST_GUILESS_MAIN(TestHostAdaptive)
#include "tst_host_adaptive.moc"
