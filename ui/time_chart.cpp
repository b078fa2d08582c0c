#include "time_chart.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QGraphicsLayout>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLocale>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace sluice::ui {

namespace {

// The smallest "nice" step (1, 2, 2.5 or 5 × 10^n) that covers `range` in at
// most `ticks` intervals.
double niceStep(double range, int ticks)
{
    if (range <= 0) {
        return 1;
    }
    const double raw = range / ticks;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
        if (m * magnitude >= raw) {
            return m * magnitude;
        }
    }
    return 10 * magnitude;
}

// The decimals a step's labels need (0.25 needs 2, 20 none), at most `most`:
// "60.0" on an axis of whole numbers reads as false precision.
int decimalsFor(double step, int most)
{
    for (int d = 0; d < most; ++d) {
        const double scaled = step * std::pow(10.0, d);
        if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) {
            return d;
        }
    }
    return std::max(most, 0);
}

}  // namespace

struct TimeChart::Impl {
    QLabel* title = nullptr;
    QLabel* headline = nullptr;
    QChart* chart = nullptr;
    QChartView* view = nullptr;
    QDateTimeAxis* time = nullptr;
    // Set by setElapsedAxis: replaces `time`; x is shown in seconds.
    QValueAxis* elapsed = nullptr;
    QValueAxis* left = nullptr;
    QValueAxis* right = nullptr;
    struct Line {
        QLineSeries* series = nullptr;
        Axis axis = Axis::Left;
        QList<QPointF> points;
    };
    struct Limit {
        QLineSeries* series = nullptr;
        Axis axis = Axis::Left;
        // Change points (x ms, value; NaN: none). A fixed limit is one step
        // from the start of time.
        QList<QPointF> steps;
    };
    std::vector<Line> lines;
    std::vector<Limit> limits;
    qint64 fromMs = 0;
    qint64 toMs = 1;
    int leftDecimals = 0;
    int rightDecimals = 0;

    QAbstractAxis* xAxis() const
    {
        return elapsed != nullptr ? static_cast<QAbstractAxis*>(elapsed) : static_cast<QAbstractAxis*>(time);
    }
    // Points as the x axis takes them: ms since the epoch, or seconds since
    // the start on an elapsed axis.
    QList<QPointF> forAxis(QList<QPointF> points) const
    {
        if (elapsed != nullptr) {
            for (QPointF& p : points) {
                p.setX(p.x() / 1000.0);
            }
        }
        return points;
    }

    // The limit's steps clipped to the time range, as a step line.
    void drawLimit(Limit& l) const
    {
        QList<QPointF> points;
        const double from = static_cast<double>(fromMs);
        const double to = static_cast<double>(toMs);
        for (qsizetype i = 0; i < l.steps.size(); ++i) {
            const double start = std::max(l.steps[i].x(), from);
            const double end = i + 1 < l.steps.size() ? std::min(l.steps[i + 1].x(), to) : to;
            const double value = l.steps[i].y();
            if (std::isnan(value) || end < start) {
                continue;
            }
            points.append(QPointF(start, value));
            points.append(QPointF(end, value));
        }
        const bool shown = !points.isEmpty();
        l.series->replace(forAxis(points));
        l.series->setVisible(shown);
        for (QLegendMarker* m : chart->legend()->markers(l.series)) {
            m->setVisible(shown);
        }
    }

    QValueAxis* axisFor(Axis a) const { return a == Axis::Right && right != nullptr ? right : left; }

    void styleValueAxis(QValueAxis* axis, const QString& unit)
    {
        QFont f = axis->labelsFont();
        f.setPointSizeF(8.5);
        axis->setLabelsFont(f);
        QFont tf = f;
        tf.setPointSizeF(8.5);
        axis->setTitleFont(tf);
        axis->setTitleText(unit);
        axis->setLabelFormat(QStringLiteral("%.0f"));
        axis->setMin(0);
        axis->setGridLineColor(QColor(0xe3, 0xe3, 0xe3));
    }

    void rescaleAxis(QValueAxis* axis, Axis which)
    {
        if (axis == nullptr) {
            return;
        }
        double top = 0;
        for (const Line& l : lines) {
            if (l.axis != which) {
                continue;
            }
            for (const QPointF& p : l.points) {
                top = std::max(top, p.y());
            }
        }
        for (const Limit& l : limits) {
            if (l.axis != which) {
                continue;
            }
            for (const QPointF& p : l.series->points()) {
                top = std::max(top, p.y());
            }
        }
        // Headroom above the highest line or limit, so a limit line never
        // sits on the frame.
        top = top <= 0 ? 1 : top * 1.12;
        const int most = which == Axis::Right ? rightDecimals : leftDecimals;
        // Never a step finer than the labels can show: an empty chart's 0..1
        // in quarters printed without decimals read "0, 0, 1, 1, 1".
        const double step = std::max(niceStep(top, 4), std::pow(10.0, -most));
        const double max = std::ceil(top / step) * step;
        axis->setRange(0, max);
        axis->setTickCount(static_cast<int>(std::lround(max / step)) + 1);
        const int decimals = decimalsFor(step, most);
        axis->setLabelFormat(QStringLiteral("%.") + QString::number(decimals) + QStringLiteral("f"));
    }
};

TimeChart::TimeChart(const QString& title, const QString& unit, QWidget* parent)
    : QWidget(parent), m_impl(std::make_unique<Impl>())
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 0);
    layout->setSpacing(0);
    m_impl->title = new QLabel(title, this);
    QFont tf = m_impl->title->font();
    tf.setBold(true);
    tf.setPointSizeF(tf.pointSizeF() + 1);
    m_impl->title->setFont(tf);
    m_impl->headline = new QLabel(this);
    m_impl->headline->setObjectName(QStringLiteral("headline"));
    QPalette pal = m_impl->headline->palette();
    pal.setColor(QPalette::WindowText, QColor(0x50, 0x50, 0x50));
    m_impl->headline->setPalette(pal);
    layout->addWidget(m_impl->title);
    layout->addWidget(m_impl->headline);

    m_impl->chart = new QChart();
    m_impl->chart->setAnimationOptions(QChart::NoAnimation);
    m_impl->chart->setMargins(QMargins(2, 2, 2, 2));
    m_impl->chart->setBackgroundRoundness(0);
    m_impl->chart->layout()->setContentsMargins(0, 0, 0, 0);
    m_impl->chart->legend()->setAlignment(Qt::AlignBottom);
    // Axis labels grouped the way format.h writes numbers ("600,000", not
    // "600000"), so an axis and its headline read alike.
    m_impl->chart->setLocalizeNumbers(true);
    m_impl->chart->setLocale(QLocale(QLocale::English));
    QFont lf = m_impl->chart->legend()->font();
    lf.setPointSizeF(8.5);
    m_impl->chart->legend()->setFont(lf);

    m_impl->time = new QDateTimeAxis(m_impl->chart);
    m_impl->time->setFormat(QStringLiteral("HH:mm:ss"));
    m_impl->time->setTickCount(6);
    QFont af = m_impl->time->labelsFont();
    af.setPointSizeF(8.5);
    m_impl->time->setLabelsFont(af);
    m_impl->time->setGridLineColor(QColor(0xe3, 0xe3, 0xe3));
    m_impl->chart->addAxis(m_impl->time, Qt::AlignBottom);
    m_impl->left = new QValueAxis(m_impl->chart);
    m_impl->styleValueAxis(m_impl->left, unit);
    m_impl->chart->addAxis(m_impl->left, Qt::AlignLeft);

    m_impl->view = new QChartView(m_impl->chart, this);
    m_impl->view->setRenderHint(QPainter::Antialiasing);
    // The view paints the white behind the chart, not the chart: Qt 6.4's
    // raster engine hands a chart background's fill to its thread pool and
    // waits, which on busy cores held the GUI thread for 100 ms and more
    // (docs/benchmarks.md, "Console responsiveness"); a widget's plain fill
    // stays on the GUI thread.
    m_impl->chart->setBackgroundVisible(false);
    m_impl->view->setBackgroundBrush(Qt::white);
    m_impl->view->setMinimumHeight(160);
    layout->addWidget(m_impl->view, 1);
}

TimeChart::~TimeChart() = default;

int TimeChart::addSeries(const QString& name, const QColor& color, Axis axis)
{
    auto* s = new QLineSeries(m_impl->chart);
    s->setName(name);
    QPen pen(color);
    pen.setWidthF(2);
    s->setPen(pen);
    // OpenGL would be faster for huge series but renders nothing offscreen
    // (screenshots, tests); ours stay a few hundred points.
    s->setUseOpenGL(false);
    m_impl->chart->addSeries(s);
    s->attachAxis(m_impl->xAxis());
    s->attachAxis(m_impl->axisFor(axis));
    m_impl->lines.push_back(Impl::Line{s, axis, {}});
    return static_cast<int>(m_impl->lines.size()) - 1;
}

int TimeChart::addLimit(const QString& name, const QColor& color, Axis axis)
{
    auto* s = new QLineSeries(m_impl->chart);
    s->setName(name);
    QPen pen(color);
    pen.setWidthF(1.6);
    pen.setStyle(Qt::DashLine);
    s->setPen(pen);
    m_impl->chart->addSeries(s);
    s->attachAxis(m_impl->xAxis());
    s->attachAxis(m_impl->axisFor(axis));
    s->setVisible(false);
    for (QLegendMarker* m : m_impl->chart->legend()->markers(s)) {
        m->setVisible(false);
    }
    m_impl->limits.push_back(Impl::Limit{s, axis, {}});
    return static_cast<int>(m_impl->limits.size()) - 1;
}

void TimeChart::setRightAxis(const QString& unit)
{
    if (m_impl->right == nullptr) {
        m_impl->right = new QValueAxis(m_impl->chart);
        m_impl->styleValueAxis(m_impl->right, unit);
        m_impl->right->setGridLineVisible(false);
        m_impl->chart->addAxis(m_impl->right, Qt::AlignRight);
    }
    m_impl->right->setTitleText(unit);
}

void TimeChart::setElapsedAxis(const QString& title)
{
    if (m_impl->elapsed == nullptr) {
        auto* axis = new QValueAxis(m_impl->chart);
        axis->setLabelFormat(QStringLiteral("%.0f"));
        axis->setTickCount(7);
        axis->setLabelsFont(m_impl->time->labelsFont());
        axis->setGridLineColor(m_impl->time->gridLineColor());
        m_impl->chart->addAxis(axis, Qt::AlignBottom);
        for (const Impl::Line& l : m_impl->lines) {
            l.series->detachAxis(m_impl->time);
            l.series->attachAxis(axis);
        }
        for (const Impl::Limit& l : m_impl->limits) {
            l.series->detachAxis(m_impl->time);
            l.series->attachAxis(axis);
        }
        m_impl->chart->removeAxis(m_impl->time);
        delete m_impl->time;
        m_impl->time = nullptr;
        m_impl->elapsed = axis;
        for (Impl::Line& l : m_impl->lines) {
            l.series->replace(m_impl->forAxis(l.points));
        }
        setTimeRange(m_impl->fromMs, m_impl->toMs);
    }
    m_impl->elapsed->setTitleText(title);
}

bool TimeChart::elapsedAxis() const
{
    return m_impl->elapsed != nullptr;
}

QList<QPointF> TimeChart::points(int series) const
{
    return m_impl->lines.at(static_cast<std::size_t>(series)).points;
}

void TimeChart::setDecimals(int left, int right)
{
    m_impl->leftDecimals = left;
    m_impl->rightDecimals = right;
}

void TimeChart::setTimeRange(qint64 fromMs, qint64 toMs)
{
    m_impl->fromMs = fromMs;
    m_impl->toMs = std::max(toMs, fromMs + 1);
    if (m_impl->elapsed != nullptr) {
        m_impl->elapsed->setRange(static_cast<double>(m_impl->fromMs) / 1000.0, static_cast<double>(m_impl->toMs) / 1000.0);
    } else {
        m_impl->time->setFormat(toMs - fromMs > 20 * 60 * 1000 ? QStringLiteral("HH:mm") : QStringLiteral("HH:mm:ss"));
        m_impl->time->setRange(QDateTime::fromMSecsSinceEpoch(m_impl->fromMs),
                               QDateTime::fromMSecsSinceEpoch(m_impl->toMs));
    }
    for (Impl::Limit& l : m_impl->limits) {
        m_impl->drawLimit(l);
    }
}

void TimeChart::setPoints(int series, const QList<QPointF>& points)
{
    Impl::Line& l = m_impl->lines.at(static_cast<std::size_t>(series));
    l.points = points;
    l.series->replace(m_impl->forAxis(points));
}

void TimeChart::setLimit(int limit, std::optional<double> value)
{
    QList<QPointF> steps;
    if (value) {
        steps.append(QPointF(static_cast<double>(std::numeric_limits<qint64>::min()), *value));
    }
    setLimitSteps(limit, steps);
}

void TimeChart::setLimitSteps(int limit, const QList<QPointF>& steps)
{
    Impl::Limit& l = m_impl->limits.at(static_cast<std::size_t>(limit));
    l.steps = steps;
    m_impl->drawLimit(l);
}

void TimeChart::setHeadline(const QString& text)
{
    m_impl->headline->setText(text);
}

void TimeChart::rescale()
{
    m_impl->rescaleAxis(m_impl->left, Axis::Left);
    m_impl->rescaleAxis(m_impl->right, Axis::Right);
}

int TimeChart::pointCount(int series) const
{
    return static_cast<int>(m_impl->lines.at(static_cast<std::size_t>(series)).points.size());
}

double TimeChart::maxValue(int series) const
{
    double top = 0;
    for (const QPointF& p : m_impl->lines.at(static_cast<std::size_t>(series)).points) {
        top = std::max(top, p.y());
    }
    return top;
}

QList<QPointF> TimeChart::limitPoints(int limit) const
{
    return m_impl->limits.at(static_cast<std::size_t>(limit)).series->points();
}

QStringList TimeChart::valueAxisLabels() const
{
    const QValueAxis* axis = m_impl->left;
    QStringList out;
    const int ticks = axis->tickCount();
    const QLocale locale(QLocale::English);
    const int decimals = axis->labelFormat().mid(2).chopped(1).toInt();
    for (int i = 0; i < ticks; ++i) {
        const double v = axis->min() + (axis->max() - axis->min()) * i / std::max(ticks - 1, 1);
        out.append(locale.toString(v, 'f', decimals));
    }
    return out;
}

QString TimeChart::headline() const
{
    return m_impl->headline->text();
}

}  // namespace sluice::ui
