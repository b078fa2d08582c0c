// A dead letter refused before it was sent (here: every key of its provider
// disabled, so no usable key) says so in the dead-letter browser: "not
// sent" in place of a key and an HTTP status, and why; its timeline ends
// with its death, after everything that led to it.
#include "console_fixture.h"
#include "dead_letter_panel.h"
#include "format.h"
#include "host/demo.h"

#include <QTableWidget>
#include <QTreeWidget>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 15'000;

int rowOf(QTableWidget* table, const QString& customId)
{
    for (int r = 0; r < table->rowCount(); ++r) {
        if (table->item(r, 1) != nullptr && table->item(r, 1)->text() == customId) {
            return r;
        }
    }
    return -1;
}

}  // namespace

class TestDeadLetterRefused : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void refusedDeadLetterSaysNotSentAndWhy();
};

void TestDeadLetterRefused::refusedDeadLetterSaysNotSentAndWhy()
{
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();
    const QString openai = QStringLiteral("openai");
    QVERIFY(console.session().setKeyEnabled(openai, QStringLiteral("team-a"), false).isEmpty());
    QVERIFY(console.session().setKeyEnabled(openai, QStringLiteral("team-b"), false).isEmpty());
    const store::JobId id = host.store().enqueue(host::demoJob("refused-1", false, 20, 16)).id;
    QTRY_VERIFY_WITH_TIMEOUT(host.store().job(id)->state == store::JobState::Dead, kTimeoutMs);

    auto* panel = console.showPanel<ui::DeadLetterPanel>(QStringLiteral("deadLetterPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("deadLetters"));
    auto* timeline = panel->findChild<QTreeWidget*>(QStringLiteral("timeline"));
    QVERIFY(table != nullptr && timeline != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(table, QStringLiteral("refused-1")) >= 0, kTimeoutMs);
    const int row = rowOf(table, QStringLiteral("refused-1"));
    const auto header = [table](int c) { return table->horizontalHeaderItem(c)->text(); };
    QCOMPARE(header(3), QStringLiteral("Key"));
    QCOMPARE(header(5), QStringLiteral("HTTP"));
    QCOMPARE(table->item(row, 3)->text(), QStringLiteral("not sent"));
    QCOMPARE(table->item(row, 5)->text(), QStringLiteral("not sent"));
    QCOMPARE(table->item(row, 4)->text(), QStringLiteral("no_usable_key"));
    QVERIFY2(table->item(row, 7)->text().startsWith(QStringLiteral("refused before sending (no_usable_key): ")),
             qPrintable(table->item(row, 7)->text()));

    clickCell(table, table->model()->index(row, 0));
    QTRY_VERIFY_WITH_TIMEOUT(timeline->topLevelItemCount() >= 2, kTimeoutMs);
    QCOMPARE(timeline->topLevelItem(0)->text(1), QStringLiteral("queued"));
    QCOMPARE(timeline->topLevelItem(timeline->topLevelItemCount() - 1)->text(1), QStringLiteral("dead_lettered"));
}

QTEST_MAIN(TestDeadLetterRefused)
#include "tst_dead_letter_refused.moc"
