// BatchStreamQueue and BatchIds over a real JobStore (an SQLite file): a
// batch queued a small chunk at a time keeps only runs of ids; a custom_id
// repeated within the file is rejected naming its first line, in the same
// chunk or a later one, the same request or another; a rerun resumes every
// line without queueing twice; a custom_id the store holds with another
// request is refused; the output holds this run's jobs only; and the
// streamed reader gives each line's number, rejecting what onLine refuses.
#include "batchfile/batch_ids.h"
#include "batchfile/batch_output.h"
#include "batchfile/batch_stream.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

using namespace sluice;

namespace {

std::string line(const std::string& id, const std::string& content = "hi")
{
    return nlohmann::json{{"custom_id", id},
                          {"url", "/v1/chat/completions"},
                          {"body", {{"model", "gpt-4o-mini"}, {"messages", {{{"role", "user"}, {"content", content}}}}}}}
        .dump();
}

struct Run {
    std::vector<RejectedLine> rejects;
    std::vector<BatchStreamQueue::Queued> heard;
    BatchIds ids;
    std::size_t resumed = 0;
};

Run queueText(store::JobStore& st, const std::string& text, std::size_t chunkLines)
{
    std::istringstream in(text);
    BatchStreamQueue::Options o;
    o.storeName = "the state";
    o.chunkLines = chunkLines;
    Run run;
    QueuedBatch q = queueBatchFile(
        st, in,
        [](const BatchLine& l) -> std::string {
            return l.job.customId == "refused" ? "not for this provider" : std::string();
        },
        o, [&run](const BatchStreamQueue::Queued& x) { run.heard.push_back(x); });
    run.rejects = std::move(q.rejects);
    run.ids = std::move(q.ids);
    run.resumed = q.resumed;
    return run;
}

std::vector<std::string> outputIds(const std::string& path)
{
    std::vector<std::string> ids;
    std::ifstream in(path);
    std::string text;
    while (std::getline(in, text)) {
        ids.push_back(nlohmann::json::parse(text).at("custom_id").get<std::string>());
    }
    return ids;
}

}  // namespace

class TestBatchStream : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void idsKeepRuns();
    void chunkedQueueRepeatsAndResume();
    void conflictWithStore();
};

void TestBatchStream::idsKeepRuns()
{
    BatchIds ids;
    for (store::JobId id = 10; id < 10010; ++id) {
        ids.add(id, static_cast<std::size_t>(id - 10) + 1);
    }
    QCOMPARE(ids.size(), std::size_t(10000));
    QCOMPARE(ids.runs(), std::size_t(1));
    QCOMPARE(ids.lineOf(10).value(), std::size_t(1));
    QCOMPARE(ids.lineOf(10009).value(), std::size_t(10000));
    QVERIFY(!ids.contains(9));
    QVERIFY(!ids.contains(10010));
    // A skipped line (a reject) starts a new run; an older id (resumed) too.
    ids.add(10010, 10002);
    ids.add(3, 10003);
    ids.add(10010, 1);  // already held: its first line stays
    QCOMPARE(ids.runs(), std::size_t(3));
    QCOMPARE(ids.size(), std::size_t(10002));
    QCOMPARE(ids.lineOf(10010).value(), std::size_t(10002));
    QCOMPARE(ids.lineOf(3).value(), std::size_t(10003));
    QVERIFY(!ids.contains(4));
}

void TestBatchStream::chunkedQueueRepeatsAndResume()
{
    QTemporaryDir dir;
    ManualClock clock;
    store::JobStore st(std::filesystem::path(dir.path().toStdString()) / "state.db", clock);
    store::NewJob other;  // another batch's job in the same store
    other.customId = "other";
    other.url = "/v1/chat/completions";
    other.body = "{}";
    st.enqueue(other);

    std::string text;
    for (int i = 1; i <= 10; ++i) {
        text += line("a" + std::to_string(i)) + "\n";  // lines 1-10
    }
    text += "\n";                           // 11: blank, skipped
    text += line("a2") + "\n";              // 12: repeats line 2 (same request, a later chunk)
    text += line("a3", "changed") + "\n";   // 13: repeats line 3 with another body
    text += "{not json\n";                  // 14
    text += line("refused") + "\n";         // 15: refused by onLine
    text += line("b1") + "\n" + line("b1") + "\n";  // 16, 17: a repeat inside one chunk
    const Run first = queueText(st, text, 3);
    QCOMPARE(first.ids.size(), std::size_t(11));
    QCOMPARE(first.resumed, std::size_t(0));
    QCOMPARE(first.rejects.size(), std::size_t(5));
    QCOMPARE(first.rejects[0].line, std::size_t(12));
    QCOMPARE(QString::fromStdString(first.rejects[0].error),
             QStringLiteral("custom_id: \"a2\" repeats line 2 (the same request)"));
    QCOMPARE(first.rejects[1].line, std::size_t(13));
    QCOMPARE(QString::fromStdString(first.rejects[1].error),
             QStringLiteral("custom_id: \"a3\" repeats line 3 with a different body"));
    QCOMPARE(first.rejects[2].line, std::size_t(14));
    QCOMPARE(first.rejects[3].line, std::size_t(15));
    QCOMPARE(QString::fromStdString(first.rejects[3].error), QStringLiteral("not for this provider"));
    QCOMPARE(first.rejects[3].customId, std::string("refused"));
    QCOMPARE(first.rejects[4].line, std::size_t(17));
    QCOMPARE(QString::fromStdString(first.rejects[4].error),
             QStringLiteral("custom_id: \"b1\" repeats line 16 (the same request)"));
    // Two runs: lines 1-10 and line 16, whatever the chunks.
    QCOMPARE(first.ids.runs(), std::size_t(2));
    QCOMPARE(st.counts().pending, std::int64_t(12));  // 11 and "other"

    // The listener hears every line the store saw, with its place in its chunk.
    QCOMPARE(first.heard.size(), std::size_t(14));
    for (const auto& h : first.heard) {
        QVERIFY(h.index < 3);
    }

    // A rerun: every line the store holds is resumed, none added twice.
    const Run second = queueText(st, text, 4);
    QCOMPARE(second.resumed, std::size_t(11));
    QCOMPARE(second.ids.size(), std::size_t(11));
    QCOMPARE(second.rejects.size(), std::size_t(5));
    QCOMPARE(st.counts().pending, std::int64_t(12));

    // Finish everything; the output holds this batch's jobs only, in input order.
    store::LeaseRequest lr;
    lr.owner = "t";
    lr.max = 100;
    store::Updates u;
    for (const store::Job& j : st.lease(lr)) {
        store::Completion c;
        c.id = j.id;
        c.result.statusCode = 200;
        c.result.body = R"({"ok":true})";
        u.completions.push_back(std::move(c));
    }
    st.recordMany(u);
    const std::string out = dir.filePath(QStringLiteral("out.jsonl")).toStdString();
    const BatchOutputCounts counts = writeBatchOutput(st, out, second.ids);
    QCOMPARE(counts.completed, std::uint64_t(11));
    const std::vector<std::string> expected = {"a1", "a2", "a3", "a4", "a5", "a6",
                                               "a7", "a8", "a9", "a10", "b1"};
    QCOMPARE(outputIds(out), expected);
}

void TestBatchStream::conflictWithStore()
{
    QTemporaryDir dir;
    ManualClock clock;
    store::JobStore st(std::filesystem::path(dir.path().toStdString()) / "state.db", clock);
    queueText(st, line("x") + "\n", 10);
    const Run run = queueText(st, line("y") + "\n" + line("x", "another") + "\n", 10);
    QCOMPARE(run.ids.size(), std::size_t(1));
    QCOMPARE(run.rejects.size(), std::size_t(1));
    QCOMPARE(run.rejects[0].line, std::size_t(2));
    QCOMPARE(QString::fromStdString(run.rejects[0].error),
             QStringLiteral("custom_id: \"x\" is already in the state with a different request"));
    QCOMPARE(run.heard.back().fate, BatchStreamQueue::Fate::Rejected);
}

QTEST_APPLESS_MAIN(TestBatchStream)
#include "tst_batch_stream.moc"
