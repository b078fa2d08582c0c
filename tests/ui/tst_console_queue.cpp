// The queue and dead-letter panels of a running console, driven by their
// buttons: pausing stops dispatch (work keeps arriving, nothing reaches the
// provider) and resuming starts it again; a job the provider refused lands
// in the dead-letter browser, and once the provider is fixed, selecting it
// and pressing Requeue gets it done.
#include "console_fixture.h"
#include "dead_letter_panel.h"
#include "format.h"
#include "queue_panel.h"

#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 15'000;

std::int64_t mockRequests(const std::string& url)
{
    return mockStats(url).value("requests", std::int64_t{-1});
}

// The job's state by name ("pending", "dead", ...), "none" when unknown.
QString jobState(host::EngineHost& host, store::JobId id)
{
    const auto job = host.store().job(id);
    return job ? ui::qs(store::jobStateName(job->state)) : QStringLiteral("none");
}

}  // namespace

class TestConsoleQueue : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void pauseStopsDispatch();
    void requeueDeadLetter();
    void closeRightAfterOpening();
};

void TestConsoleQueue::pauseStopsDispatch()
{
    Console console;
    const QString error = console.openSteady(20);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();
    const std::string mock = host.mockUrl();

    auto* panel = console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel"));
    QVERIFY(panel != nullptr);
    auto* pause = panel->findChild<QPushButton*>(QStringLiteral("pause"));
    auto* resume = panel->findChild<QPushButton*>(QStringLiteral("resume"));
    auto* state = panel->findChild<QLabel*>(QStringLiteral("dispatchState"));
    auto* sentLabel = panel->findChild<QLabel*>(QStringLiteral("attemptCount"));
    QVERIFY(pause != nullptr && resume != nullptr && state != nullptr && sentLabel != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts >= 10, kTimeoutMs);
    // Both buttons are enabled until the panel's first refresh.
    QTRY_VERIFY(pause->isEnabled() && !resume->isEnabled());

    QTest::mouseClick(pause, Qt::LeftButton);
    // What was in flight finishes; from then on nothing may go out.
    QTRY_VERIFY_WITH_TIMEOUT(pausedAndIdle(host), kTimeoutMs);
    const std::uint64_t sent = host.status().dispatch.attempts;
    const std::int64_t seenByMock = mockRequests(mock);
    QVERIFY(seenByMock >= 10);
    const std::uint64_t queued = host.status().workloadQueued;
    // Work keeps arriving for a good while (20 jobs a second), while the
    // panel refreshes several times...
    QTRY_VERIFY_WITH_TIMEOUT(host.status().workloadQueued >= queued + 40, kTimeoutMs);
    // ... and none of it is sent.
    QCOMPARE(host.status().dispatch.attempts, sent);
    QCOMPARE(mockRequests(mock), seenByMock);
    QTRY_COMPARE(sentLabel->text(), ui::formatCount(static_cast<std::int64_t>(sent)));
    QVERIFY2(state->text().startsWith(QStringLiteral("Paused")), qPrintable(state->text()));
    QVERIFY(!pause->isEnabled());
    QVERIFY(resume->isEnabled());

    QTest::mouseClick(resume, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts > sent, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(mockRequests(mock) > seenByMock, kTimeoutMs);
    QTRY_VERIFY(!state->text().startsWith(QStringLiteral("Paused")));
    QVERIFY(pause->isEnabled());
}

void TestConsoleQueue::requeueDeadLetter()
{
    Console console;
    const QString error = console.openSteady(5);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();

    // A request the provider refuses: more output than the model allows
    // (the mock answers 400, which is not retried).
    const std::int64_t modelMax = fastMock().models.at("gpt-4o-mini").maxOutputTokens;
    const store::JobId id =
        host.store().enqueue(host::demoJob("too-long-1", false, 20, static_cast<int>(modelMax * 2))).id;
    QVERIFY(id != 0);
    QTRY_COMPARE_WITH_TIMEOUT(jobState(host, id), ui::qs(store::jobStateName(store::JobState::Dead)), kTimeoutMs);
    const std::vector<store::Attempt> attempts = host.store().attempts(id);
    QVERIFY(!attempts.empty());
    QCOMPARE(attempts.back().httpStatus, 400);

    auto* panel = console.showPanel<ui::DeadLetterPanel>(QStringLiteral("deadLetterPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("deadLetters"));
    auto* requeue = panel->findChild<QPushButton*>(QStringLiteral("requeue"));
    auto* status = panel->findChild<QLabel*>(QStringLiteral("deadStatus"));
    QVERIFY(table != nullptr && requeue != nullptr && status != nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 1, kTimeoutMs);
    QCOMPARE(table->item(0, 0)->text(), QString::number(id));
    QCOMPARE(table->item(0, 1)->text(), QStringLiteral("too-long-1"));
    QVERIFY(!requeue->isEnabled());

    // The provider is fixed (its model now allows that much output).
    QVERIFY(patchMock(host.mockUrl(), "{\"models\":{\"gpt-4o-mini\":{\"maxOutputTokens\":" +
                                          std::to_string(modelMax * 4) + "}}}"));

    clickCell(table, table->model()->index(0, 0));
    QTRY_VERIFY(requeue->isEnabled());
    QTest::mouseClick(requeue, Qt::LeftButton);

    QTRY_COMPARE_WITH_TIMEOUT(jobState(host, id), ui::qs(store::jobStateName(store::JobState::Done)), kTimeoutMs);
    const auto result = host.store().result(id);
    QVERIFY(result.has_value());
    QCOMPARE(result->statusCode, 200);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().contains(QStringLiteral("requeued")), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 0, kTimeoutMs);
}

// A console closed the moment its workspace opened (the engine starting, the
// panels' first refreshes and store reads still on their way) shuts down
// cleanly, again and again.
void TestConsoleQueue::closeRightAfterOpening()
{
    for (int i = 0; i < 5; ++i) {
        Console console;
        const QString error = console.openSteady(20);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel")) != nullptr);
    }
}

QTEST_MAIN(TestConsoleQueue)
#include "tst_console_queue.moc"
