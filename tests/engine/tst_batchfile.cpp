// sluice_batchfile over a real JobStore (an SQLite file): a batch's lines
// queued beside other work, its progress counted from its own jobs only,
// its unfinished jobs cancelled, a line already queued with another request
// refused, and the Batch API output written with one line per custom_id.
#include "batchfile/batch_output.h"
#include "batchfile/batch_stream.h"
#include "batchfile/batch_submission.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

std::string line(const std::string& id, const std::string& content = "hi")
{
    return nlohmann::json{{"custom_id", id},
                          {"url", "/v1/chat/completions"},
                          {"body", {{"model", "gpt-4o-mini"}, {"messages", {{{"role", "user"}, {"content", content}}}}}}}
        .dump();
}

}  // namespace

class TestBatchfile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void queueFollowCancelWrite();
};

void TestBatchfile::queueFollowCancelWrite()
{
    QTemporaryDir dir;
    ManualClock clock;
    store::JobStore st(std::filesystem::path(dir.path().toStdString()) / "ws.db", clock);
    // Other work in the workspace, before and after the batch.
    store::NewJob other;
    other.customId = "other-1";
    other.url = "/v1/chat/completions";
    other.body = "{}";
    QCOMPARE(st.enqueue(other).status, store::EnqueueStatus::Added);

    std::istringstream in(line("a") + "\n" + line("b") + "\nnot json\n" + line("c") + "\n" + line("other-1", "x") + "\n");
    BatchStreamQueue::Options options;
    options.start = clock.wallNow();
    options.storeName = "the workspace";
    const QueuedBatch q = queueBatchFile(st, in, {}, options);
    QCOMPARE(q.ids.size(), std::size_t{3});
    // The unreadable line and the store's conflict, by line.
    QCOMPARE(q.rejects.size(), std::size_t{2});
    QCOMPARE(q.rejects[0].line, std::size_t{3});
    QCOMPARE(q.rejects[1].line, std::size_t{5});
    QVERIFY(q.rejects[1].error.find("the workspace") != std::string::npos);
    other.customId = "other-2";
    st.enqueue(other);

    QCOMPARE(tallyBatch(st, q.ids).finished(), std::uint64_t{0});
    const auto leased = st.lease({"w", 10, 30s, {}});
    QCOMPARE(leased.size(), std::size_t{5});
    for (const store::Job& j : leased) {
        if (j.customId == "a" || j.customId == "other-1" || j.customId == "other-2") {
            QVERIFY(st.complete({j.id, store::Result{200, R"({"ok":true})", "req-" + j.customId, "main", {}}}));
        }
    }
    BatchTally t = tallyBatch(st, q.ids);
    QCOMPARE(t.total, std::uint64_t{3});
    QCOMPARE(t.done, std::uint64_t{1});
    QCOMPARE(t.dead, std::uint64_t{0});
    QVERIFY(!t.complete());

    const std::vector<std::string> cancelled = cancelBatch(st, q.ids, "cancelled by the test");
    QCOMPARE(cancelled, (std::vector<std::string>{"b", "c"}));
    t = tallyBatch(st, q.ids);
    QCOMPARE(t.dead, std::uint64_t{2});
    QVERIFY(t.complete());

    const std::string out = (std::filesystem::path(dir.path().toStdString()) / "out.jsonl").string();
    const BatchOutputCounts c = writeBatchOutput(st, out, q.ids);
    QCOMPARE(c.completed, std::uint64_t{1});
    QCOMPARE(c.dead, std::uint64_t{2});
    std::ifstream f(out);
    std::vector<std::string> ids;
    std::string text;
    while (std::getline(f, text)) {
        const auto j = nlohmann::json::parse(text);
        ids.push_back(j["custom_id"]);
        if (j["custom_id"] == "a") {
            QCOMPARE(j["response"]["status_code"].get<int>(), 200);
            QCOMPARE(j["id"].get<std::string>(), batchRequestId("a"));
        } else {
            QCOMPARE(j["error"]["code"].get<std::string>(), std::string("cancelled"));
        }
    }
    QCOMPARE(ids, (std::vector<std::string>{"a", "b", "c"}));
}

QTEST_APPLESS_MAIN(TestBatchfile)
#include "tst_batchfile.moc"
