// The configuration's error messages: every kind of problem the loader
// knows, each named as "file:line: /json/pointer: what is wrong", and all
// of a file's problems reported at once (one per line) rather than the
// first only, so a user fixes them in one pass.
#include "config/config.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace sluice;

namespace {

// Every key's variable is set except UNSET.
EnvLookup testEnv()
{
    return [](const std::string& name) -> std::optional<std::string> {
        if (name == "UNSET") {
            return std::nullopt;
        }
        return std::string("sk-test");
    };
}

std::string loadError(const std::string& text)
{
    try {
        loadConfig(JsonSource("cfg.json", text), testEnv());
    } catch (const InputError& e) {
        return e.what();
    }
    return "(accepted)";
}

// A valid provider on lines 2-7, closed on line 8; `extra` goes on line 7
// (inside the provider) and `top` on line 9 (beside "providers"), each one
// line, so the expected line numbers are fixed.
std::string config(const std::string& extra, const std::string& top = {})
{
    return "{\n"
           "  \"providers\": [{\n"
           "    \"name\": \"p\",\n"
           "    \"flavor\": \"openai\",\n"
           "    \"base_url\": \"http://127.0.0.1:9\",\n"
           "    \"keys\": [{\"name\": \"k\", \"env\": \"KEY\"}]" +
           (extra.empty() ? std::string() : ",") + "\n" +
           "    " + extra + "\n" +
           "  }]" + (top.empty() ? std::string() : ",") + "\n" +
           "  " + top + "\n" +
           "}\n";
}

// `text` with its first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to)
{
    const auto at = text.find(from);
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

}  // namespace

class TestConfigErrors : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void validConfigLoads();
    void eachProblemNamesFileLineAndPointer_data();
    void eachProblemNamesFileLineAndPointer();
    void everyProblemIsReportedAtOnce();
    void aFileOnDiskIsNamedByItsPath();
};

void TestConfigErrors::validConfigLoads()
{
    const std::string text = config(R"("models": {"gpt-4o-mini": {"limits": {"rpm": 500}}})", R"("retry": {"max_attempts": 3})");
    const Config c = loadConfig(JsonSource("cfg.json", text), testEnv());
    QCOMPARE(c.providers.size(), std::size_t{1});
    QCOMPARE(c.retry.maxAttempts, 3);
}

void TestConfigErrors::eachProblemNamesFileLineAndPointer_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");  // the whole problem line
    const auto row = [](const char* name, const std::string& text, const char* expected) {
        QTest::newRow(name) << QString::fromStdString(text) << QString::fromUtf8(expected);
    };
    // The file itself.
    row("not JSON", "{\n  \"providers\": [\n    ,\n  ]\n}\n", "cfg.json:3:");
    row("root not an object", "[1, 2]", "cfg.json:1: (top level): the configuration must be a JSON object");
    row("no providers", "{\n  \"retry\": {}\n}\n", "cfg.json:1: (top level): needs a non-empty \"providers\" array");
    row("providers empty", "{\n  \"providers\": []\n}\n", "cfg.json:2: /providers: needs a non-empty \"providers\" array");
    row("unknown top-level field", config("", R"("retries": {})"),
        "cfg.json:9: /retries: unknown field (expected one of: global, providers, retry, defaults, tenants, pricing, "
        "shared, gateway, $schema, comment)");
    // A provider.
    row("provider not an object", "{\n  \"providers\": [\n    \"openai\"\n  ]\n}\n", "cfg.json:3: /providers/0: must be an object");
    row("flavor unknown", replaced(config(""), "openai", "google"),
        "cfg.json:4: /providers/0/flavor: must be \"openai\" or \"anthropic\"");
    row("base_url not http", replaced(config(""), "http://", "ftp://"),
        "cfg.json:5: /providers/0/base_url: must start with http:// or https://");
    row("name missing", replaced(config(""), "\"name\": \"p\",", ""),
        "cfg.json:2: /providers/0: missing \"name\"");
    row("credentials in headers", config(R"("headers": {"Authorization": "Bearer sk-x"})"),
        "cfg.json:7: /providers/0/headers/Authorization: credentials do not belong in the config file; name an "
        "environment variable under \"keys\"");
    row("header not a string", config(R"("headers": {"X-Team": 5})"), "cfg.json:7: /providers/0/headers/X-Team: must be a string");
    row("token_accounting unknown", config(R"("token_accounting": "guess")"),
        "cfg.json:7: /providers/0/token_accounting: must be \"estimate\", \"actual\" or \"learn\"");
    row("http2 not a boolean", config(R"("http2": "yes")"), "cfg.json:7: /providers/0/http2: must be true or false");
    row("timeout out of range", config(R"("timeouts": {"total_s": 0})"),
        "cfg.json:7: /providers/0/timeouts/total_s: must be between 0.01 and 86400 (got 0)");
    row("unknown provider field", config(R"("region": "eu")"), "cfg.json:7: /providers/0/region: unknown field");
    row("models not an object", config(R"("models": ["gpt-4o"])"),
        "cfg.json:7: /providers/0/models: must be an object of model name → settings");
    row("model not an object", config(R"("models": {"gpt-4o": 1})"),
        "cfg.json:7: /providers/0/models/gpt-4o: must be an object (use {} for defaults)");
    // Keys.
    row("keys missing", "{\n  \"providers\": [{\n    \"name\": \"p\", \"flavor\": \"openai\", \"base_url\": \"http://h\"\n  }]\n}\n",
        "cfg.json:2: /providers/0: needs a non-empty \"keys\" array (each {\"name\", \"env\"})");
    row("key not an object", replaced(config(""), R"([{"name": "k", "env": "KEY"}])", R"(["sk-inline"])"),
        "cfg.json:6: /providers/0/keys/0: must be an object with \"name\" and \"env\"");
    row("key variable unset", replaced(config(""), "\"KEY\"", "\"UNSET\""),
        "cfg.json:6: /providers/0/keys/0/env: environment variable UNSET is not set");
    row("duplicate key name", replaced(config(""), "}]", R"(}, {"name": "k", "env": "KEY2"}])"),
        "cfg.json:6: /providers/0/keys/1/name: duplicate key name \"k\"");
    // Limits.
    row("limit zero", config(R"("limits": {"rpm": 0})"),
        "cfg.json:7: /providers/0/limits/rpm: must be more than 0 (0 would refuse every request; leave the field out "
        "for no limit)");
    row("limit fractional", config(R"("limits": {"tpm": 1.5})"), "cfg.json:7: /providers/0/limits/tpm: must be a whole number (got 1.5)");
    row("limit a word", config(R"("limits": {"rpd": "many"})"), "cfg.json:7: /providers/0/limits/rpd: must be a whole number");
    row("unknown limit", config(R"("limits": {"rps": 5})"), "cfg.json:7: /providers/0/limits/rps: unknown field");
    row("granularity out of range", config(R"("limits": {"rpm": 5, "granularity_s": 120})"),
        "cfg.json:7: /providers/0/limits/granularity_s: must be between 0.001 and 60 (got 120)");
    row("day offset malformed", config(R"("limits": {"rpd": 5, "day_utc_offset": "PST"})"),
        "cfg.json:7: /providers/0/limits/day_utc_offset: must look like \"-08:00\" or \"Z\"");
    row("auto concurrency on a model", config(R"("models": {"m": {"limits": {"concurrency": "auto"}}})"),
        "cfg.json:7: /providers/0/models/m/limits/concurrency: \"auto\" is allowed only in a provider's or a key's limits");
    row("too many global limits", config("", R"("global": {"limits": {"concurrency": 1, "rpm": 1, "tpm": 1, "itpm": 1, )"
                                             R"("otpm": 1, "rpd": 1, "tpd": 1, "spend_per_minute_usd": 1, "spend_per_day_usd": 1}})"),
        "cfg.json:9: /global/limits: at most 8 limits per scope");
    // The other sections.
    row("retry attempts out of range", config("", R"("retry": {"max_attempts": 0})"),
        "cfg.json:9: /retry/max_attempts: must be between 1 and 100 (got 0)");
    row("defaults priority out of range", config("", R"("defaults": {"priority": 5000})"),
        "cfg.json:9: /defaults/priority: must be between -1000 and 1000 (got 5000)");
    row("tenant not an object", config("", R"("tenants": {"team-a": 2})"),
        "cfg.json:9: /tenants/team-a: must be an object like {\"weight\": 2}");
    row("redis URL with a password", config("", R"("shared": {"redis": "redis://:pw@h:6379/0", "namespace": "n"})"),
        "cfg.json:9: /shared/redis: must look like redis://HOST:PORT/DB (no password in the URL: use password_env)");
    row("redis over TLS", config("", R"("shared": {"redis": "rediss://h:6379", "namespace": "n"})"),
        "cfg.json:9: /shared/redis: rediss:// (TLS) is not supported by this build");
    row("redis port out of range", config("", R"("shared": {"redis": "redis://h:70000", "namespace": "n"})"),
        "cfg.json:9: /shared/redis: port must be 1-65535");
    row("namespace with a space", config("", R"("shared": {"redis": "redis://h", "namespace": "a b"})"),
        "cfg.json:9: /shared/namespace: must be 1-64 characters of A-Z a-z 0-9 . _ -");
    row("when_unavailable unknown", config("", R"("shared": {"redis": "redis://h", "namespace": "n", "when_unavailable": "wait"})"),
        "cfg.json:9: /shared/when_unavailable: must be \"local_share\" or \"stop\"");
    row("redis password variable unset", config("", R"("shared": {"redis": "redis://h", "namespace": "n", "password_env": "UNSET"})"),
        "cfg.json:9: /shared/password_env: environment variable UNSET is not set");
    row("negative price", config("", R"("pricing": {"models": {"m": {"input": -1, "output": 2}}})"),
        "cfg.json:9: /pricing/models/m/input: must be a non-negative number");
}

void TestConfigErrors::eachProblemNamesFileLineAndPointer()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    const QString error = QString::fromStdString(loadError(text.toStdString()));
    // One problem: a header line, then the problem itself (a file that is
    // not JSON at all, or not an object, is the one message).
    const QStringList lines = error.split(QLatin1Char('\n'));
    const QString problem = lines.size() == 2 ? lines[1].trimmed() : lines[0];
    QVERIFY2(lines.size() <= 2, qPrintable(error));
    if (lines.size() == 2) {
        QCOMPARE(lines[0], QStringLiteral("1 problem in cfg.json:"));
    }
    QVERIFY2(problem.startsWith(expected), qPrintable(QStringLiteral("got: %1\nexpected: %2").arg(problem, expected)));
}

void TestConfigErrors::everyProblemIsReportedAtOnce()
{
    // Five problems on five lines, in three sections: all are listed, in the
    // order of the file, not only the first.
    const std::string text = "{\n"
                             "  \"providers\": [{\n"
                             "    \"name\": \"p\",\n"
                             "    \"flavor\": \"gemini\",\n"
                             "    \"base_url\": \"localhost:8080\",\n"
                             "    \"keys\": [{\"name\": \"k\", \"env\": \"UNSET\"}],\n"
                             "    \"limits\": {\"rpm\": 0}\n"
                             "  }],\n"
                             "  \"retry\": {\"max_attempts\": -1}\n"
                             "}\n";
    const QStringList lines = QString::fromStdString(loadError(text)).split(QLatin1Char('\n'));
    QCOMPARE(lines.size(), 6);
    QCOMPARE(lines[0], QStringLiteral("5 problems in cfg.json:"));
    QStringList problems;
    for (int i = 1; i < lines.size(); ++i) {
        problems << lines[i].trimmed();
    }
    QCOMPARE(problems[0], QStringLiteral("cfg.json:4: /providers/0/flavor: must be \"openai\" or \"anthropic\""));
    QCOMPARE(problems[1], QStringLiteral("cfg.json:5: /providers/0/base_url: must start with http:// or https://"));
    QVERIFY2(problems[2].startsWith(QStringLiteral("cfg.json:7: /providers/0/limits/rpm: must be more than 0")), qPrintable(problems[2]));
    QCOMPARE(problems[3], QStringLiteral("cfg.json:6: /providers/0/keys/0/env: environment variable UNSET is not set"));
    QCOMPARE(problems[4], QStringLiteral("cfg.json:9: /retry/max_attempts: must be between 1 and 100 (got -1)"));
}

void TestConfigErrors::aFileOnDiskIsNamedByItsPath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = dir.filePath(QStringLiteral("sluice.json")).toStdString();
    {
        std::ofstream out(path);
        out << config(R"("token_accounting": "guess")");
    }
    try {
        loadConfigFile(path, testEnv());
        QFAIL("accepted");
    } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find(path + ":7: /providers/0/token_accounting:") != std::string::npos, e.what());
    }
    const std::string missing = dir.filePath(QStringLiteral("nowhere.json")).toStdString();
    try {
        loadConfigFile(missing, testEnv());
        QFAIL("a missing file loaded");
    } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find(missing) != std::string::npos, e.what());
    }
}

QTEST_APPLESS_MAIN(TestConfigErrors)
#include "tst_config_errors.moc"
