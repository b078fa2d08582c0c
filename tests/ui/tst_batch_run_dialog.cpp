// Workspace → Run batch file…, driven through its widgets: a small file with
// one bad line shows that line's number and reason and queues nothing until
// the user chooses to queue the valid lines; the batch then runs through the
// workspace's queue to the embedded mock, the progress reaches done, and
// the output file holds one line per custom_id. Cancelling a batch held by
// a paused dispatcher dead-letters what had not finished. A run belongs to
// the workspace, not the dialog: closed mid-run, it goes on (the status bar
// and Workspace → Batch runs show it), a dialog opened on it again shows
// where it is, and the output is written when it is done, dialog or not.
// Queueing reads the file again rather than keeping the checked requests.
#include "batch_run_dialog.h"
#include "batch_runs.h"
#include "console_fixture.h"

#include <QAction>
#include <QMenu>
#include <QToolButton>
#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QtTest>

#include <fstream>
#include <set>
#include <sstream>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 20'000;

std::string requestLine(const std::string& customId)
{
    return nlohmann::json{{"custom_id", customId},
                          {"method", "POST"},
                          {"url", "/v1/chat/completions"},
                          {"body",
                           {{"model", "gpt-4o-mini"},
                            {"messages", {{{"role", "user"}, {"content", "say hi to " + customId}}}},
                            {"max_tokens", 16}}}}
        .dump();
}

// The custom_ids of an output file, and each line's error code ("" when it
// has a response).
std::vector<std::pair<std::string, std::string>> outputLines(const QString& path)
{
    std::vector<std::pair<std::string, std::string>> lines;
    std::istringstream in(readFile(path.toStdString()));
    std::string text;
    while (std::getline(in, text)) {
        const auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) {
            lines.emplace_back("<not JSON>", "");
            continue;
        }
        lines.emplace_back(j.value("custom_id", ""), j["error"].is_object() ? j["error"].value("code", "") : "");
    }
    return lines;
}

ui::BatchRunDialog* openDialog(Console& console)
{
    auto* action = console.window().findChild<QAction*>(QStringLiteral("runBatchFile"));
    if (action == nullptr) {
        return nullptr;
    }
    action->trigger();
    return console.window().findChild<ui::BatchRunDialog*>(QStringLiteral("batchRunDialog"));
}

}  // namespace

class TestBatchRunDialog : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void fileWithABadLineRunsItsValidLines();
    void cancelDeadLettersWhatIsLeft();
    void runGoesOnWithTheDialogClosed();
    void queueingReadsTheFileAgain();
};

void TestBatchRunDialog::fileWithABadLineRunsItsValidLines()
{
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QString input = console.dataHome() + QStringLiteral("/requests.jsonl");
    const QString output = console.dataHome() + QStringLiteral("/results.jsonl");
    {
        std::ofstream f(input.toStdString());
        f << requestLine("req-1") << '\n'
          << requestLine("req-2") << '\n'
          << "{\"custom_id\": \"req-broken\", \"url\": \n"
          << requestLine("req-3") << '\n';
    }

    ui::BatchRunDialog* dialog = openDialog(console);
    QVERIFY(dialog != nullptr);
    dialog->findChild<QLineEdit*>(QStringLiteral("input"))->setText(input);
    dialog->findChild<QLineEdit*>(QStringLiteral("output"))->setText(output);
    auto* read = dialog->findChild<QPushButton*>(QStringLiteral("read"));
    auto* queue = dialog->findChild<QPushButton*>(QStringLiteral("queue"));
    auto* queueValid = dialog->findChild<QCheckBox*>(QStringLiteral("queueValidLines"));
    auto* rejects = dialog->findChild<QTableWidget*>(QStringLiteral("rejects"));
    auto* progress = dialog->findChild<QProgressBar*>(QStringLiteral("progress"));
    auto* progressText = dialog->findChild<QLabel*>(QStringLiteral("progressText"));
    QVERIFY(read && queue && queueValid && rejects && progress && progressText);

    QSignalSpy fileRead(dialog, &ui::BatchRunDialog::fileRead);
    QTest::mouseClick(read, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fileRead.count(), 1, kTimeoutMs);
    QCOMPARE(rejects->rowCount(), 1);
    QCOMPARE(rejects->item(0, 0)->data(Qt::DisplayRole).toULongLong(), 3ull);
    QVERIFY2(rejects->item(0, 2)->text().contains(QStringLiteral("not valid JSON")),
             qPrintable(rejects->item(0, 2)->text()));
    // A file with a rejected line queues nothing until the user says so.
    QVERIFY(!queue->isEnabled());
    QTest::mouseClick(queue, Qt::LeftButton);
    QVERIFY(!console.host().store().findByCustomId("req-1"));

    queueValid->setChecked(true);
    QVERIFY(queue->isEnabled());
    QSignalSpy written(dialog, &ui::BatchRunDialog::outputWritten);
    QTest::mouseClick(queue, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(progress->value(), 3, kTimeoutMs);
    QCOMPARE(progress->maximum(), 3);
    QVERIFY2(progressText->text().startsWith(QStringLiteral("3/3")), qPrintable(progressText->text()));
    QTRY_COMPARE_WITH_TIMEOUT(written.count(), 1, kTimeoutMs);
    QVERIFY2(written.at(0).at(0).toBool(), qPrintable(written.at(0).at(1).toString()));

    const auto lines = outputLines(output);
    QCOMPARE(lines.size(), std::size_t{3});
    std::set<std::string> ids;
    for (const auto& [id, code] : lines) {
        QVERIFY2(code.empty(), code.c_str());
        ids.insert(id);
    }
    QCOMPARE(ids, (std::set<std::string>{"req-1", "req-2", "req-3"}));
    // The rejected line went beside the output, with its number.
    const std::string rejected = readFile(QString(output + QStringLiteral(".rejects.jsonl")).toStdString());
    QVERIFY2(rejected.find("\"line\":3") != std::string::npos, rejected.c_str());
    dialog->close();
}

void TestBatchRunDialog::cancelDeadLettersWhatIsLeft()
{
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    console.session().pause();
    const QString input = console.dataHome() + QStringLiteral("/held.jsonl");
    const QString output = console.dataHome() + QStringLiteral("/held-results.jsonl");
    {
        std::ofstream f(input.toStdString());
        for (int i = 0; i < 4; ++i) {
            f << requestLine("held-" + std::to_string(i)) << '\n';
        }
    }
    ui::BatchRunDialog* dialog = openDialog(console);
    QVERIFY(dialog != nullptr);
    dialog->setInputPath(input);
    dialog->setOutputPath(output);
    QSignalSpy fileRead(dialog, &ui::BatchRunDialog::fileRead);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("read")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fileRead.count(), 1, kTimeoutMs);
    QCOMPARE(fileRead.at(0).at(1).toInt(), 0);
    auto* queue = dialog->findChild<QPushButton*>(QStringLiteral("queue"));
    QVERIFY(queue->isEnabled());
    QSignalSpy queued(dialog, &ui::BatchRunDialog::batchQueued);
    QTest::mouseClick(queue, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, kTimeoutMs);
    QCOMPARE(queued.at(0).at(0).toInt(), 4);
    QVERIFY(dialog->running());

    auto* cancel = dialog->findChild<QPushButton*>(QStringLiteral("cancelBatch"));
    QTRY_VERIFY(cancel->isEnabled());
    QSignalSpy written(dialog, &ui::BatchRunDialog::outputWritten);
    QTest::mouseClick(cancel, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->running(), kTimeoutMs);
    QCOMPARE(dialog->tally().dead, std::uint64_t{4});
    QTRY_COMPARE_WITH_TIMEOUT(written.count(), 1, kTimeoutMs);
    const auto lines = outputLines(output);
    QCOMPARE(lines.size(), std::size_t{4});
    for (const auto& [id, code] : lines) {
        QCOMPARE(code, std::string("cancelled"));
    }
    QCOMPARE(console.host().status().dispatch.attempts, std::uint64_t{0});
    dialog->close();
}

void TestBatchRunDialog::runGoesOnWithTheDialogClosed()
{
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // Paused, the batch is certainly mid-run when the dialog closes.
    console.session().pause();
    const QString input = console.dataHome() + QStringLiteral("/later.jsonl");
    const QString output = console.dataHome() + QStringLiteral("/later-results.jsonl");
    std::set<std::string> expected;
    {
        std::ofstream f(input.toStdString());
        for (int i = 0; i < 6; ++i) {
            f << requestLine("later-" + std::to_string(i)) << '\n';
            expected.insert("later-" + std::to_string(i));
        }
    }
    ui::BatchRunDialog* dialog = openDialog(console);
    QVERIFY(dialog != nullptr);
    dialog->setInputPath(input);
    dialog->setOutputPath(output);
    QSignalSpy fileRead(dialog, &ui::BatchRunDialog::fileRead);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("read")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fileRead.count(), 1, kTimeoutMs);
    QSignalSpy queued(dialog, &ui::BatchRunDialog::batchQueued);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("queue")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, kTimeoutMs);
    QPointer<ui::BatchRun> run = dialog->run();
    QVERIFY(run != nullptr);

    // Closed mid-run: the run stays with the workspace, shown in the status bar.
    dialog->close();
    QTRY_VERIFY(console.window().findChild<ui::BatchRunDialog*>(QStringLiteral("batchRunDialog")) == nullptr);
    QVERIFY(run != nullptr);
    QVERIFY(!run->complete());
    auto* status = console.window().findChild<QToolButton*>(QStringLiteral("batchRunsStatus"));
    QVERIFY(status != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(status->isVisible(), kTimeoutMs);
    QVERIFY2(status->text().contains(QStringLiteral("later.jsonl: 0/6 done")), qPrintable(status->text()));

    // Workspace → Batch runs lists it; chosen, a dialog shows it where it is,
    // with Cancel and Write output now.
    auto* menu = console.window().findChild<QMenu*>(QStringLiteral("batchRunsMenu"));
    QVERIFY(menu != nullptr);
    Q_EMIT menu->aboutToShow();
    const auto actions = menu->findChildren<QAction*>(QStringLiteral("batchRunAction"));
    QCOMPARE(actions.size(), qsizetype(1));
    QVERIFY2(actions.front()->text().contains(QStringLiteral("0/6")), qPrintable(actions.front()->text()));
    actions.front()->trigger();
    dialog = console.window().findChild<ui::BatchRunDialog*>(QStringLiteral("batchRunDialog"));
    QVERIFY(dialog != nullptr);
    QCOMPARE(dialog->run(), run.data());
    QVERIFY2(dialog->findChild<QLabel*>(QStringLiteral("progressText"))->text().startsWith(QStringLiteral("0/6 done")),
             qPrintable(dialog->findChild<QLabel*>(QStringLiteral("progressText"))->text()));
    QVERIFY(dialog->findChild<QPushButton*>(QStringLiteral("cancelBatch"))->isEnabled());
    QVERIFY(dialog->findChild<QPushButton*>(QStringLiteral("writeOutput"))->isEnabled());
    QVERIFY(!dialog->findChild<QPushButton*>(QStringLiteral("queue"))->isEnabled());
    dialog->close();
    QTRY_VERIFY(console.window().findChild<ui::BatchRunDialog*>(QStringLiteral("batchRunDialog")) == nullptr);

    // Resumed with no dialog open: the run completes and writes its output,
    // one line per custom_id.
    QSignalSpy written(run.data(), &ui::BatchRun::outputWritten);
    console.session().resume();
    QTRY_VERIFY_WITH_TIMEOUT(run->complete(), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(written.count(), 1, kTimeoutMs);
    QVERIFY2(written.at(0).at(0).toBool(), qPrintable(written.at(0).at(1).toString()));
    const auto lines = outputLines(output);
    std::set<std::string> ids;
    for (const auto& [id, code] : lines) {
        QVERIFY2(code.empty(), code.c_str());
        ids.insert(id);
    }
    QCOMPARE(lines.size(), expected.size());
    QCOMPARE(ids, expected);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().contains(QStringLiteral("6/6 done")), kTimeoutMs);
}

void TestBatchRunDialog::queueingReadsTheFileAgain()
{
    // The check keeps no request, so queueing reads the file again (a chunk
    // at a time): what is queued is what the file holds then. A line added
    // since the check is queued; one repeating a custom_id shows as rejected.
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    console.session().pause();
    const QString input = console.dataHome() + QStringLiteral("/growing.jsonl");
    {
        std::ofstream f(input.toStdString());
        f << requestLine("req-a") << '\n' << requestLine("req-b") << '\n';
    }
    ui::BatchRunDialog* dialog = openDialog(console);
    QVERIFY(dialog != nullptr);
    dialog->findChild<QLineEdit*>(QStringLiteral("input"))->setText(input);
    dialog->findChild<QLineEdit*>(QStringLiteral("output"))->setText(console.dataHome() +
                                                                      QStringLiteral("/growing-results.jsonl"));
    auto* queue = dialog->findChild<QPushButton*>(QStringLiteral("queue"));
    auto* rejects = dialog->findChild<QTableWidget*>(QStringLiteral("rejects"));
    auto* progress = dialog->findChild<QProgressBar*>(QStringLiteral("progress"));
    QSignalSpy fileRead(dialog, &ui::BatchRunDialog::fileRead);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("read")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(fileRead.count(), 1, kTimeoutMs);
    QCOMPARE(fileRead.at(0).at(0).toInt(), 2);
    QCOMPARE(rejects->rowCount(), 0);
    {
        std::ofstream f(input.toStdString(), std::ios::app);
        f << requestLine("req-c") << '\n' << requestLine("req-a") << '\n';
    }
    QSignalSpy queued(dialog, &ui::BatchRunDialog::batchQueued);
    QVERIFY(queue->isEnabled());
    QTest::mouseClick(queue, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, kTimeoutMs);
    QCOMPARE(queued.at(0).at(0).toInt(), 3);
    QCOMPARE(progress->maximum(), 3);
    QVERIFY(console.host().store().findByCustomId("req-c"));
    QCOMPARE(rejects->rowCount(), 1);
    QCOMPARE(rejects->item(0, 0)->data(Qt::DisplayRole).toULongLong(), 4ull);
    QVERIFY2(rejects->item(0, 2)->text().contains(QStringLiteral("repeats line 1")),
             qPrintable(rejects->item(0, 2)->text()));
    dialog->close();
}

QTEST_MAIN(TestBatchRunDialog)
#include "tst_batch_run_dialog.moc"
