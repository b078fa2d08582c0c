// LoadTestPanel: rehearse a workload in the console, as `sluice-cli
// loadtest --mock` does. Pick a workload (the built-in examples, or a file),
// a scale and a duration, optionally a comparison (the naive
// fixed-concurrency client with N in flight, or a second limits
// configuration file), then Start; Stop ends it early and keeps what was
// measured. The limits are the open workspace's configuration, run against
// an in-process mock set up as its providers, so nothing leaves the machine
// and the workspace's own engine, queue and limits are not touched.
//
// The LoadTestRunner does the work on its own threads; the panel polls it
// on its timer (4 Hz, only while shown) for the progress bar, the live
// charts (one series per run: throughput, tokens/min against the limit,
// 429s, latency) and, as runs finish, the summary table, one column per run.
//
// Thread-safety: GUI thread only.
#pragma once

#include "live_panel.h"
#include "loadtest_runner.h"

#include <QStringList>

#include <map>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace sluice::ui {

class ConsoleSession;
class TimeChart;

class LoadTestPanel : public LivePanel {
    Q_OBJECT

public:
    explicit LoadTestPanel(ConsoleSession& session, QWidget* parent = nullptr);
    ~LoadTestPanel() override;

    // Adds a workload file to the list and selects it (the Browse button
    // does this too).
    void setWorkloadFile(const QString& path);
    void setCompareConfigFile(const QString& path);
    // The mock's starting configuration (latency, output lengths); the
    // workspace's limits replace its own. The stock mock by default.
    void setMockBase(mock::MockConfig base) { m_mockBase = std::move(base); }

    LoadTestRunner& runner() { return m_runner; }
    // The summary's cell for a row key (see SummaryRow) and run; empty when
    // there is none.
    QString summaryCell(const QString& key, int run) const;

public Q_SLOTS:
    void start();
    void stop();
    void refresh() override;

private:
    struct RunSeries {
        WallTime startedAt{};
        std::vector<loadtest::SecondSample> seconds;
        loadtest::LimitFigures limits;
    };
    void buildCharts(const QStringList& labels);
    void updateCharts(const RunnerProgress& progress);
    void updateSummary();
    void updateStatus(const RunnerProgress& progress);
    void updateControls();

    ConsoleSession& m_session;
    SystemClock m_clock;
    mock::MockConfig m_mockBase = mock::MockConfig::defaults();

    QComboBox* m_workload = nullptr;
    QDoubleSpinBox* m_scale = nullptr;
    QSpinBox* m_duration = nullptr;
    QComboBox* m_compare = nullptr;
    QSpinBox* m_naive = nullptr;
    QLineEdit* m_compareConfig = nullptr;
    QPushButton* m_browseCompare = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_stop = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QWidget* m_chartArea = nullptr;
    QGridLayout* m_chartGrid = nullptr;
    TimeChart* m_throughput = nullptr;
    TimeChart* m_tokens = nullptr;
    TimeChart* m_rateLimited = nullptr;
    TimeChart* m_latency = nullptr;
    QTableWidget* m_summary = nullptr;

    QStringList m_chartLabels;
    std::vector<RunSeries> m_series;  // per run, as far as seen
    std::vector<RunResult> m_results;  // the runs finished, as last fetched
    bool m_sawSession = false;  // a session was started since the panel was built

    // Declared last: destroyed first, so its threads end before anything
    // they could reach (the clock) goes.
    LoadTestRunner m_runner;
};

}  // namespace sluice::ui
