// The limits editors stay open through a change of the scope tree's shape:
// a key or a provider added while the user edits a limit (in the Edit
// limits dialog, or in place in the tree) must not close the editor nor
// lose what was typed, and OK applies it.
#include "console_fixture.h"
#include "format.h"
#include "limits_dialog.h"
#include "limits_panel.h"
#include "scope_tree_model.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QPointer>
#include <QPushButton>
#include <QTreeView>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 15'000;
const LimitTarget kTeamA{"openai", "team-a", "gpt-4o-mini"};

std::int64_t rpmOf(const host::EngineHost& host, const LimitTarget& target)
{
    const auto d = dimension(host, target, host::LimitField::Rpm);
    return d ? d->spec.limit : -1;
}

}  // namespace

class TestLimitsEditorStays : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        enableTestMode();
        qputenv("SLUICE_TEST_ADDED_KEY", "sk-test-added");
    }
    void editorSurvivesNewScopes_data();
    void editorSurvivesNewScopes();
};

void TestLimitsEditorStays::editorSurvivesNewScopes_data()
{
    QTest::addColumn<bool>("inDialog");
    QTest::addColumn<bool>("addProvider");
    QTest::newRow("dialog, key added") << true << false;
    QTest::newRow("dialog, provider added") << true << true;
    QTest::newRow("in place, key added") << false << false;
    QTest::newRow("in place, provider added") << false << true;
}

void TestLimitsEditorStays::editorSurvivesNewScopes()
{
    QFETCH(bool, inDialog);
    QFETCH(bool, addProvider);
    Console console;
    const QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();
    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(panel != nullptr);
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    const QString openai = QStringLiteral("openai");
    const QString teamA = QStringLiteral("team-a");
    const QString mini = QStringLiteral("gpt-4o-mini");
    QTRY_VERIFY_WITH_TIMEOUT(model->find(openai, teamA, mini).isValid(), kTimeoutMs);
    const QModelIndex cell = model->find(openai, teamA, mini).siblingAtColumn(ui::ScopeTreeModel::RpmColumn);

    QPointer<ui::LimitsDialog> dialog;
    QPointer<QDoubleSpinBox> editor;
    if (inDialog) {
        clickCell(view, cell.siblingAtColumn(ui::ScopeTreeModel::NameColumn));
        QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("editLimits")), Qt::LeftButton);
        dialog = panel->findChild<ui::LimitsDialog*>(QStringLiteral("limitsDialog"));
        QVERIFY(dialog != nullptr);
        QTRY_VERIFY(dialog->isVisible());
        editor = dialog->findChild<QDoubleSpinBox*>(QStringLiteral("rpm"));
    } else {
        doubleClickCell(view, cell);
        editor = view->findChild<QDoubleSpinBox*>(QStringLiteral("limitEditor"));
    }
    QVERIFY(editor != nullptr);
    QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(editor, QStringLiteral("240"));

    // Meanwhile the workspace gains a key or a provider (another window, an
    // attached instance): the tree changes shape under the editor.
    ui::ConsoleSession::ResolvedKey key{"added", "SLUICE_TEST_ADDED_KEY", Secret("sk-test-added")};
    const QString problem = addProvider ? console.session().addProvider(QStringLiteral("second"), ApiFlavor::OpenAI,
                                                                        ui::qs(host.mockUrl()), key)
                                        : console.session().addKey(openai, key);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QTRY_VERIFY_WITH_TIMEOUT(addProvider ? model->find(QStringLiteral("second")).isValid()
                                         : model->find(openai, QStringLiteral("added")).isValid(),
                             kTimeoutMs);
    // A few more refreshes, as the panel keeps pulling.
    QSignalSpy refreshed(model, &QAbstractItemModel::dataChanged);
    QVERIFY(refreshed.wait(kTimeoutMs));

    if (!inDialog) {
        // The tree's editor open now on that cell, whichever widget it is.
        editor = nullptr;
        for (auto* e : view->findChildren<QDoubleSpinBox*>(QStringLiteral("limitEditor"))) {
            if (e->isVisible()) {
                editor = e;
            }
        }
        const QModelIndex now = model->find(openai, teamA, mini).siblingAtColumn(ui::ScopeTreeModel::RpmColumn);
        QCOMPARE(view->currentIndex(), now);
    }
    QVERIFY2(!editor.isNull() && editor->isVisible(), "the editor closed when the tree changed");
    QCOMPARE(editor->value(), 240.0);
    if (inDialog) {
        QVERIFY(!dialog.isNull() && dialog->isVisible());
        QTest::mouseClick(dialog->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok), Qt::LeftButton);
    } else {
        QTest::keyClick(editor, Qt::Key_Return);
    }
    QTRY_COMPARE_WITH_TIMEOUT(rpmOf(host, kTeamA), std::int64_t{240}, kTimeoutMs);
}

QTEST_MAIN(TestLimitsEditorStays)
#include "tst_limits_editor_stays.moc"
