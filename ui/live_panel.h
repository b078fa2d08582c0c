// LivePanel: a panel that pulls engine snapshots on a timer while it is on
// screen, and not at all while hidden (the timer starts in showEvent and
// stops in hideEvent), so a console left on one tab costs the engine only
// that tab's reads.
//
// Thread-safety: GUI thread only.
#pragma once

#include <QTimer>
#include <QWidget>

namespace sluice::ui {

class LivePanel : public QWidget {
    Q_OBJECT

public:
    // At most 4 refreshes a second: `interval` below 250 ms is raised.
    explicit LivePanel(std::chrono::milliseconds interval, QWidget* parent = nullptr);

    void setRefreshInterval(std::chrono::milliseconds interval);
    bool refreshing() const { return m_timer.isActive(); }

public Q_SLOTS:
    // Pulls a snapshot and updates the widgets.
    virtual void refresh() = 0;

protected:
    void showEvent(QShowEvent* event) override;
    void hideEvent(QHideEvent* event) override;

private:
    QTimer m_timer;
};

}  // namespace sluice::ui
