// DashboardPanel: the live charts. Requests and tokens per minute against
// their limits, failures per minute by class (429s first), latency p50 and
// p95, queue depth and in flight against the concurrency limit, spend per
// minute and cumulative against the budget; a time-range selector (5 min …
// 24 h) picks the recorder's resolution. Each refresh reads one series from
// the metrics recorder (a short lock, no disk) and hands every chart its
// whole bounded point list; slower ranges refresh less often.
//
// Thread-safety: GUI thread only.
#pragma once

#include "dashboard_data.h"
#include "live_panel.h"

#include <map>

class QComboBox;
class QLabel;

namespace sluice::ui {

class ConsoleSession;
class TimeChart;

class DashboardPanel : public LivePanel {
    Q_OBJECT

public:
    explicit DashboardPanel(ConsoleSession& session, QWidget* parent = nullptr);

    void setRange(int index);
    int range() const { return m_range; }
    TimeChart* chart(const QString& objectName) const;

public Q_SLOTS:
    void refresh() override;

private:
    void updateTiles(const host::HostStatus& status, double spentTodayUsd);

    ConsoleSession& m_session;
    TimePoint m_since;  // when the metrics recorder started: no data before
    int m_range = 0;
    QComboBox* m_rangeBox = nullptr;
    std::map<QString, QLabel*> m_tiles;
    TimeChart* m_requests = nullptr;
    TimeChart* m_tokens = nullptr;
    TimeChart* m_failures = nullptr;
    TimeChart* m_latency = nullptr;
    TimeChart* m_queue = nullptr;
    TimeChart* m_spend = nullptr;
};

}  // namespace sluice::ui
