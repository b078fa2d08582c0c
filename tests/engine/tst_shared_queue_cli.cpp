// The real sluice-cli on the shared queue, against the in-process mock and a
// real redis-server: `batch --queue shared` and one `sluice-cli worker` work
// on the same namespace; the worker is killed with SIGKILL while it holds
// jobs; the batch takes them over after the lease and writes one result per
// custom_id, in input order. A rerun enqueues nothing and collects the same
// output; without "shared" the command exits 2.
#include "shared/redis_connection.h"
#include "support/cli_run.h"
#include "support/shared_cli_fixture.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <optional>
#include <sstream>

#include <map>
#include <set>
#include <thread>

using namespace sluice;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kKey = "sk-proj-Qw3eR5tY7uI9oP1aS3dF5gH7jK9lZ2xC";
constexpr int kJobs = 200;

using testing::CliRun;
using testing::finishCli;
using testing::readTextFile;
using testing::writeTextFile;

// A concurrency limit of 8 across every instance and 100 ms per answer: the
// run lasts a few seconds, long enough to kill a worker in the middle.
std::string configText(testing::SharedCliFixture& env, bool withShared)
{
    json c = {{"providers", env.providers({{"rpm", 60000}, {"concurrency", 8}})}};
    if (withShared) {
        c["shared"] = {{"redis", "redis://127.0.0.1:" + std::to_string(env.redis().port()) + "/0"},
                       {"namespace", "queue-cli"},
                       {"queue_lease_s", 1}};
    }
    return c.dump(2);
}

std::string inputLines(int n)
{
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += testing::chatBatchLine("q-" + std::to_string(i), 5, "hi " + std::to_string(i));
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
        try {
            // 100 ms per answer: see configText.
            m_env.emplace(kKey, "QUEUE_TEST_KEY", 100);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
    }

    void cleanupTestCase() { m_env.reset(); }

    void killedWorkersJobsAreTakenOverExactlyOnce()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(*m_env, true));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(kJobs));
        const QStringList batchArgs{QStringLiteral("batch"), QStringLiteral("--config"), cfg, QStringLiteral("--input"),
                                    dir.filePath(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                                    dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--queue"),
                                    QStringLiteral("shared")};

        QProcess worker;
        worker.setProcessEnvironment(m_env->environment());
        worker.start(QStringLiteral(SLUICE_CLI_PATH), {QStringLiteral("worker"), QStringLiteral("--config"), cfg});
        QVERIFY(worker.waitForStarted());
        QProcess batch;
        batch.setProcessEnvironment(m_env->environment());
        batch.start(QStringLiteral(SLUICE_CLI_PATH), batchArgs);
        QVERIFY(batch.waitForStarted());

        // Kill the worker once it holds jobs.
        shared::RedisConnection c(m_env->redis().endpoint());
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
        again.setProcessEnvironment(m_env->environment());
        again.start(QStringLiteral(SLUICE_CLI_PATH), batchArgs);
        const CliRun r2 = finishCli(again);
        QVERIFY2(r2.exitCode == 0, r2.err.c_str());
        QVERIFY2(r2.err.find("0 of 200 requests enqueued") != std::string::npos, r2.err.c_str());
        QCOMPARE(readTextFile(dir.filePath(QStringLiteral("out.jsonl"))), out);
    }

    void responsesAndEmbeddingsRunFromTheSharedQueue()
    {
        // A leased entry is routed by its stored path (dispatch/stored_request.h):
        // a Responses and an Embeddings line come back in their own shapes.
        QTemporaryDir dir;
        json c = json::parse(configText(*m_env, true));
        c["shared"]["namespace"] = "queue-cli-endpoints";
        c["providers"][0]["models"]["text-embedding-3-small"] = json::object();
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, c.dump(2));
        const std::string lines =
            testing::chatBatchLine("chat", 5, "hi") +
            R"({"custom_id":"resp","method":"POST","url":"/v1/responses","body":{"model":"gpt-4o-mini","input":"hi","max_output_tokens":16}})"
            "\n"
            R"({"custom_id":"emb","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"hi"}})"
            "\n";
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), lines);
        QProcess batch;
        batch.setProcessEnvironment(m_env->environment());
        batch.start(QStringLiteral(SLUICE_CLI_PATH),
                    {QStringLiteral("batch"), QStringLiteral("--config"), cfg, QStringLiteral("--input"),
                     dir.filePath(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                     dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--queue"), QStringLiteral("shared")});
        const CliRun r = finishCli(batch);
        QVERIFY2(r.exitCode == 0, r.err.c_str());
        std::istringstream out(readTextFile(dir.filePath(QStringLiteral("out.jsonl"))));
        std::map<std::string, json> bodies;
        for (std::string line; std::getline(out, line);) {
            const json j = json::parse(line);
            QCOMPARE(j["response"]["status_code"].get<int>(), 200);
            bodies[j["custom_id"].get<std::string>()] = j["response"]["body"];
        }
        QCOMPARE(bodies.size(), std::size_t{3});
        QVERIFY(bodies["chat"]["choices"].is_array());
        QCOMPARE(bodies["resp"].value("object", ""), std::string("response"));
        QCOMPARE(bodies["emb"].value("object", ""), std::string("list"));
    }

    void withoutSharedExitsTwo()
    {
        QTemporaryDir dir;
        const QString cfg = dir.filePath(QStringLiteral("c.json"));
        writeTextFile(cfg, configText(*m_env, false));
        writeTextFile(dir.filePath(QStringLiteral("in.jsonl")), inputLines(1));
        QProcess p;
        p.setProcessEnvironment(m_env->environment());
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
    std::optional<testing::SharedCliFixture> m_env;
};

QTEST_GUILESS_MAIN(TestSharedQueueCli)
#include "tst_shared_queue_cli.moc"
