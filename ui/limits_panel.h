// LimitsPanel: providers, keys and models with their limits, usage,
// headroom and state (ScopeTreeModel), refreshed from the engine while on
// screen. Limits are edited in place (double-click a cell) or in a dialog;
// providers and keys are added, disabled, enabled and removed while
// traffic flows. Says where keys are kept (keychain, or environment
// variables where no keychain service runs).
//
// Thread-safety: GUI thread only.
#pragma once

#include "live_panel.h"

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
};

}  // namespace sluice::ui
