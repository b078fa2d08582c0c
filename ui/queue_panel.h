// QueuePanel: the queue at a glance: jobs by state in the store (read on
// the store's worker thread), what the dispatcher holds (queued, in flight,
// retries, failures by class), each lane and what it waits for, and the
// latest events (keys quarantined). Pause, resume and drain act on the
// running engine.
//
// Thread-safety: GUI thread only.
#pragma once

#include "live_panel.h"
#include "store/job_store.h"

#include <map>

class QGridLayout;
class QLabel;
class QListWidget;
class QPushButton;
class QTableWidget;

namespace sluice::ui {

class ConsoleSession;

class QueuePanel : public LivePanel {
    Q_OBJECT

public:
    explicit QueuePanel(ConsoleSession& session, QWidget* parent = nullptr);

    const store::Counts& lastCounts() const { return m_counts; }

public Q_SLOTS:
    void refresh() override;

private:
    void showCounts(const store::Counts& counts);
    void updateState();
    QLabel* figure(const QString& caption, const char* name, int row, int column);

    ConsoleSession& m_session;
    store::Counts m_counts;
    bool m_haveCounts = false;
    bool m_paused = false;
    std::uint64_t m_inFlight = 0;
    std::map<QString, QLabel*> m_figures;
    QLabel* m_state = nullptr;
    QPushButton* m_pause = nullptr;
    QPushButton* m_resume = nullptr;
    QPushButton* m_drain = nullptr;
    QPushButton* m_intake = nullptr;
    QTableWidget* m_lanes = nullptr;
    QListWidget* m_events = nullptr;
    QGridLayout* m_grid = nullptr;
};

}  // namespace sluice::ui
