// sluice-cli batch with "shared" in its configuration, against the
// in-process mock and a real redis-server: the run uses the shared budget
// (its state appears in Redis under the namespace, keyed by names, never by
// the key's value); with Redis unreachable, local_share runs it anyway and
// says so; a bad "shared" section exits 2 naming file, line and field.
#include "mock/mock_provider.h"
#include "support/cli_run.h"
#include "support/redis_server.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace sluice;
using nlohmann::json;

namespace {

const std::string kKey = "sk-proj-Vb7nQ2wE9rT4yU1iO8pA5sD3fG6hJ0kL";

using testing::CliRun;
using testing::readTextFile;
using testing::writeTextFile;

CliRun runBatch(const QStringList& args)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SHARED_TEST_KEY"), QString::fromStdString(kKey));
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(SLUICE_CLI_PATH), QStringList{QStringLiteral("batch")} + args);
    return testing::finishCli(p);
}

std::string configText(std::uint16_t mockPort, const std::string& shared)
{
    json c = {{"providers",
               json::array({{{"name", "mock"},
                             {"flavor", "openai"},
                             {"base_url", "http://127.0.0.1:" + std::to_string(mockPort)},
                             {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 6000}, {"tpm", 10000000}}}}}}},
                             {"keys", json::array({{{"name", "team-key"}, {"env", "SHARED_TEST_KEY"}}})}}})}};
    std::string text = c.dump(2);
    // "shared" goes last, on its own line, so errors in it have a known line.
    text.pop_back();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text + ",\n  \"shared\": " + shared + "\n}\n";
}

std::string inputLines(int n)
{
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += json{{"custom_id", "r-" + std::to_string(i)},
                    {"method", "POST"},
                    {"url", "/v1/chat/completions"},
                    {"body", {{"model", "gpt-4o-mini"}, {"max_tokens", 10}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}}}
                   .dump() +
               "\n";
    }
    return out;
}

}  // namespace

class TestSharedBatchCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        mock::MockConfig mc = mock::MockConfig::defaults();
        mc.keys.clear();
        mc.keys[kKey] = mock::MockKey{};
        mc.limitsEnabled = false;
        mc.latency.baseMs = 0;
        mc.latency.perOutputTokenMs = 0;
        mc.latency.firstTokenMs = 0;
        m_mock = std::make_unique<mock::MockProvider>(m_clock, mc);
        m_mockPort = m_mock->start();
        try {
            m_redis = std::make_unique<testing::RedisServerFixture>();
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
    }

    void cleanupTestCase()
    {
        m_redis.reset();
        m_mock.reset();
    }

    void batchUsesTheSharedBudget()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(m_mockPort, "{\"redis\": \"redis://127.0.0.1:" + std::to_string(m_redis->port()) +
                                                  "/0\", \"namespace\": \"cli\"}"));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(20));
        const CliRun r = runBatch({QStringLiteral("--config"), cfg, QStringLiteral("--input"), dir.filePath(QStringLiteral("in.jsonl")),
                                QStringLiteral("--output"), dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"),
                                dir.filePath(QStringLiteral("st.db"))});
        QVERIFY2(r.exitCode == 0, r.err.c_str());
        const std::string out = readTextFile(dir.filePath(QStringLiteral("out.jsonl")));
        QCOMPARE(std::count(out.begin(), out.end(), '\n'), 20);
        QVERIFY(r.err.find("UNAVAILABLE") == std::string::npos);

        shared::RedisConnection c(m_redis->endpoint());
        const shared::RedisReply keys = c.checked({"KEYS", "{cli}:*"});
        bool modelState = false;
        std::string everything;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const std::string k = keys.stringAt(i);
            everything += k + "\n";
            modelState = modelState || k.rfind("{cli}:b:global/mock/team-key/gpt-4o-mini|", 0) == 0;
        }
        QVERIFY2(modelState, everything.c_str());
        // Names only: no piece of the key's value in Redis.
        for (std::size_t i = 0; i + 6 <= kKey.size(); ++i) {
            QVERIFY(everything.find(kKey.substr(i, 6)) == std::string::npos);
        }
    }

    void unreachableRedisRunsOnItsShareAndSaysSo()
    {
        QTemporaryDir dir;
        // A port nothing listens on: this server, stopped.
        testing::RedisServerFixture gone;
        const int port = gone.port();
        gone.stop();
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(m_mockPort, "{\"redis\": \"redis://127.0.0.1:" + std::to_string(port) +
                                                  "/0\", \"namespace\": \"cli\", \"when_unavailable\": \"local_share\"}"));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(10));
        const CliRun r = runBatch({QStringLiteral("--config"), cfg, QStringLiteral("--input"), dir.filePath(QStringLiteral("in.jsonl")),
                                QStringLiteral("--output"), dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"),
                                dir.filePath(QStringLiteral("st.db"))});
        QVERIFY2(r.exitCode == 0, r.err.c_str());
        QVERIFY2(r.err.find("UNAVAILABLE") != std::string::npos, r.err.c_str());
        QVERIFY2(r.err.find("local_share") != std::string::npos, r.err.c_str());
        const std::string out = readTextFile(dir.filePath(QStringLiteral("out.jsonl")));
        QCOMPARE(std::count(out.begin(), out.end(), '\n'), 10);
    }

    void badSharedSectionExitsTwo()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        const std::string text = configText(m_mockPort, "{\"redis\": \"http://nope\", \"namespace\": \"cli\"}");
        writeTextFile(cfg, text);
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(1));
        const CliRun r = runBatch({QStringLiteral("--config"), cfg, QStringLiteral("--input"), dir.filePath(QStringLiteral("in.jsonl")),
                                QStringLiteral("--output"), dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"),
                                dir.filePath(QStringLiteral("st.db"))});
        QCOMPARE(r.exitCode, 2);
        const auto line = std::count(text.begin(), text.end(), '\n') - 1;  // "shared" is on the next-to-last line
        const std::string where = "c.json:" + std::to_string(line) + ": /shared/redis";
        QVERIFY2(r.err.find(where) != std::string::npos, r.err.c_str());
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("out.jsonl"))));
    }

private:
    SystemClock m_clock;
    std::unique_ptr<mock::MockProvider> m_mock;
    std::uint16_t m_mockPort = 0;
    std::unique_ptr<testing::RedisServerFixture> m_redis;
};

QTEST_APPLESS_MAIN(TestSharedBatchCli)
#include "tst_shared_batch_cli.moc"
