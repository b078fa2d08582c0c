// The configuration's writer against its reader: a configuration read,
// written and read again is the same Config, field by field, with every
// section the format has; the written document holds the variables keys
// and the Redis password come from, never their values; and a workspace
// edit that writes a limits object keeps a per-minute spend limit.
#include "config/config.h"
#include "config/config_writer.h"

#include <QtTest>

using namespace sluice;
using nlohmann::json;

class TestConfigWriter : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readWriteReadGivesTheSameConfig_data();
    void readWriteReadGivesTheSameConfig();
    void secretsAreNeverWritten();
    void limitsObjectRoundTrips();
};

namespace {

const char* const kKeyValue = "sk-live-do-not-write-me-0123456789";
const char* const kPassword = "redis-password-do-not-write-me";

EnvLookup testEnv()
{
    return [](const std::string& name) -> std::optional<std::string> {
        if (name == "OPENAI_KEY_A" || name == "OPENAI_KEY_B" || name == "ANTHROPIC_KEY") {
            return std::string(kKeyValue) + name;
        }
        if (name == "REDIS_PASSWORD") {
            return std::string(kPassword);
        }
        return std::nullopt;
    };
}

// Every section the format has, most fields away from their defaults.
const char* const kFull = R"({
  "global": {"limits": {"concurrency": 200, "rpm": 20000, "spend_per_day_usd": 250.5, "day_utc_offset": "-08:00"}},
  "providers": [
    {"name": "openai", "flavor": "openai", "base_url": "https://api.openai.com",
     "headers": {"OpenAI-Organization": "org-123"},
     "timeouts": {"connect_s": 5, "total_s": 120},
     "http2": false, "learn_limits": false, "learned_granularity_s": 2, "token_accounting": "actual",
     "limits": {"concurrency": "auto", "rpm": 5000, "tpm": 800000, "granularity_s": 2},
     "models": {"gpt-4o-mini": {"limits": {"rpm": 500, "tpm": 200000}, "default_max_tokens": 1000},
                "gpt-4o": {}},
     "keys": [
       {"name": "a", "env": "OPENAI_KEY_A", "limits": {"concurrency": {"auto": {"initial": 8, "max": 64}}},
        "models": {"gpt-4o": {"limits": {"tpm": 30000, "rpd": 10000}}}},
       {"name": "b", "env": "OPENAI_KEY_B", "enabled": false, "limits": {"spend_per_minute_usd": 2.5, "tpd": 9000000}}
     ]},
    {"name": "claude", "flavor": "anthropic", "base_url": "https://api.anthropic.com",
     "anthropic_version": "2024-01-01",
     "limits": {"itpm": 40000, "otpm": 8000, "granularity_s": 10},
     "keys": [{"name": "main", "env": "ANTHROPIC_KEY"}]}
  ],
  "retry": {"max_attempts": 7, "base_delay_s": 0.25, "max_delay_s": 30, "max_rate_limit_retries": 50,
            "max_retry_after_s": 120},
  "defaults": {"tenant": "batch", "priority": 3, "deadline_s": 3600},
  "tenants": {"interactive": {"weight": 4}, "batch": {"weight": 0.5}},
  "shared": {"redis": "redis://10.0.0.5:6380/2", "namespace": "team-x", "when_unavailable": "stop",
             "password_env": "REDIS_PASSWORD", "queue_lease_s": 12.5},
  "pricing": {"as_of": "2026-01-01", "models": {"house-model": {"input": 1.5, "output": 6}}}
})";

const char* const kMinimal = R"({
  "providers": [{"name": "p", "flavor": "openai", "base_url": "http://127.0.0.1:9/v1",
                 "keys": [{"name": "k", "env": "OPENAI_KEY_A"}]}]
})";

Config read(const std::string& name, const std::string& text)
{
    return loadConfig(JsonSource(name, text), testEnv());
}

void compareLimits(const std::vector<LimitSpec>& a, const std::vector<LimitSpec>& b, const char* where)
{
    QVERIFY2(a == b, where);
}

void compareConfigs(const Config& a, const Config& b)
{
    compareLimits(a.globalLimits, b.globalLimits, "global limits");
    QCOMPARE(a.providers.size(), b.providers.size());
    for (std::size_t i = 0; i < a.providers.size(); ++i) {
        const ProviderConfig& p = a.providers[i];
        const ProviderConfig& q = b.providers[i];
        QCOMPARE(p.name, q.name);
        QVERIFY(p.flavor == q.flavor);
        QCOMPARE(p.baseUrl, q.baseUrl);
        QCOMPARE(p.headers, q.headers);
        QCOMPARE(p.anthropicVersion, q.anthropicVersion);
        QVERIFY(p.connectTimeout == q.connectTimeout);
        QVERIFY(p.totalTimeout == q.totalTimeout);
        QCOMPARE(p.http2, q.http2);
        QCOMPARE(p.learnLimits, q.learnLimits);
        QVERIFY(p.tokenAccounting == q.tokenAccounting);
        QVERIFY(p.learnedGranularity == q.learnedGranularity);
        QVERIFY(p.rampAfterIdle == q.rampAfterIdle);
        compareLimits(p.limits, q.limits, "provider limits");
        QVERIFY(p.autoConcurrency == q.autoConcurrency);
        QCOMPARE(p.models.size(), q.models.size());
        for (const ModelConfig& m : p.models) {
            const ModelConfig* n = q.model(m.name);
            QVERIFY2(n != nullptr, m.name.c_str());
            compareLimits(m.limits, n->limits, "model limits");
            QCOMPARE(m.defaultMaxTokens, n->defaultMaxTokens);
        }
        QCOMPARE(p.keys.size(), q.keys.size());
        for (std::size_t k = 0; k < p.keys.size(); ++k) {
            QCOMPARE(p.keys[k].name, q.keys[k].name);
            QCOMPARE(p.keys[k].envVar, q.keys[k].envVar);
            QVERIFY(p.keys[k].value == q.keys[k].value);
            QCOMPARE(p.keys[k].enabled, q.keys[k].enabled);
            compareLimits(p.keys[k].limits, q.keys[k].limits, "key limits");
            QVERIFY(p.keys[k].autoConcurrency == q.keys[k].autoConcurrency);
            QVERIFY(p.keys[k].modelLimits == q.keys[k].modelLimits);
        }
    }
    QCOMPARE(a.retry.maxAttempts, b.retry.maxAttempts);
    QVERIFY(a.retry.baseDelay == b.retry.baseDelay);
    QVERIFY(a.retry.maxDelay == b.retry.maxDelay);
    QCOMPARE(a.retry.maxRateLimitRetries, b.retry.maxRateLimitRetries);
    QVERIFY(a.retry.maxRetryAfter == b.retry.maxRetryAfter);
    QCOMPARE(a.defaults.tenant, b.defaults.tenant);
    QCOMPARE(a.defaults.priority, b.defaults.priority);
    QVERIFY(a.defaults.deadline == b.defaults.deadline);
    QVERIFY(a.tenantWeights == b.tenantWeights);
    QCOMPARE(a.shared.has_value(), b.shared.has_value());
    if (a.shared) {
        QCOMPARE(a.shared->host, b.shared->host);
        QCOMPARE(a.shared->port, b.shared->port);
        QCOMPARE(a.shared->db, b.shared->db);
        QCOMPARE(a.shared->ns, b.shared->ns);
        QVERIFY(a.shared->whenUnavailable == b.shared->whenUnavailable);
        QCOMPARE(a.shared->passwordEnv, b.shared->passwordEnv);
        QVERIFY(a.shared->password == b.shared->password);
        QVERIFY(a.shared->queueLease == b.shared->queueLease);
    }
    QCOMPARE(a.pricing.asOf(), b.pricing.asOf());
    QCOMPARE(a.pricing.models().size(), b.pricing.models().size());
    for (const auto& [name, price] : a.pricing.models()) {
        const auto other = b.pricing.find(name);
        QVERIFY2(other.has_value(), name.c_str());
        QCOMPARE(price.inputPerMillion, other->inputPerMillion);
        QCOMPARE(price.outputPerMillion, other->outputPerMillion);
        QCOMPARE(price.cachedInputPerMillion, other->cachedInputPerMillion);
        QCOMPARE(price.cacheWritePerMillion, other->cacheWritePerMillion);
    }
}

}  // namespace

void TestConfigWriter::readWriteReadGivesTheSameConfig_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("every section") << QString::fromUtf8(kFull);
    QTest::newRow("minimal") << QString::fromUtf8(kMinimal);
    // OpenAI's default is "learn": "estimate" must be written to be kept.
    for (const char* accounting : {"estimate", "learn"}) {
        QString text = QString::fromUtf8(kFull);
        text.replace(QStringLiteral(R"("token_accounting": "actual")"),
                     QStringLiteral(R"("token_accounting": "%1")").arg(QString::fromUtf8(accounting)));
        QTest::newRow(accounting) << text;
    }
}

void TestConfigWriter::readWriteReadGivesTheSameConfig()
{
    QFETCH(QString, text);
    const Config first = read("first.json", text.toStdString());
    const json written = configToJson(first);
    Config second;
    try {
        second = read("written.json", written.dump(2));
    } catch (const InputError& e) {
        QFAIL(e.what());
    }
    compareConfigs(first, second);
    // And writing again gives the same document: nothing drifts.
    QCOMPARE(QString::fromStdString(configToJson(second).dump()), QString::fromStdString(written.dump()));
}

void TestConfigWriter::secretsAreNeverWritten()
{
    const Config config = read("full.json", kFull);
    QVERIFY(config.providers[0].keys[0].value == Secret(std::string(kKeyValue) + "OPENAI_KEY_A"));
    const std::string text = configToJson(config).dump();
    QVERIFY(text.find(kKeyValue) == std::string::npos);
    QVERIFY(text.find(kPassword) == std::string::npos);
    // Where they come from is written instead.
    QVERIFY(text.find("\"env\":\"OPENAI_KEY_A\"") != std::string::npos);
    QVERIFY(text.find("\"password_env\":\"REDIS_PASSWORD\"") != std::string::npos);
}

void TestConfigWriter::limitsObjectRoundTrips()
{
    const json limits = {{"concurrency", 12},   {"rpm", 600},          {"tpm", 90000},
                         {"granularity_s", 5},  {"rpd", 1000},         {"spend_per_minute_usd", 1.25},
                         {"spend_per_day_usd", 40}, {"day_utc_offset", "+05:30"}};
    std::vector<std::string> problems;
    const std::vector<LimitSpec> specs = parseLimits(JsonSource("limits", limits.dump()), "", problems);
    QVERIFY(problems.empty());
    QCOMPARE(specs.size(), std::size_t{6});
    const json written = limitsToJson(specs);
    QVERIFY(written.contains("spend_per_minute_usd"));
    const std::vector<LimitSpec> again = parseLimits(JsonSource("written", written.dump()), "", problems);
    QVERIFY(problems.empty());
    QVERIFY(specs == again);
}

QTEST_APPLESS_MAIN(TestConfigWriter)
#include "tst_config_writer.moc"
