// The real sluice-cli on the shared queue, against the in-process mock and a
// real redis-server: `batch --queue shared` and one `sluice-cli worker` work
// on the same namespace; the worker is killed with SIGKILL while it holds
// jobs; the batch takes them over after the lease and writes one result per
// custom_id, in input order. A rerun enqueues nothing and collects the same
// output; without "shared" the command exits 2.
#include "mock/mock_provider.h"
#include "shared/redis_connection.h"
#include "support/cli_run.h"
#include "support/redis_server.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <sstream>

#include <set>
#include <thread>

using namespace sluice;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kKey = "sk-proj-Qw3eR5tY7uI9oP1aS3dF5gH7jK9lZ2xC";
constexpr int kJobs = 200;

QProcessEnvironment environment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QUEUE_TEST_KEY"), QString::fromStdString(kKey));
    return env;
}

using testing::CliRun;
using testing::finishCli;
using testing::readTextFile;
using testing::writeTextFile;

// A concurrency limit of 8 across every instance and 100 ms per answer: the
// run lasts a few seconds, long enough to kill a worker in the middle.
std::string configText(std::uint16_t mockPort, int redisPort, bool withShared)
{
    json c = {{"providers",
               json::array({{{"name", "mock"},
                             {"flavor", "openai"},
                             {"base_url", "http://127.0.0.1:" + std::to_string(mockPort)},
                             {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 60000}, {"concurrency", 8}}}}}}},
                             {"keys", json::array({{{"name", "team-key"}, {"env", "QUEUE_TEST_KEY"}}})}}})}};
    if (withShared) {
        c["shared"] = {{"redis", "redis://127.0.0.1:" + std::to_string(redisPort) + "/0"},
                       {"namespace", "queue-cli"},
                       {"queue_lease_s", 1}};
    }
    return c.dump(2);
}

std::string inputLines(int n)
{
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += json{{"custom_id", "q-" + std::to_string(i)},
                    {"method", "POST"},
                    {"url", "/v1/chat/completions"},
                    {"body", {{"model", "gpt-4o-mini"}, {"max_tokens", 5}, {"messages", json::array({{{"role", "user"}, {"content", "hi " + std::to_string(i)}}})}}}}
                   .dump() +
               "\n";
    }
    return out;
}

// Entries the consumer whose name holds "-PID-" has pending, from Redis.
std::int64_t pendingOf(shared::RedisConnection& c, qint64 pid)
{
    const shared::RedisReply r = c.command({"XINFO", "CONSUMERS", "{queue-cli}:jobs", "sluice"});
    if (r.isError() || !r.isArray()) {
        return 0;
    }
    const std::string tag = "-" + std::to_string(pid) + "-";

    for (std::size_t i = 0; i < r.size(); ++i) {
        const redisReply* consumer = r.raw()->element[i];
        std::string name;
        std::int64_t pending = 0;
        for (std::size_t f = 0; f + 1 < consumer->elements; f += 2) {
            const std::string field(consumer->element[f]->str, consumer->element[f]->len);
            if (field == "name") {
                name.assign(consumer->element[f + 1]->str, consumer->element[f + 1]->len);
            } else if (field == "pending") {
                pending = consumer->element[f + 1]->integer;
            }
        }
        if (name.find(tag) != std::string::npos) {
            return pending;
        }
    }
    return 0;
}

}  // namespace

class TestSharedQueueCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        mock::MockConfig mc = mock::MockConfig::defaults();
        mc.keys.clear();
        mc.keys[kKey] = mock::MockKey{};
        mc.limitsEnabled = false;
        mc.latency.baseMs = 100;
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

    void killedWorkersJobsAreTakenOverExactlyOnce()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(m_mockPort, m_redis->port(), true));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(kJobs));
        const QStringList batchArgs{QStringLiteral("batch"), QStringLiteral("--config"), cfg, QStringLiteral("--input"),
                                    dir.filePath(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                                    dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--queue"),
                                    QStringLiteral("shared")};

        QProcess worker;
        worker.setProcessEnvironment(environment());
        worker.start(QStringLiteral(SLUICE_CLI_PATH), {QStringLiteral("worker"), QStringLiteral("--config"), cfg});
        QVERIFY(worker.waitForStarted());
        QProcess batch;
        batch.setProcessEnvironment(environment());
        batch.start(QStringLiteral(SLUICE_CLI_PATH), batchArgs);
        QVERIFY(batch.waitForStarted());

        // Kill the worker once it holds jobs.
        shared::RedisConnection c(m_redis->endpoint());
        const auto until = std::chrono::steady_clock::now() + 60s;
        std::int64_t held = 0;
        while (std::chrono::steady_clock::now() < until && (held = pendingOf(c, worker.processId())) == 0 &&
               worker.state() == QProcess::Running) {
            std::this_thread::sleep_for(10ms);
        }
        QVERIFY2(held > 0, "the worker never leased a job");
        ::kill(static_cast<pid_t>(worker.processId()), SIGKILL);
        QVERIFY(worker.waitForFinished(10'000));

        const CliRun r = finishCli(batch);
        QVERIFY2(r.exitCode == 0, r.err.c_str());
        // The batch took the dead worker's jobs over.
        const auto at = r.err.find(" taken over");
        QVERIFY2(at != std::string::npos, r.err.c_str());
        const auto open = r.err.rfind('(', at);
        QVERIFY2(std::stoll(r.err.substr(open + 1, at - open - 1)) > 0, r.err.c_str());

        // One line per custom_id, in input order, every one answered.
        const std::string out = readTextFile(dir.filePath(QStringLiteral("out.jsonl")));
        std::istringstream lines(out);
        std::string line;
        int n = 0;
        while (std::getline(lines, line)) {
            const json j = json::parse(line);
            QCOMPARE(j["custom_id"].get<std::string>(), "q-" + std::to_string(n));
            QCOMPARE(j["response"]["status_code"].get<int>(), 200);
            QVERIFY(j["error"].is_null());
            ++n;
        }
        QCOMPARE(n, kJobs);
        QCOMPARE(c.checked({"HLEN", "{queue-cli}:results"}).integer(), kJobs);
        QCOMPARE(c.checked({"XLEN", "{queue-cli}:jobs"}).integer(), 0);

        // A rerun enqueues nothing and collects the same output.
        QFile::remove(dir.filePath(QStringLiteral("out.jsonl")));
        QProcess again;
        again.setProcessEnvironment(environment());
        again.start(QStringLiteral(SLUICE_CLI_PATH), batchArgs);
        const CliRun r2 = finishCli(again);
        QVERIFY2(r2.exitCode == 0, r2.err.c_str());
        QVERIFY2(r2.err.find("0 of 200 requests enqueued") != std::string::npos, r2.err.c_str());
        QCOMPARE(readTextFile(dir.filePath(QStringLiteral("out.jsonl"))), out);
    }

    void withoutSharedExitsTwo()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(m_mockPort, m_redis->port(), false));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(1));
        QProcess p;
        p.setProcessEnvironment(environment());
        p.start(QStringLiteral(SLUICE_CLI_PATH),
                {QStringLiteral("batch"), QStringLiteral("--config"), cfg, QStringLiteral("--input"),
                 dir.filePath(QStringLiteral("in.jsonl")), QStringLiteral("--output"), dir.filePath(QStringLiteral("out.jsonl")),
                 QStringLiteral("--queue"), QStringLiteral("shared")});
        const CliRun r = finishCli(p);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.find("no \"shared\" section") != std::string::npos, r.err.c_str());
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("out.jsonl"))));
    }

private:
    SystemClock m_clock;
    std::unique_ptr<mock::MockProvider> m_mock;
    std::uint16_t m_mockPort = 0;
    std::unique_ptr<testing::RedisServerFixture> m_redis;
};

QTEST_GUILESS_MAIN(TestSharedQueueCli)
#include "tst_shared_queue_cli.moc"
