// LimitsPanel: providers, keys and models with their limits, usage,
// headroom and state (ScopeTreeModel), refreshed from the engine while on
// screen. Limits are edited in place (double-click a cell) or in a dialog;
// providers and keys are added, disabled, enabled and removed while
// traffic flows. Says where keys are kept (keychain, or environment
// variables where no keychain service runs).
//
// Thread-safety: GUI thread only.
#pragma once

#include "dispatch/dispatch_types.h"
#include "live_panel.h"

#include <optional>

class QLabel;
class QPushButton;
class QTreeView;

namespace sluice::ui {

class ConsoleSession;
class ScopeTreeModel;

class LimitsPanel : public LivePanel {
    Q_OBJECT

public:
    explicit LimitsPanel(ConsoleSession& session, QWidget* parent = nullptr);

    QTreeView* view() const { return m_view; }
    ScopeTreeModel* model() const { return m_model; }

public Q_SLOTS:
    void refresh() override;
    void editLimits();
    void addProvider();
    void addKey();
    void toggleKey();
    void removeSelected();

private:
    void updateButtons();
    void updateKeychainNote();
    void report(const QString& error);
    // A change of the tree's shape (a key or provider added) resets the
    // model, which closes an editor open in place: the edit is noted before
    // and the editor reopened on the same scope and column after, with what
    // the user had typed.
    void noteOpenEditor();
    void reopenEditor();

    ConsoleSession& m_session;
    ScopeTreeModel* m_model = nullptr;
    QTreeView* m_view = nullptr;
    QPushButton* m_edit = nullptr;
    QPushButton* m_addProvider = nullptr;
    QPushButton* m_addKey = nullptr;
    QPushButton* m_toggleKey = nullptr;
    QPushButton* m_remove = nullptr;
    QLabel* m_keychainNote = nullptr;
    QLabel* m_applied = nullptr;
    bool m_expanded = false;
    struct OpenEdit {
        LimitTarget target;
        int column = 0;
        double value = 0;
    };
    std::optional<OpenEdit> m_openEdit;
};

}  // namespace sluice::ui
