// WhatIfPanel: "What if?" before changing a limit or removing a key. Pick
// the recorded traffic (this workspace's jobs, else its per-minute usage;
// or a recorded-requests JSONL file) and a window, edit the proposed configuration (it
// starts as the workspace's own; Load file… replaces it), and Run: the
// replay (engine/simulate) sends that traffic again under the proposed
// configuration to a simulated provider that enforces the workspace's
// current limits, in simulated time, and the panel shows recorded and
// simulated side by side, as a table and as a per-minute chart.
//
// The replay runs on a worker thread (QtConcurrent); the panel polls its
// progress on its timer and never waits for it. Closing the panel cancels
// a run and waits only for the replay to notice (at most 100 ms).
//
// Thread-safety: GUI thread only.
#pragma once

#include "live_panel.h"
#include "simulate/figures.h"

#include <QFutureWatcher>

#include <atomic>
#include <memory>
#include <optional>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace sluice::ui {

class ConsoleSession;
class TimeChart;

class WhatIfPanel : public LivePanel {
    Q_OBJECT

public:
    explicit WhatIfPanel(ConsoleSession& session, QWidget* parent = nullptr);
    ~WhatIfPanel() override;

    // Replays this recorded-requests file rather than the workspace's usage.
    void setRecordedFile(const QString& path);
    void setProposedConfigText(const QString& json);
    QString proposedConfigText() const;

    bool running() const { return m_watcher.isRunning(); }
    // The last finished comparison, if any.
    const std::optional<simulate::Comparison>& result() const { return m_result; }
    // The table's cell for a figure's row key ("completed", "wait_p95",
    // "rate_limited", ...) in column 0 (recorded) or 1 (simulated).
    QString cell(const QString& key, int column) const;

public Q_SLOTS:
    void run();
    void cancel();
    void refresh() override;

Q_SIGNALS:
    void finished();

private:
    struct Outcome {
        std::optional<simulate::Comparison> comparison;
        QString error;
    };
    struct Shared {
        std::atomic<bool> cancel{false};
        std::atomic<double> fraction{0.0};
    };
    void showOutcome();
    void showTable(const simulate::Comparison& c);
    void showChart(const simulate::Comparison& c);
    void resetConfig();
    void loadConfigFile();
    void browseInput();
    void updateControls();

    ConsoleSession& m_session;
    QComboBox* m_source = nullptr;
    QLineEdit* m_input = nullptr;
    QComboBox* m_window = nullptr;
    QPlainTextEdit* m_config = nullptr;
    QPushButton* m_run = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QTableWidget* m_table = nullptr;
    TimeChart* m_chart = nullptr;
    int m_recordedSeries = -1;
    int m_simulatedSeries = -1;
    int m_rateLimitedSeries = -1;
    std::shared_ptr<Shared> m_shared;
    QFutureWatcher<Outcome> m_watcher;
    std::optional<simulate::Comparison> m_result;
};

}  // namespace sluice::ui
