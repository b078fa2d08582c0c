// The limits panel of a running console, driven as a user drives it: a
// limit edited in place (double-click, type, Enter) or in the limits dialog
// reaches the running engine and the workspace file, changes only what was
// edited and resets no counter; a key added through the key dialog (its
// value from an environment variable) carries traffic, and once disabled
// from the panel carries none.
#include "console_fixture.h"
#include "key_dialog.h"
#include "limits_dialog.h"
#include "limits_panel.h"
#include "scope_tree_model.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QTreeView>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 15'000;

const LimitTarget kTeamA{"openai", "team-a", "gpt-4o-mini"};
const LimitTarget kTeamB{"openai", "team-b", "gpt-4o-mini"};

// The key's entry in the workspace file (saved asynchronously, so maybe
// not yet there), or an empty object.
json keyInFile(const std::filesystem::path& file, const std::string& key)
{
    const json doc = json::parse(readFile(file), nullptr, false);
    const json::json_pointer providers("/config/providers");
    if (!doc.is_object() || !doc.contains(providers) || !doc.at(providers).is_array()) {
        return json::object();
    }
    for (const json& p : doc.at(providers)) {
        if (!p.is_object() || !p.contains("keys") || !p.at("keys").is_array()) {
            continue;
        }
        for (const json& k : p.at("keys")) {
            if (k.is_object() && k.value("name", "") == key) {
                return k;
            }
        }
    }
    return json::object();
}

// A whole number in the key's entry, or -1 when there is none.
std::int64_t numberInFile(const std::filesystem::path& file, const std::string& key, const std::string& pointer)
{
    const json k = keyInFile(file, key);
    const json::json_pointer p(pointer);
    if (!k.contains(p) || !k.at(p).is_number_integer()) {
        return -1;
    }
    return k.at(p).get<std::int64_t>();
}

std::int64_t limitOf(const host::EngineHost& host, const LimitTarget& target, host::LimitField field)
{
    const auto d = dimension(host, target, field);
    return d ? d->spec.limit : -1;
}

}  // namespace

class TestConsoleLimits : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void editLimit_data();
    void editLimit();
    void addAndDisableKey();
};

void TestConsoleLimits::editLimit_data()
{
    QTest::addColumn<bool>("inDialog");
    QTest::newRow("in place") << false;
    QTest::newRow("in the dialog") << true;
}

void TestConsoleLimits::editLimit()
{
    QFETCH(bool, inDialog);
    Console console;
    const QString error = console.openSteady(20);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();

    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(panel != nullptr);
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    QVERIFY(view != nullptr);
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(model->find(QStringLiteral("openai"), QStringLiteral("team-a"), QStringLiteral("gpt-4o-mini")).isValid() &&
                                 model->find(QStringLiteral("openai"), QStringLiteral("team-b"), QStringLiteral("gpt-4o-mini")).isValid(),
                             kTimeoutMs);

    // Counters worth keeping: traffic has gone through team-a. Pausing
    // freezes them, so "not reset" is an exact comparison.
    QTRY_VERIFY_WITH_TIMEOUT(dimension(host, kTeamA, host::LimitField::Rpd).value_or(DimensionState{}).used >= 5,
                             kTimeoutMs);
    console.session().pause();
    QTRY_VERIFY_WITH_TIMEOUT(pausedAndIdle(host), kTimeoutMs);
    const std::int64_t rpdUsed = dimension(host, kTeamA, host::LimitField::Rpd)->used;
    const DispatcherStats before = host.status().dispatch;
    const std::uint64_t teamASent = keySent(host, "openai", "team-a");
    QCOMPARE(limitOf(host, kTeamA, host::LimitField::Rpm), kModelRpm);

    const QModelIndex cell = model->find(QStringLiteral("openai"), QStringLiteral("team-a"), QStringLiteral("gpt-4o-mini"))
                                 .siblingAtColumn(ui::ScopeTreeModel::RpmColumn);
    QVERIFY(cell.isValid());
    QSignalSpy refreshed(model, &QAbstractItemModel::dataChanged);
    if (inDialog) {
        clickCell(view, cell.siblingAtColumn(ui::ScopeTreeModel::NameColumn));
        auto* editButton = panel->findChild<QPushButton*>(QStringLiteral("editLimits"));
        QVERIFY(editButton != nullptr && editButton->isEnabled());
        QTest::mouseClick(editButton, Qt::LeftButton);
        QPointer<ui::LimitsDialog> dialog = panel->findChild<ui::LimitsDialog*>(QStringLiteral("limitsDialog"));
        QVERIFY(dialog != nullptr);
        QTRY_VERIFY(dialog->isVisible());
        auto* rpm = dialog->findChild<QDoubleSpinBox*>(QStringLiteral("rpm"));
        QVERIFY(rpm != nullptr);
        QCOMPARE(rpm->value(), static_cast<double>(kModelRpm));
        QTest::keyClick(rpm, Qt::Key_A, Qt::ControlModifier);
        QTest::keyClicks(rpm, QStringLiteral("240"));
        // The panel refreshes behind the dialog before the user clicks OK.
        refreshed.clear();
        QVERIFY(refreshed.wait(kTimeoutMs));
        auto* buttons = dialog->findChild<QDialogButtonBox*>();
        QVERIFY(buttons != nullptr);
        QTest::mouseClick(buttons->button(QDialogButtonBox::Ok), Qt::LeftButton);
        QTRY_VERIFY(dialog.isNull() || !dialog->isVisible());
    } else {
        doubleClickCell(view, cell);
        auto* editor = view->findChild<QDoubleSpinBox*>(QStringLiteral("limitEditor"));
        QVERIFY2(editor != nullptr, "double-clicking a limit cell opens no editor");
        QCOMPARE(editor->value(), static_cast<double>(kModelRpm));
        QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
        QTest::keyClicks(editor, QStringLiteral("240"));
        // A user types slower than the panel refreshes: what was typed
        // must survive a refresh.
        refreshed.clear();
        QVERIFY(refreshed.wait(kTimeoutMs));
        QCOMPARE(editor->value(), 240.0);
        QTest::keyClick(editor, Qt::Key_Return);
    }

    // The running engine enforces the new limit (the edit is applied after
    // a short gathering delay, well within the timeout).
    QTRY_COMPARE_WITH_TIMEOUT(limitOf(host, kTeamA, host::LimitField::Rpm), std::int64_t{240}, kTimeoutMs);
    QCOMPARE(host.config()->provider("openai")->keys.front().modelLimits.count("gpt-4o-mini"), std::size_t{1});
    // Nothing else changed and nothing was reset.
    const auto rpd = dimension(host, kTeamA, host::LimitField::Rpd);
    QVERIFY(rpd.has_value());
    QCOMPARE(rpd->spec.limit, kModelRpd);
    QCOMPARE(rpd->used, rpdUsed);
    QCOMPARE(limitOf(host, kTeamB, host::LimitField::Rpm), kModelRpm);
    const DispatcherStats after = host.status().dispatch;
    QCOMPARE(after.attempts, before.attempts);
    QCOMPARE(after.completed, before.completed);
    QCOMPARE(keySent(host, "openai", "team-a"), teamASent);
    auto* applied = panel->findChild<QLabel*>(QStringLiteral("applied"));
    QVERIFY(applied != nullptr);
    QVERIFY2(applied->text().startsWith(QStringLiteral("Applied")), qPrintable(applied->text()));

    // The workspace file says the same, so the next start has it.
    const std::string limits = "/models/gpt-4o-mini/limits";
    QTRY_COMPARE_WITH_TIMEOUT(numberInFile(console.workspaceFile(), "team-a", limits + "/rpm"), std::int64_t{240},
                              kTimeoutMs);
    QCOMPARE(numberInFile(console.workspaceFile(), "team-a", limits + "/rpd"), kModelRpd);

    // And dispatch goes on under it.
    console.session().resume();
    QTRY_VERIFY_WITH_TIMEOUT(keySent(host, "openai", "team-a") > teamASent, kTimeoutMs);
}

void TestConsoleLimits::addAndDisableKey()
{
    // The key's value reaches Sluice the way it does where no keychain runs.
    const char* variable = "SLUICE_TEST_ADDED_KEY";
    qputenv(variable, "sk-test-added");
    Console console;
    const QString error = console.openSteady(30);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();

    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(panel != nullptr);
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(model->find(QStringLiteral("openai")).isValid(), kTimeoutMs);

    // Add: select the provider, "Add key…", name it, point it at the variable.
    clickCell(view, model->find(QStringLiteral("openai")));
    auto* addKey = panel->findChild<QPushButton*>(QStringLiteral("addKey"));
    QVERIFY(addKey != nullptr);
    QVERIFY(addKey->isEnabled());
    QTest::mouseClick(addKey, Qt::LeftButton);
    QPointer<ui::KeyDialog> dialog = panel->findChild<ui::KeyDialog*>(QStringLiteral("keyDialog"));
    QVERIFY(dialog != nullptr);
    QTRY_VERIFY(dialog->isVisible());
    QCOMPARE(dialog->findChild<QLineEdit*>(QStringLiteral("providerName"))->text(), QStringLiteral("openai"));
    QTest::keyClicks(dialog->findChild<QLineEdit*>(QStringLiteral("keyName")), QStringLiteral("added"));
    // No keychain service runs here: the dialog says so and offers only the
    // environment variable.
    QTRY_VERIFY(console.session().vault().availability() != ui::KeyVault::Availability::Unknown);
    QCOMPARE(console.session().vault().availability(), ui::KeyVault::Availability::Unavailable);
    auto* useKeychain = dialog->findChild<QRadioButton*>(QStringLiteral("useKeychain"));
    auto* useEnv = dialog->findChild<QRadioButton*>(QStringLiteral("useEnv"));
    auto* note = dialog->findChild<QLabel*>(QStringLiteral("keychainNote"));
    QVERIFY(useKeychain != nullptr && useEnv != nullptr && note != nullptr);
    QVERIFY(!useKeychain->isEnabled());
    QVERIFY(note->text().contains(console.session().vault().unavailableReason()));
    QTest::mouseClick(useEnv, Qt::LeftButton);
    QVERIFY(useEnv->isChecked());
    auto* envVar = dialog->findChild<QLineEdit*>(QStringLiteral("envVar"));
    QVERIFY(envVar->isEnabled());
    QTest::keyClicks(envVar, QString::fromLatin1(variable));
    QTest::mouseClick(dialog->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok), Qt::LeftButton);
    QTRY_VERIFY2(dialog.isNull() || !dialog->isVisible(),
                 qPrintable(dialog.isNull() ? QString() : dialog->findChild<QLabel*>(QStringLiteral("error"))->text()));

    // The engine has it and sends on it.
    QTRY_VERIFY_WITH_TIMEOUT(keyStatus(host.status(), "openai", "added").has_value(), kTimeoutMs);
    QCOMPARE(keyStatus(host.status(), "openai", "added")->state, KeyStatus::State::Ok);
    QTRY_VERIFY_WITH_TIMEOUT(keySent(host, "openai", "added") > 0, kTimeoutMs);
    // The file names the variable and never holds the value.
    QTRY_COMPARE_WITH_TIMEOUT(keyInFile(console.workspaceFile(), "added").value("env", ""), std::string(variable),
                              kTimeoutMs);
    QVERIFY(readFile(console.workspaceFile()).find("sk-test-added") == std::string::npos);

    // Disable it from the panel.
    QTRY_VERIFY_WITH_TIMEOUT(model->find(QStringLiteral("openai"), QStringLiteral("added")).isValid(), kTimeoutMs);
    clickCell(view, model->find(QStringLiteral("openai"), QStringLiteral("added")));
    auto* toggle = panel->findChild<QPushButton*>(QStringLiteral("toggleKey"));
    QVERIFY(toggle != nullptr);
    QVERIFY(toggle->isEnabled());
    QCOMPARE(toggle->text(), QStringLiteral("Disable key"));
    QTest::mouseClick(toggle, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(keyStatus(host.status(), "openai", "added")->state == KeyStatus::State::Disabled,
                             kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(keyInFlight(host, "openai", "added"), std::int64_t{0}, kTimeoutMs);

    // Traffic goes on, none of it on the disabled key.
    const std::uint64_t addedSent = keySent(host, "openai", "added");
    const std::uint64_t allSent = host.status().dispatch.attempts;
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts >= allSent + 40, kTimeoutMs);
    QCOMPARE(keySent(host, "openai", "added"), addedSent);
    QCOMPARE(keyStatus(host.status(), "openai", "added")->state, KeyStatus::State::Disabled);
    QTRY_COMPARE_WITH_TIMEOUT(toggle->text(), QStringLiteral("Enable key"), kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(keyInFile(console.workspaceFile(), "added").value("enabled", true) == false, kTimeoutMs);
}

QTEST_MAIN(TestConsoleLimits)
#include "tst_console_limits.moc"
