#include "dashboard_panel.h"

#include "console_session.h"
#include "format.h"
#include "time_chart.h"

#include <QComboBox>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSettings>
#include <QVBoxLayout>

#include <limits>

namespace sluice::ui {

namespace {

const QString kRangeSetting = QStringLiteral("dashboard/range");

const QColor kBlue(0x1f, 0x77, 0xb4);
const QColor kGreen(0x2c, 0xa0, 0x2c);
const QColor kOrange(0xff, 0x7f, 0x0e);
const QColor kRed(0xd6, 0x27, 0x28);
const QColor kPurple(0x94, 0x67, 0xbd);
const QColor kBrown(0x8c, 0x56, 0x4b);
const QColor kGray(0x7f, 0x7f, 0x7f);
const QColor kLimit(0xa0, 0x10, 0x10);

QList<QPointF> toPoints(const Line& line)
{
    QList<QPointF> out;
    out.reserve(static_cast<qsizetype>(line.size()));
    for (const Point& p : line) {
        out.append(QPointF(static_cast<double>(
                               std::chrono::duration_cast<std::chrono::milliseconds>(p.at.time_since_epoch()).count()),
                           p.value));
    }
    return out;
}

double last(const Line& line)
{
    return line.empty() ? 0 : line.back().value;
}

// One limit line's steps as the history has them; `scale` turns the stored
// unit into the chart's (spend per day into USD per minute).
QList<QPointF> limitSteps(const std::vector<host::CapacityChange>& history, const Clock& clock,
                          std::optional<std::int64_t> host::CapacityLines::*line, double scale)
{
    QList<QPointF> out;
    for (const host::CapacityChange& c : history) {
        const auto& v = c.lines.*line;
        const double x = static_cast<double>(
            std::chrono::duration_cast<std::chrono::milliseconds>(clock.toWall(c.at).time_since_epoch()).count());
        out.append(QPointF(x, v ? static_cast<double>(*v) * scale : std::numeric_limits<double>::quiet_NaN()));
    }
    return out;
}

}  // namespace

DashboardPanel::DashboardPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(timeRanges()[0].refresh, parent), m_session(session), m_since(session.backend().metricsSince())
{
    setObjectName(QStringLiteral("dashboardPanel"));
    auto* layout = new QVBoxLayout(this);

    auto* top = new QHBoxLayout;
    const auto tile = [&](const char* name, const QString& caption) {
        auto* frame = new QFrame(this);
        frame->setFrameShape(QFrame::StyledPanel);
        auto* v = new QVBoxLayout(frame);
        v->setContentsMargins(10, 4, 10, 4);
        v->setSpacing(0);
        auto* value = new QLabel(QStringLiteral("–"), frame);
        value->setObjectName(QString::fromLatin1(name));
        QFont f = value->font();
        f.setPointSizeF(f.pointSizeF() * 1.5);
        f.setBold(true);
        value->setFont(f);
        auto* label = new QLabel(caption, frame);
        v->addWidget(value);
        v->addWidget(label);
        top->addWidget(frame);
        m_tiles[QString::fromLatin1(name)] = value;
    };
    tile("tileSent", tr("requests sent"));
    tile("tileCompleted", tr("completed"));
    tile("tile429", tr("429s (provider refused)"));
    tile("tileQueued", tr("queued / in flight"));
    tile("tileSpend", tr("spend today"));
    top->addStretch(1);
    top->addWidget(new QLabel(tr("Show the last"), this));
    m_rangeBox = new QComboBox(this);
    m_rangeBox->setObjectName(QStringLiteral("timeRange"));
    for (const TimeRange& r : timeRanges()) {
        m_rangeBox->addItem(tr(r.label));
    }
    top->addWidget(m_rangeBox);
    layout->addLayout(top);

    auto* grid = new QGridLayout;
    grid->setSpacing(6);
    const auto make = [&](const char* name, const QString& title, const QString& unit, int row, int column) {
        auto* c = new TimeChart(title, unit, this);
        c->setObjectName(QString::fromLatin1(name));
        grid->addWidget(c, row, column);
        return c;
    };
    m_requests = make("requestsChart", tr("Requests per minute"), tr("requests/min"), 0, 0);
    m_requests->addSeries(tr("sent"), kBlue);
    m_requests->addSeries(tr("completed"), kGreen);
    m_requests->addLimit(tr("limit (usable keys)"), kLimit);

    m_tokens = make("tokensChart", tr("Tokens per minute"), tr("tokens/min"), 0, 1);
    m_tokens->addSeries(tr("used (reported)"), kBlue);
    m_tokens->addSeries(tr("reserved up front"), kOrange);
    m_tokens->addLimit(tr("limit (usable keys)"), kLimit);

    m_failures = make("failuresChart", tr("Failed attempts per minute, by class"), tr("failures/min"), 1, 0);
    m_failures->addSeries(tr("rate limited (429)"), kRed);
    m_failures->addSeries(tr("quota exhausted"), kPurple);
    m_failures->addSeries(tr("server, overload, timeout"), kBrown);
    m_failures->addSeries(tr("other"), kGray);
    m_failures->setDecimals(2);

    m_latency = make("latencyChart", tr("Latency (sent → last byte)"), tr("seconds"), 1, 1);
    m_latency->addSeries(tr("p50"), kBlue);
    m_latency->addSeries(tr("p95"), kOrange);
    m_latency->setDecimals(2);

    m_queue = make("queueChart", tr("Queue and in flight"), tr("requests"), 2, 0);
    m_queue->addSeries(tr("queued for admission"), kPurple);
    m_queue->addSeries(tr("in flight"), kBlue);
    m_queue->addLimit(tr("concurrency limit"), kLimit);

    m_spend = make("spendChart", tr("Spend"), tr("USD/min"), 2, 1);
    m_spend->setRightAxis(tr("USD in range"));
    m_spend->addSeries(tr("per minute"), kGreen);
    m_spend->addSeries(tr("cumulative (right axis)"), kBlue, TimeChart::Axis::Right);
    m_spend->addLimit(tr("budget pace (daily budget / 1,440)"), kLimit);
    m_spend->setDecimals(4, 4);
    for (int r = 0; r < 3; ++r) {
        grid->setRowStretch(r, 1);
    }
    grid->setColumnStretch(0, 1);
    grid->setColumnStretch(1, 1);
    layout->addLayout(grid, 1);

    const int saved = std::clamp(QSettings().value(kRangeSetting, 0).toInt(), 0, static_cast<int>(timeRanges().size()) - 1);
    m_rangeBox->setCurrentIndex(saved);
    setRange(saved);
    connect(m_rangeBox, &QComboBox::currentIndexChanged, this, [this](int index) {
        setRange(index);
        QSettings().setValue(kRangeSetting, index);
        refresh();
    });
}

TimeChart* DashboardPanel::chart(const QString& objectName) const
{
    return findChild<TimeChart*>(objectName);
}

void DashboardPanel::setRange(int index)
{
    m_range = std::clamp(index, 0, static_cast<int>(timeRanges().size()) - 1);
    if (m_rangeBox->currentIndex() != m_range) {
        m_rangeBox->setCurrentIndex(m_range);
    }
    setRefreshInterval(timeRanges()[static_cast<std::size_t>(m_range)].refresh);
}

void DashboardPanel::refresh()
{
    ConsoleBackend& host = m_session.backend();
    const TimeRange& range = timeRanges()[static_cast<std::size_t>(m_range)];
    Clock& clock = host.clock();
    const TimePoint now = clock.now();
    // The recorder has nothing from before it started: buckets from then
    // would be drawn as zeros, traffic that never was.
    const TimePoint from = std::max(now - range.span, m_since);
    const auto points = host.series(metrics::ScopeKey::global(), range.width, from, now + range.width);
    DashboardData view = computeDashboard(points, range, clock);
    const host::HostStatus status = host.status();
    view.limits = limitsOf(status);

    const auto ms = [](WallTime t) {
        return static_cast<qint64>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
    };
    // A run younger than the range fills the width from its start (at
    // least a minute wide), rather than a sliver at the right edge.
    const qint64 to = ms(clock.wallNow());
    const auto shown = std::clamp(now - m_since, Duration(std::chrono::minutes(1)), range.span);
    const qint64 axisFrom = to - std::chrono::duration_cast<std::chrono::milliseconds>(shown).count();
    for (TimeChart* c : {m_requests, m_tokens, m_failures, m_latency, m_queue, m_spend}) {
        c->setTimeRange(axisFrom, to);
    }
    // Each limit as it stood at each moment: a limit raised now must not
    // make the traffic before it look over the limit.
    const std::vector<host::CapacityChange> history = host.limitHistory(from, now);
    const DashboardLimits& l = view.limits;
    m_requests->setPoints(0, toPoints(view.sent));
    m_requests->setPoints(1, toPoints(view.completed));
    m_requests->setLimitSteps(0, limitSteps(history, clock, &host::CapacityLines::requestsPerMinute, 1));
    m_requests->setHeadline(tr("now %1 sent/min, %2 completed/min%3")
                                .arg(formatRate(last(view.sent)), formatRate(last(view.completed)),
                                     l.requestsPerMinute ? tr(" · limit %1/min").arg(formatRate(*l.requestsPerMinute))
                                                         : QString()));
    m_tokens->setPoints(0, toPoints(view.tokens));
    m_tokens->setPoints(1, toPoints(view.reserved));
    m_tokens->setLimitSteps(0, limitSteps(history, clock, &host::CapacityLines::tokensPerMinute, 1));
    m_tokens->setHeadline(tr("now %1 tokens/min used, %2 reserved%3")
                              .arg(formatRate(last(view.tokens)), formatRate(last(view.reserved)),
                                   l.tokensPerMinute ? tr(" · limit %1/min").arg(formatRate(*l.tokensPerMinute))
                                                     : QString()));
    for (int g = 0; g < kFailureGroupCount; ++g) {
        m_failures->setPoints(g, toPoints(view.failures[static_cast<std::size_t>(g)]));
    }
    const auto& f = view.failuresInRange;
    m_failures->setHeadline(tr("in range: %1 rate limited, %2 quota, %3 server/overload/timeout, %4 other (of %5 sent)")
                                .arg(formatCount(static_cast<std::int64_t>(f[0])), formatCount(static_cast<std::int64_t>(f[1])),
                                     formatCount(static_cast<std::int64_t>(f[2])), formatCount(static_cast<std::int64_t>(f[3])),
                                     formatCount(static_cast<std::int64_t>(view.sentInRange))));
    m_latency->setPoints(0, toPoints(view.p50));
    m_latency->setPoints(1, toPoints(view.p95));
    m_latency->setHeadline(view.p50.empty() ? tr("no responses yet")
                                            : tr("now p50 %1 · p95 %2")
                                                  .arg(formatSeconds(last(view.p50)), formatSeconds(last(view.p95))));
    m_queue->setPoints(0, toPoints(view.queued));
    m_queue->setPoints(1, toPoints(view.inFlight));
    m_queue->setLimitSteps(0, limitSteps(history, clock, &host::CapacityLines::inFlight, 1));
    m_queue->setHeadline(tr("now %1 queued for admission · %2 in flight%3")
                             .arg(formatCount(static_cast<std::int64_t>(status.dispatch.queued)),
                                  formatCount(static_cast<std::int64_t>(status.dispatch.inFlight)),
                                  l.inFlight ? tr(" of %1").arg(formatCount(static_cast<std::int64_t>(*l.inFlight)))
                                             : QString()));
    m_spend->setPoints(0, toPoints(view.spendPerMinute));
    m_spend->setPoints(1, toPoints(view.spendCumulative));
    m_spend->setLimitSteps(0, limitSteps(history, clock, &host::CapacityLines::spendPerDayMicroUsd, 1e-6 / 1440.0));
    QString spendLine = tr("%1 in range").arg(formatUsd(last(view.spendCumulative)));
    const double spentToday = static_cast<double>(host.spendTodayMicroUsd()) / 1e6;
    if (l.spendPerDayUsd) {
        spendLine += tr(" · today %1 of the %2 daily budget (%3%)")
                         .arg(formatUsd(spentToday), formatUsd(*l.spendPerDayUsd))
                         .arg(*l.spendPerDayUsd > 0 ? spentToday / *l.spendPerDayUsd * 100 : 0.0, 0, 'f', 1);
    }
    m_spend->setHeadline(spendLine);
    for (TimeChart* c : {m_requests, m_tokens, m_failures, m_latency, m_queue, m_spend}) {
        c->rescale();
    }
    updateTiles(status, spentToday);
}

void DashboardPanel::updateTiles(const host::HostStatus& status, double spentTodayUsd)
{
    const DispatcherStats& d = status.dispatch;
    m_tiles[QStringLiteral("tileSent")]->setText(formatCount(static_cast<std::int64_t>(d.attempts)));
    m_tiles[QStringLiteral("tileCompleted")]->setText(formatCount(static_cast<std::int64_t>(d.completed)));
    m_tiles[QStringLiteral("tile429")]->setText(
        formatCount(static_cast<std::int64_t>(d.failures[static_cast<std::size_t>(FailureClass::RateLimited)])));
    m_tiles[QStringLiteral("tileQueued")]->setText(formatCount(static_cast<std::int64_t>(d.queued)) + QStringLiteral(" / ") +
                                                   formatCount(static_cast<std::int64_t>(d.inFlight)));
    // Today's, across restarts (the rollups keep what earlier runs spent).
    m_tiles[QStringLiteral("tileSpend")]->setText(formatUsd(spentTodayUsd));
}

}  // namespace sluice::ui
