// MainWindow: the console's frame. It shows the first-run page, or
// "opening…", or the open workspace's panels in tabs (dashboard, limits
// and keys, queue, dead letters, load test), with the workspace's name and
// state in the status bar. It owns the ConsoleSession and opens workspaces
// (asynchronously) when asked. Window geometry and the last tab go to
// QSettings; the last workspace's name too, so `sluice` reopens it.
//
// Thread-safety: GUI thread only.
#pragma once

#include "console_session.h"

#include <QMainWindow>

#include <memory>

class QAction;
class QFrame;
class QLabel;
class QSettings;
class QStackedWidget;
class QTabWidget;
class QToolButton;

namespace sluice::ui {

class BatchRun;
class BatchRuns;
class FirstRunPage;
class KeyVault;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    // `dataHome`: where workspaces live (QStandardPaths' generic data
    // location; files go in its "sluice" directory).
    MainWindow(KeyVault& vault, QSettings& settings, QString dataHome, QWidget* parent = nullptr);
    ~MainWindow() override;

    void showFirstRun();
    void openWorkspace(OpenRequest request);
    // Workspace → Open…: lists the workspaces and opens the one chosen.
    void showOpenDialog();
    // Attaches to a headless instance's control endpoint instead of a
    // workspace (Workspace → Attach to instance…).
    void attachInstance(RemoteTarget target);
    void showAttachDialog();
    // The last workspace opened, if its settings file is still there.
    std::optional<QString> lastWorkspace() const;

    ConsoleSession* session() const { return m_session.get(); }
    QTabWidget* tabs() const { return m_tabs; }
    // The open workspace's batch runs (null when none is open, or attached).
    BatchRuns* batchRuns() const { return m_batchRuns.get(); }

Q_SIGNALS:
    void sessionOpened();
    void openFailed(const QString& error);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void sessionReady(std::unique_ptr<ConsoleSession> session, const QString& error);
    void buildPanels();
    void buildMenus();
    void showReportDialog();
    void updateStatus();
    void updateHeldBanner();
    // Workspace → Run batch file…, or one run queued before.
    void showBatchRun(BatchRun* run);
    void updateBatchStatus();
    // Ends the batch runs, then the session (the runs use its engine).
    void closeSession();

    KeyVault& m_vault;
    QSettings& m_settings;
    QString m_dataHome;
    std::unique_ptr<ConsoleSession> m_session;
    std::unique_ptr<BatchRuns> m_batchRuns;  // reset before m_session
    QToolButton* m_batchStatus = nullptr;
    QStackedWidget* m_pages = nullptr;
    FirstRunPage* m_firstRun = nullptr;
    QLabel* m_opening = nullptr;
    QWidget* m_workspacePage = nullptr;  // the held-queue banner over the tabs
    QFrame* m_heldBanner = nullptr;
    QLabel* m_heldText = nullptr;
    QTabWidget* m_tabs = nullptr;
    QLabel* m_statusWorkspace = nullptr;
    QLabel* m_statusMessage = nullptr;
    QAction* m_exportReport = nullptr;
};

}  // namespace sluice::ui
