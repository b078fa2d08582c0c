#include "queue_panel.h"

#include "console_session.h"
#include "format.h"

#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace sluice::ui {

QueuePanel::QueuePanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(std::chrono::milliseconds(500), parent), m_session(session)
{
    setObjectName(QStringLiteral("queuePanel"));
    auto* layout = new QVBoxLayout(this);

    auto* controls = new QHBoxLayout;
    m_state = new QLabel(this);
    m_state->setObjectName(QStringLiteral("dispatchState"));
    QFont sf = m_state->font();
    sf.setBold(true);
    sf.setPointSizeF(sf.pointSizeF() + 1);
    m_state->setFont(sf);
    controls->addWidget(m_state, 1);
    m_pause = new QPushButton(tr("Pause"), this);
    m_pause->setObjectName(QStringLiteral("pause"));
    m_pause->setToolTip(tr("Send nothing new; requests in flight finish."));
    m_resume = new QPushButton(tr("Resume"), this);
    m_resume->setObjectName(QStringLiteral("resume"));
    m_drain = new QPushButton(tr("Drain"), this);
    m_drain->setObjectName(QStringLiteral("drain"));
    m_drain->setToolTip(tr("Take in no new work; run until the queue is empty."));
    m_intake = new QPushButton(tr("Open intake"), this);
    m_intake->setObjectName(QStringLiteral("openIntake"));
    m_intake->setToolTip(tr("Let the demo workload queue requests again."));
    for (QPushButton* b : {m_pause, m_resume, m_drain, m_intake}) {
        controls->addWidget(b);
    }
    layout->addLayout(controls);
    connect(m_pause, &QPushButton::clicked, this, [this] {
        m_session.pause();
        refresh();
    });
    connect(m_resume, &QPushButton::clicked, this, [this] {
        m_session.resume();
        refresh();
    });
    connect(m_drain, &QPushButton::clicked, this, [this] {
        m_session.drain();
        refresh();
    });
    connect(m_intake, &QPushButton::clicked, this, [this] {
        m_session.reopenIntake();
        refresh();
    });

    auto* figures = new QGroupBox(tr("Jobs"), this);
    m_grid = new QGridLayout(figures);
    figure(tr("waiting in the store"), "pendingCount", 0, 0);
    figure(tr("leased to the dispatcher"), "leasedCount", 0, 1);
    figure(tr("done"), "doneCount", 0, 2);
    figure(tr("dead letters"), "deadCount", 0, 3);
    figure(tr("queued for admission"), "queuedCount", 2, 0);
    figure(tr("in flight"), "inFlightCount", 2, 1);
    figure(tr("retries"), "retryCount", 2, 2);
    figure(tr("requests sent"), "attemptCount", 2, 3);
    layout->addWidget(figures);

    auto* lanesBox = new QGroupBox(tr("Lanes: what each provider and model waits for"), this);
    auto* lanesLayout = new QVBoxLayout(lanesBox);
    m_lanes = new QTableWidget(0, 4, lanesBox);
    m_lanes->setObjectName(QStringLiteral("lanes"));
    m_lanes->setHorizontalHeaderLabels({tr("Provider"), tr("Model"), tr("Queued"), tr("Waiting for")});
    m_lanes->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_lanes->horizontalHeader()->setStretchLastSection(true);
    m_lanes->verticalHeader()->hide();
    m_lanes->setEditTriggers(QAbstractItemView::NoEditTriggers);
    lanesLayout->addWidget(m_lanes);
    layout->addWidget(lanesBox, 1);

    auto* eventsBox = new QGroupBox(tr("Events"), this);
    auto* eventsLayout = new QVBoxLayout(eventsBox);
    m_events = new QListWidget(eventsBox);
    m_events->setObjectName(QStringLiteral("events"));
    // A quarantine's reason is the provider's whole message: wrapped, it is
    // read at a glance instead of by scrolling sideways.
    m_events->setWordWrap(true);
    m_events->setResizeMode(QListView::Adjust);
    m_events->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    eventsLayout->addWidget(m_events);
    layout->addWidget(eventsBox, 1);

    connect(&m_session.store(), &StoreClient::countsReady, this, &QueuePanel::showCounts);
}

QLabel* QueuePanel::figure(const QString& caption, const char* name, int row, int column)
{
    auto* value = new QLabel(QStringLiteral("–"), this);
    value->setObjectName(QString::fromLatin1(name));
    QFont f = value->font();
    f.setPointSizeF(f.pointSizeF() * 1.6);
    f.setBold(true);
    value->setFont(f);
    auto* label = new QLabel(caption, this);
    m_grid->addWidget(value, row, column);
    m_grid->addWidget(label, row + 1, column);
    m_figures[QString::fromLatin1(name)] = value;
    return value;
}

void QueuePanel::refresh()
{
    m_session.store().fetchCounts();
    const host::HostStatus s = m_session.backend().status();
    const DispatcherStats& d = s.dispatch;
    m_figures[QStringLiteral("queuedCount")]->setText(formatCount(static_cast<std::int64_t>(d.queued)));
    m_figures[QStringLiteral("inFlightCount")]->setText(formatCount(static_cast<std::int64_t>(d.inFlight)));
    m_figures[QStringLiteral("retryCount")]->setText(formatCount(static_cast<std::int64_t>(d.retries)));
    m_figures[QStringLiteral("attemptCount")]->setText(formatCount(static_cast<std::int64_t>(d.attempts)));

    m_lanes->setRowCount(static_cast<int>(s.dispatch.lanes.size()));
    int row = 0;
    for (const LaneStatus& l : s.dispatch.lanes) {
        const QString model = l.key.empty() ? qs(l.model) : tr("%1 (key %2 only)").arg(qs(l.model), qs(l.key));
        const QStringList cells = {qs(l.provider), model, formatCount(static_cast<std::int64_t>(l.queued)),
                                   l.queued == 0 ? tr("nothing queued")
                                   : l.blocked   ? qs(l.waitingFor)
                                                 : tr("sending")};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = m_lanes->item(row, c);
            if (item == nullptr) {
                item = new QTableWidgetItem;
                m_lanes->setItem(row, c, item);
            }
            item->setText(cells[c]);
        }
        ++row;
    }

    if (m_events->count() != static_cast<int>(s.events.size()) ||
        (!s.events.empty() && m_events->item(0)->text() != formatWallTime(s.events.back().at) + QStringLiteral("  ") +
                                                                 qs(s.events.back().text))) {
        m_events->clear();
        for (auto it = s.events.rbegin(); it != s.events.rend(); ++it) {
            m_events->addItem(formatWallTime(it->at) + QStringLiteral("  ") + qs(it->text));
        }
    }
    m_paused = d.paused;
    m_inFlight = d.inFlight;
    const bool paused = d.paused;
    m_pause->setEnabled(!paused);
    m_resume->setEnabled(paused);
    // An attached instance has no demo workload, but drains all the same.
    m_drain->setEnabled((s.hasWorkload || m_session.attached()) && s.intakeOpen);
    m_intake->setVisible(s.hasWorkload);
    m_intake->setEnabled(s.hasWorkload && !s.intakeOpen);
    updateState();
}

void QueuePanel::showCounts(const store::Counts& c)
{
    m_counts = c;
    m_haveCounts = true;
    m_figures[QStringLiteral("pendingCount")]->setText(formatCount(c.pending));
    m_figures[QStringLiteral("leasedCount")]->setText(formatCount(c.leased));
    m_figures[QStringLiteral("doneCount")]->setText(formatCount(c.done));
    m_figures[QStringLiteral("deadCount")]->setText(formatCount(c.dead));
    if (m_session.draining() && c.pending == 0 && c.leased == 0) {
        m_session.setDrained();
    }
    updateState();
}

void QueuePanel::updateState()
{
    QString text;
    if (m_paused) {
        text = m_inFlight > 0 ? tr("Paused: %1 requests in flight finishing").arg(m_inFlight) : tr("Paused");
    } else if (m_session.draining()) {
        text = m_haveCounts ? tr("Draining: %1 jobs left").arg(formatCount(m_counts.pending + m_counts.leased))
                            : tr("Draining");
    } else if (m_haveCounts && m_counts.pending + m_counts.leased == 0) {
        text = tr("Idle: the queue is empty");
    } else {
        text = tr("Dispatching");
    }
    m_state->setText(text);
}

}  // namespace sluice::ui
