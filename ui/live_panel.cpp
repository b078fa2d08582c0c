#include "live_panel.h"

namespace sluice::ui {

namespace {

constexpr std::chrono::milliseconds kFastest(250);

}  // namespace

LivePanel::LivePanel(std::chrono::milliseconds interval, QWidget* parent) : QWidget(parent)
{
    m_timer.setInterval(std::max(interval, kFastest));
    connect(&m_timer, &QTimer::timeout, this, &LivePanel::refresh);
}

void LivePanel::setRefreshInterval(std::chrono::milliseconds interval)
{
    m_timer.setInterval(std::max(interval, kFastest));
}

void LivePanel::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    // Refresh at once: a panel shown must not wait a whole interval. Not
    // when it was hidden again before this ran (a quick flick through
    // tabs): a hidden panel does not pull.
    QTimer::singleShot(0, this, [this] {
        if (isVisible()) {
            refresh();
        }
    });
    m_timer.start();
}

void LivePanel::hideEvent(QHideEvent* event)
{
    m_timer.stop();
    QWidget::hideEvent(event);
}

}  // namespace sluice::ui
