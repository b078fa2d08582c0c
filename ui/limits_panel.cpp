#include "limits_panel.h"

#include "console_session.h"
#include "format.h"
#include "key_dialog.h"
#include "limits_dialog.h"
#include "scope_tree_model.h"

#include <QCoreApplication>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QStyledItemDelegate>
#include <QTreeView>
#include <QVBoxLayout>

namespace sluice::ui {

namespace {

constexpr const char* kEditorFilled = "sluiceEditorFilled";

// Edits a limit cell with a spin box; its lowest value means "no limit".
class LimitDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem&, const QModelIndex& index) const override
    {
        auto* spin = new QDoubleSpinBox(parent);
        spin->setObjectName(QStringLiteral("limitEditor"));
        const auto field = ScopeTreeModel::fieldOf(index.column());
        spin->setDecimals(field == host::LimitField::SpendPerDayUsd ? 2 : 0);
        spin->setRange(kNoLimit, 1e12);
        spin->setSpecialValueText(QCoreApplication::translate("sluice::ui::LimitsPanel", "no limit"));
        spin->setGroupSeparatorShown(true);
        spin->setAlignment(Qt::AlignRight);
        return spin;
    }

    void setEditorData(QWidget* editor, const QModelIndex& index) const override
    {
        // The panel refreshes the model while an editor is open, and the
        // view hands every refreshed row to the open editor: only the
        // first call, when editing starts, may set its value, or a refresh
        // wipes what the user is typing.
        if (editor->property(kEditorFilled).toBool()) {
            return;
        }
        editor->setProperty(kEditorFilled, true);
        const QVariant limit = index.data(ScopeTreeModel::LimitRole);
        static_cast<QDoubleSpinBox*>(editor)->setValue(limit.isValid() ? limit.toDouble() : kNoLimit);
    }

    void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override
    {
        auto* spin = static_cast<QDoubleSpinBox*>(editor);
        spin->interpretText();
        const QVariant before = index.data(ScopeTreeModel::LimitRole);
        const double v = spin->value();
        const QVariant after = v <= kNoLimit ? QVariant() : QVariant(v);
        // Leaving an editor without changing it is not an edit.
        if (before.isValid() == after.isValid() && (!before.isValid() || before.toDouble() == after.toDouble())) {
            return;
        }
        model->setData(index, after, Qt::EditRole);
    }
};

}  // namespace

LimitsPanel::LimitsPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(std::chrono::milliseconds(500), parent), m_session(session)
{
    setObjectName(QStringLiteral("limitsPanel"));
    auto* layout = new QVBoxLayout(this);
    auto* buttons = new QHBoxLayout;
    const auto button = [&](const QString& text, const char* name, void (LimitsPanel::*slot)()) {
        auto* b = new QPushButton(text, this);
        b->setObjectName(QString::fromLatin1(name));
        connect(b, &QPushButton::clicked, this, slot);
        buttons->addWidget(b);
        return b;
    };
    m_edit = button(tr("Edit limits…"), "editLimits", &LimitsPanel::editLimits);
    m_addProvider = button(tr("Add provider…"), "addProvider", &LimitsPanel::addProvider);
    m_addKey = button(tr("Add key…"), "addKey", &LimitsPanel::addKey);
    m_toggleKey = button(tr("Disable key"), "toggleKey", &LimitsPanel::toggleKey);
    m_remove = button(tr("Remove"), "remove", &LimitsPanel::removeSelected);
    buttons->addStretch(1);
    m_applied = new QLabel(this);
    m_applied->setObjectName(QStringLiteral("applied"));
    buttons->addWidget(m_applied);
    layout->addLayout(buttons);

    m_model = new ScopeTreeModel(session, this);
    m_view = new QTreeView(this);
    m_view->setObjectName(QStringLiteral("scopeTree"));
    m_view->setModel(m_model);
    m_view->setItemDelegate(new LimitDelegate(m_view));
    m_view->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setAlternatingRowColors(true);
    m_view->setUniformRowHeights(true);
    m_view->header()->setStretchLastSection(false);
    m_view->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    // The state can be a provider's whole error message: elided at a fixed
    // width (its tooltip has all of it), so the columns after it stay in
    // view instead of being pushed off to the right.
    m_view->header()->setSectionResizeMode(ScopeTreeModel::StateColumn, QHeaderView::Interactive);
    m_view->header()->resizeSection(ScopeTreeModel::StateColumn, 300);
    m_view->setTextElideMode(Qt::ElideRight);
    layout->addWidget(m_view, 1);

    m_keychainNote = new QLabel(this);
    m_keychainNote->setObjectName(QStringLiteral("keychainNote"));
    m_keychainNote->setWordWrap(true);
    layout->addWidget(m_keychainNote);

    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this, &LimitsPanel::updateButtons);
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, &LimitsPanel::noteOpenEditor);
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        m_view->expandAll();
        reopenEditor();
        updateButtons();
    });
    connect(&m_session, &ConsoleSession::limitsApplied, this, [this](int targets) {
        m_applied->setText(tr("Applied to the engine: %n scope(s) changed", nullptr, targets));
        refresh();
    });
    connect(&m_session, &ConsoleSession::problem, this, &LimitsPanel::report);
    connect(&m_session.vault(), &KeyVault::availabilityKnown, this, &LimitsPanel::updateKeychainNote);
    m_session.vault().probe();
    updateKeychainNote();
    updateButtons();
}

void LimitsPanel::refresh()
{
    m_model->update(m_session.backend().status());
    for (int c = 0; c < ScopeTreeModel::ColumnCount; ++c) {
        m_view->setColumnHidden(c, !m_model->columnUsed(c));
    }
    if (!m_expanded && m_model->rowCount() > 0) {
        m_view->expandAll();
        m_expanded = true;
    }
    updateButtons();
}

namespace {

// The in-place editor open now, if any (a closed one may linger hidden
// until it is deleted).
QDoubleSpinBox* openEditor(QTreeView* view)
{
    for (auto* editor : view->findChildren<QDoubleSpinBox*>(QStringLiteral("limitEditor"))) {
        if (editor->isVisible()) {
            return editor;
        }
    }
    return nullptr;
}

}  // namespace

void LimitsPanel::noteOpenEditor()
{
    m_openEdit.reset();
    QDoubleSpinBox* editor = openEditor(m_view);
    const QModelIndex current = m_view->currentIndex();
    if (editor == nullptr || !current.isValid()) {
        return;
    }
    // The view closes (hides) it on the reset without committing it.
    m_openEdit = OpenEdit{m_model->targetOf(current), current.column(), editor->value()};
}

void LimitsPanel::reopenEditor()
{
    if (!m_openEdit) {
        return;
    }
    const OpenEdit edit = *m_openEdit;
    m_openEdit.reset();
    const QModelIndex index = m_model->find(qs(edit.target.provider), qs(edit.target.key), qs(edit.target.model))
                                  .siblingAtColumn(edit.column);
    if (!index.isValid()) {
        return;  // the scope itself went away: nothing left to edit
    }
    m_view->setCurrentIndex(index);
    m_view->edit(index);
    if (QDoubleSpinBox* editor = openEditor(m_view)) {
        editor->setValue(edit.value);
        editor->setFocus();
    }
}

void LimitsPanel::updateKeychainNote()
{
    switch (m_session.vault().availability()) {
    case KeyVault::Availability::Available:
        m_keychainNote->setText(tr("API keys are kept in the system keychain or read from environment variables; "
                                   "never in Sluice's settings or workspace files."));
        break;
    case KeyVault::Availability::Unavailable:
        m_keychainNote->setText(tr("%1 New keys must come from environment variables: set the variable before "
                                   "starting Sluice and name it when adding the key.")
                                    .arg(m_session.vault().unavailableReason()));
        break;
    case KeyVault::Availability::Unknown: m_keychainNote->setText(tr("Looking for a keychain service…")); break;
    }
}

void LimitsPanel::updateButtons()
{
    const QModelIndex current = m_view->currentIndex();
    const auto kind = m_model->kindOf(current);
    const bool valid = current.isValid();
    m_edit->setEnabled(valid);
    m_addKey->setEnabled(valid && kind != ScopeTreeModel::Kind::Global);
    const bool isKey = valid && kind == ScopeTreeModel::Kind::Key;
    m_toggleKey->setEnabled(isKey);
    if (isKey) {
        const QString state = m_model->index(current.row(), ScopeTreeModel::StateColumn, current.parent()).data().toString();
        m_toggleKey->setText(state.startsWith(tr("disabled")) || state.startsWith(tr("no value")) ? tr("Enable key")
                                                                                                 : tr("Disable key"));
    }
    m_remove->setEnabled(valid && (kind == ScopeTreeModel::Kind::Key || kind == ScopeTreeModel::Kind::Provider));
    m_remove->setText(kind == ScopeTreeModel::Kind::Provider ? tr("Remove provider") : tr("Remove key"));
    if (m_session.attached()) {
        // An attached instance's providers and keys come from its own
        // configuration file and environment: the buttons say so.
        const QString why = tr("An attached instance's providers and keys come from its configuration file and "
                               "environment: change them there and restart it. Limits and enabling keys work here.");
        for (QPushButton* b : {m_addProvider, m_addKey, m_remove}) {
            b->setEnabled(false);
            b->setToolTip(why);
        }
    }
}

void LimitsPanel::report(const QString& error)
{
    if (!error.isEmpty()) {
        m_applied->setText(error);
    }
}

void LimitsPanel::editLimits()
{
    const QModelIndex current = m_view->currentIndex();
    if (!current.isValid()) {
        return;
    }
    auto* dialog = new LimitsDialog(m_session, m_model->targetOf(current), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

void LimitsPanel::addProvider()
{
    auto* dialog = new KeyDialog(m_session, KeyDialog::Mode::NewProvider, {}, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, &LimitsPanel::refresh);
    dialog->open();
}

void LimitsPanel::addKey()
{
    const QModelIndex current = m_view->currentIndex();
    const QString provider = qs(m_model->targetOf(current).provider);
    if (provider.isEmpty()) {
        return;
    }
    auto* dialog = new KeyDialog(m_session, KeyDialog::Mode::NewKey, provider, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, &LimitsPanel::refresh);
    dialog->open();
}

void LimitsPanel::toggleKey()
{
    const QModelIndex current = m_view->currentIndex();
    if (m_model->kindOf(current) != ScopeTreeModel::Kind::Key) {
        return;
    }
    const LimitTarget t = m_model->targetOf(current);
    const bool enable = m_toggleKey->text() == tr("Enable key");
    report(m_session.setKeyEnabled(qs(t.provider), qs(t.key), enable));
    refresh();
}

void LimitsPanel::removeSelected()
{
    const QModelIndex current = m_view->currentIndex();
    const auto kind = m_model->kindOf(current);
    const LimitTarget t = m_model->targetOf(current);
    if (kind != ScopeTreeModel::Kind::Key && kind != ScopeTreeModel::Kind::Provider) {
        return;
    }
    const QString what = kind == ScopeTreeModel::Kind::Key ? tr("key %1/%2").arg(qs(t.provider), qs(t.key))
                                                           : tr("provider %1").arg(qs(t.provider));
    auto* box = new QMessageBox(QMessageBox::Question, tr("Remove %1?").arg(what),
                                kind == ScopeTreeModel::Kind::Key
                                    ? tr("Requests in flight on it finish; nothing new is sent on it.")
                                    : tr("Its queued requests become dead letters; requests in flight finish."),
                                QMessageBox::Yes | QMessageBox::Cancel, this);
    box->setObjectName(QStringLiteral("confirmRemove"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    connect(box, &QMessageBox::buttonClicked, this, [this, box, kind, t](QAbstractButton* button) {
        if (box->standardButton(button) != QMessageBox::Yes) {
            return;
        }
        report(kind == ScopeTreeModel::Kind::Key ? m_session.removeKey(qs(t.provider), qs(t.key))
                                                 : m_session.removeProvider(qs(t.provider)));
        refresh();
    });
    box->open();
}

}  // namespace sluice::ui
