#include "main_window.h"

#include "attach_dialog.h"
#include "batch_run_dialog.h"
#include "batch_runs.h"
#include "clients_panel.h"
#include "dashboard_panel.h"
#include "dead_letter_panel.h"
#include "fleet_panel.h"
#include "first_run_page.h"
#include "format.h"
#include "limits_panel.h"
#include "loadtest_panel.h"
#include "whatif_panel.h"
#include "open_workspace_dialog.h"
#include "queue_panel.h"
#include "report_dialog.h"
#include "shared_status_watch.h"
#include "workspace_gateway.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <QMenu>
#include <QMenuBar>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolButton>

namespace sluice::ui {

namespace {

const QString kLastWorkspace = QStringLiteral("workspace/last");
const QString kGeometry = QStringLiteral("window/geometry");
const QString kState = QStringLiteral("window/state");
const QString kTab = QStringLiteral("window/tab");
const QString kLastAttach = QStringLiteral("attach/last");

}  // namespace

MainWindow::MainWindow(KeyVault& vault, QSettings& settings, QString dataHome, QWidget* parent)
    : QMainWindow(parent), m_vault(vault), m_settings(settings), m_dataHome(std::move(dataHome))
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("Sluice"));
    m_pages = new QStackedWidget(this);
    setCentralWidget(m_pages);
    m_firstRun = new FirstRunPage(m_vault, m_dataHome, m_pages);
    m_pages->addWidget(m_firstRun);
    m_opening = new QLabel(m_pages);
    m_opening->setObjectName(QStringLiteral("opening"));
    m_opening->setAlignment(Qt::AlignCenter);
    m_pages->addWidget(m_opening);
    m_workspacePage = new QWidget(m_pages);
    auto* workspaceLayout = new QVBoxLayout(m_workspacePage);
    workspaceLayout->setContentsMargins(0, 0, 0, 0);
    workspaceLayout->setSpacing(0);
    // Shown while the queue is held: jobs queued for a provider that is
    // gone or points elsewhere wait for the operator's choice.
    m_heldBanner = new QFrame(m_workspacePage);
    m_heldBanner->setObjectName(QStringLiteral("heldBanner"));
    m_heldBanner->setFrameShape(QFrame::StyledPanel);
    m_heldBanner->setAutoFillBackground(true);
    QPalette bannerPalette = m_heldBanner->palette();
    bannerPalette.setColor(QPalette::Window, QColor(0xfd, 0xef, 0xc8));
    m_heldBanner->setPalette(bannerPalette);
    auto* bannerLayout = new QHBoxLayout(m_heldBanner);
    m_heldText = new QLabel(m_heldBanner);
    m_heldText->setObjectName(QStringLiteral("heldText"));
    m_heldText->setWordWrap(true);
    bannerLayout->addWidget(m_heldText, 1);
    const auto bannerButton = [&](const char* name, const QString& text) {
        auto* b = new QPushButton(text, m_heldBanner);
        b->setObjectName(QString::fromLatin1(name));
        bannerLayout->addWidget(b);
        return b;
    };
    QPushButton* sendHeld = bannerButton("sendHeld", tr("Send them as configured now"));
    QPushButton* keepHeld = bannerButton("keepHeld", tr("Keep them held"));
    QPushButton* discardHeld = bannerButton("discardHeld", tr("Discard them"));
    connect(sendHeld, &QPushButton::clicked, this, [this] {
        if (m_session) {
            m_session->sendHeldToCurrent();
        }
    });
    connect(keepHeld, &QPushButton::clicked, this, [this] {
        m_statusMessage->setText(tr("Queued jobs stay held; this workspace asks again the next time it opens."));
    });
    connect(discardHeld, &QPushButton::clicked, this, [this] {
        if (m_session) {
            m_session->discardHeld();
        }
    });
    m_heldBanner->hide();
    workspaceLayout->addWidget(m_heldBanner);
    m_tabs = new QTabWidget(m_workspacePage);
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_tabs->setDocumentMode(true);
    workspaceLayout->addWidget(m_tabs, 1);
    m_pages->addWidget(m_workspacePage);

    connect(m_firstRun, &FirstRunPage::demoRequested, this, [this] {
        OpenRequest r;
        r.name = QStringLiteral("demo");
        r.demo = true;
        openWorkspace(std::move(r));
    });
    connect(m_firstRun, &FirstRunPage::connectRequested, this,
            [this](const QString& name, const host::WorkspaceConfig& workspace) {
                OpenRequest r;
                r.name = name;
                r.create = workspace;
                openWorkspace(std::move(r));
            });
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        if (m_session) {
            m_settings.setValue(kTab, index);
        }
    });

    m_statusWorkspace = new QLabel(this);
    m_statusWorkspace->setObjectName(QStringLiteral("statusWorkspace"));
    m_statusMessage = new QLabel(this);
    m_statusMessage->setObjectName(QStringLiteral("statusMessage"));
    statusBar()->addWidget(m_statusWorkspace);
    statusBar()->addWidget(m_statusMessage, 1);
    // The workspace's batch runs, while there are any: a click shows the
    // newest (its dialog has Cancel and Write output now).
    m_batchStatus = new QToolButton(this);
    m_batchStatus->setObjectName(QStringLiteral("batchRunsStatus"));
    m_batchStatus->setAutoRaise(true);
    m_batchStatus->hide();
    statusBar()->addPermanentWidget(m_batchStatus);
    connect(m_batchStatus, &QToolButton::clicked, this, [this] {
        if (m_batchRuns && !m_batchRuns->runs().empty()) {
            showBatchRun(m_batchRuns->runs().back());
        }
    });
    buildMenus();

    resize(1280, 820);
    restoreGeometry(m_settings.value(kGeometry).toByteArray());
    restoreState(m_settings.value(kState).toByteArray());
}

MainWindow::~MainWindow()
{
    // Panels hold references to the session: they go first.
    while (m_tabs->count() > 0) {
        QWidget* w = m_tabs->widget(0);
        m_tabs->removeTab(0);
        delete w;
    }
    closeSession();
}

void MainWindow::buildMenus()
{
    QMenu* workspace = menuBar()->addMenu(tr("&Workspace"));
    QAction* demo = workspace->addAction(tr("Open the &demo"));
    connect(demo, &QAction::triggered, this, [this] {
        OpenRequest r;
        r.name = QStringLiteral("demo");
        r.demo = true;
        openWorkspace(std::move(r));
    });
    QAction* open = workspace->addAction(tr("&Open…"));
    open->setObjectName(QStringLiteral("openWorkspaceAction"));
    open->setShortcut(QKeySequence::Open);
    connect(open, &QAction::triggered, this, &MainWindow::showOpenDialog);
    QAction* connectProvider = workspace->addAction(tr("&New workspace…"));
    connectProvider->setObjectName(QStringLiteral("newWorkspaceAction"));
    connect(connectProvider, &QAction::triggered, this, &MainWindow::showFirstRun);
    QAction* attach = workspace->addAction(tr("&Attach to instance…"));
    attach->setObjectName(QStringLiteral("attachAction"));
    connect(attach, &QAction::triggered, this, &MainWindow::showAttachDialog);
    workspace->addSeparator();
    m_exportReport = workspace->addAction(tr("&Export usage report…"));
    m_exportReport->setObjectName(QStringLiteral("exportReport"));
    m_exportReport->setEnabled(false);
    connect(m_exportReport, &QAction::triggered, this, &MainWindow::showReportDialog);
    QAction* runBatch = workspace->addAction(tr("&Run batch file…"));
    runBatch->setObjectName(QStringLiteral("runBatchFile"));
    connect(runBatch, &QAction::triggered, this, [this] {
        if (!m_session) {
            m_statusMessage->setText(tr("Open a workspace first: a batch runs through its queue."));
            return;
        }
        if (m_session->attached()) {
            // The dialog queues into the workspace's own store; an attached
            // instance has none here (it takes batches with sluice-cli batch).
            m_statusMessage->setText(tr("Run batch file needs a workspace of its own; this window is attached to an instance."));
            return;
        }
        showBatchRun(nullptr);
    });
    // The runs queued in this workspace, with their progress; one chosen
    // opens its dialog again.
    QMenu* runs = workspace->addMenu(tr("&Batch runs"));
    runs->setObjectName(QStringLiteral("batchRunsMenu"));
    connect(runs, &QMenu::aboutToShow, this, [this, runs] {
        runs->clear();
        if (!m_batchRuns || m_batchRuns->runs().empty()) {
            runs->addAction(tr("No batch run in this workspace"))->setEnabled(false);
            return;
        }
        for (BatchRun* run : m_batchRuns->runs()) {
            QAction* a = runs->addAction(run->summary());
            a->setObjectName(QStringLiteral("batchRunAction"));
            connect(a, &QAction::triggered, this, [this, run] { showBatchRun(run); });
        }
    });
    workspace->addSeparator();
    QAction* quit = workspace->addAction(tr("&Quit"));
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);
}

std::optional<QString> MainWindow::lastWorkspace() const
{
    const QString name = m_settings.value(kLastWorkspace).toString();
    if (name.isEmpty()) {
        return std::nullopt;
    }
    try {
        const auto paths = host::workspacePaths(name.toStdString(), std::filesystem::path(m_dataHome.toStdString()));
        // A stat, not a read: cheap enough for start-up.
        if (QFileInfo::exists(QString::fromStdString(paths.settings.string()))) {
            return name;
        }
    } catch (const std::exception&) {
        return std::nullopt;
    }
    return std::nullopt;
}

void MainWindow::showOpenDialog()
{
    QStringList names;
    for (const std::string& n : host::listWorkspaces(std::filesystem::path(m_dataHome.toStdString()))) {
        names.append(QString::fromStdString(n));
    }
    auto* dialog = new OpenWorkspaceDialog(names, m_session ? m_session->name() : QString(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const QString name = dialog->chosen();
        if (name.isEmpty() || (m_session && name == m_session->name())) {
            return;
        }
        OpenRequest r;
        r.name = name;
        openWorkspace(std::move(r));
    });
    dialog->open();
}

void MainWindow::showAttachDialog()
{
    auto* dialog = new AttachDialog(m_settings.value(kLastAttach).toString(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        m_settings.setValue(kLastAttach, dialog->address());
        attachInstance(dialog->target());
    });
    dialog->open();
}

void MainWindow::attachInstance(RemoteTarget target)
{
    m_opening->setText(tr("Attaching to %1…").arg(QString::fromStdString(target.address)));
    m_pages->setCurrentWidget(m_opening);
    while (m_tabs->count() > 0) {
        QWidget* w = m_tabs->widget(0);
        m_tabs->removeTab(0);
        delete w;
    }
    closeSession();
    m_exportReport->setEnabled(false);
    m_statusMessage->clear();
    ConsoleSession::attach(std::move(target), m_vault, this,
                           [this](std::unique_ptr<ConsoleSession> session, const QString& error) {
                               sessionReady(std::move(session), error);
                           });
}

void MainWindow::closeSession()
{
    m_batchRuns.reset();
    m_session.reset();
    updateBatchStatus();
}

void MainWindow::showBatchRun(BatchRun* run)
{
    if (!m_session || !m_batchRuns) {
        return;
    }
    // Window-modal, like the report export: the workspace cannot be closed
    // under the dialog. Closing it leaves the run to the workspace.
    auto* dialog = new BatchRunDialog(*m_session, *m_batchRuns, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->showRun(run);
    dialog->open();
}

void MainWindow::updateBatchStatus()
{
    const QString text = m_batchRuns ? m_batchRuns->statusText() : QString();
    m_batchStatus->setText(text);
    m_batchStatus->setVisible(!text.isEmpty());
}

void MainWindow::showFirstRun()
{
    m_pages->setCurrentWidget(m_firstRun);
}

void MainWindow::openWorkspace(OpenRequest request)
{
    request.dataHome = m_dataHome;
    m_opening->setText(tr("Opening workspace %1…").arg(request.name));
    m_pages->setCurrentWidget(m_opening);
    // A workspace open before is closed first: one engine per window.
    while (m_tabs->count() > 0) {
        QWidget* w = m_tabs->widget(0);
        m_tabs->removeTab(0);
        delete w;
    }
    closeSession();
    m_exportReport->setEnabled(false);
    m_statusMessage->clear();
    ConsoleSession::open(std::move(request), m_vault, this,
                         [this](std::unique_ptr<ConsoleSession> session, const QString& error) {
                             sessionReady(std::move(session), error);
                         });
}

void MainWindow::sessionReady(std::unique_ptr<ConsoleSession> session, const QString& error)
{
    if (!session) {
        m_firstRun->setEnabled(true);
        m_pages->setCurrentWidget(m_firstRun);
        m_statusMessage->setText(tr("Could not open the workspace: %1").arg(error));
        Q_EMIT openFailed(error);
        return;
    }
    m_session = std::move(session);
    if (!m_session->attached()) {
        m_batchRuns = std::make_unique<BatchRuns>();
        connect(m_batchRuns.get(), &BatchRuns::changed, this, &MainWindow::updateBatchStatus);
    }
    if (!m_session->attached()) {
        m_settings.setValue(kLastWorkspace, m_session->name());
    }
    connect(m_session.get(), &ConsoleSession::message, m_statusMessage, &QLabel::setText);
    connect(m_session.get(), &ConsoleSession::problem, m_statusMessage, &QLabel::setText);
    connect(m_session.get(), &ConsoleSession::queueHoldChanged, this, &MainWindow::updateHeldBanner);
    if (!m_session->attached()) {
        // Owned by the session: it reads the session's engine.
        auto* sharedWatch = new SharedStatusWatch(*m_session, m_session.get());
        connect(sharedWatch, &SharedStatusWatch::changed, m_statusMessage, &QLabel::setText);
    }
    buildPanels();
    m_exportReport->setEnabled(true);
    updateStatus();
    updateHeldBanner();
    if (m_session->paused()) {
        m_statusMessage->setText(tr("Dispatch is paused, as it was left: nothing is sent until you resume (Queue tab)."));
    }
    m_pages->setCurrentWidget(m_workspacePage);
    m_tabs->setCurrentIndex(std::clamp(m_settings.value(kTab, 0).toInt(), 0, m_tabs->count() - 1));
    Q_EMIT sessionOpened();
}

void MainWindow::buildPanels()
{
    ConsoleSession& s = *m_session;
    m_tabs->addTab(new DashboardPanel(s, m_tabs), tr("Dashboard"));
    m_tabs->addTab(new LimitsPanel(s, m_tabs), tr("Providers, keys && limits"));
    m_tabs->addTab(new QueuePanel(s, m_tabs), tr("Queue"));
    m_tabs->addTab(new DeadLetterPanel(s, m_tabs), tr("Dead letters"));
    if (!s.attached()) {
        // Load tests rehearse a workspace's configuration, the gateway, the
        // what-if replay and the fleet belong to a workspace's own engine;
        // an attached instance has its own.
        m_tabs->addTab(new LoadTestPanel(s, m_tabs), tr("Load test"));
        // The workspace's gateway lives with the tab: it stops before the
        // session's engine does (panels go first).
        auto* clients = new ClientsPanel(std::make_unique<WorkspaceGateway>(s), m_tabs);
        connect(clients, &ClientsPanel::message, m_statusMessage, &QLabel::setText);
        m_tabs->addTab(clients, tr("Clients"));
        if (const QString error = clients->source().gatewayState().error; !error.isEmpty()) {
            m_statusMessage->setText(error);  // the gateway this workspace runs did not start
        }
        m_tabs->addTab(new WhatIfPanel(s, m_tabs), tr("What if?"));
        m_tabs->addTab(new FleetPanel(s, m_tabs), tr("Fleet"));
    }
}

void MainWindow::showReportDialog()
{
    if (!m_session) {
        return;
    }
    // Window-modal: the workspace cannot be closed under an export.
    auto* dialog = new ReportDialog(*m_session, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

void MainWindow::updateHeldBanner()
{
    const bool held = m_session && m_session->queueHeld();
    m_heldText->setText(held ? m_session->heldDescription() : QString());
    m_heldBanner->setVisible(held);
}

void MainWindow::updateStatus()
{
    if (!m_session) {
        m_statusWorkspace->clear();
        return;
    }
    QString text = (m_session->attached() ? tr("Attached: %1") : tr("Workspace: %1")).arg(m_session->name());
    const std::string mock = m_session->backend().mockUrl();
    if (!mock.empty()) {
        text += tr(" · demo: built-in mock provider at %1").arg(qs(mock));
    }
    m_statusWorkspace->setText(text);
    setWindowTitle(tr("Sluice — %1").arg(m_session->name()));
    for (const host::MissingKey& m : m_session->missingKeys()) {
        m_statusMessage->setText(tr("Key %1/%2 is disabled: %3").arg(qs(m.provider), qs(m.key), qs(m.why)));
    }
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    m_settings.setValue(kGeometry, saveGeometry());
    m_settings.setValue(kState, saveState());
    if (m_session && m_session->hasPendingEdits()) {
        // An edit made just before closing still reaches the file.
        m_session->applyPendingEdits();
    }
    QMainWindow::closeEvent(event);
}

}  // namespace sluice::ui
