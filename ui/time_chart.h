// TimeChart: the console's one chart widget. Lines over a time axis that
// ends now, limit lines drawn as dashed horizontals, an optional second
// value axis on the right. Qt Charts lives behind this class alone: it is
// deprecated from Qt 6.10, and moving to Qt Graphs (or painting by hand)
// changes this file and nothing else.
//
// Fed the way Qt Charts stays fast: each refresh hands over whole bounded
// point lists, one replace() per series; no animations, no appending.
//
// Thread-safety: GUI thread only.
#pragma once

#include <QColor>
#include <QList>
#include <QPointF>
#include <QString>
#include <QWidget>

#include <memory>
#include <optional>

namespace sluice::ui {

class TimeChart : public QWidget {
    Q_OBJECT

public:
    enum class Axis : std::uint8_t { Left, Right };

    // `unit` titles the left value axis ("requests/min").
    TimeChart(const QString& title, const QString& unit, QWidget* parent = nullptr);
    ~TimeChart() override;

    int addSeries(const QString& name, const QColor& color, Axis axis = Axis::Left);
    // A dashed horizontal line; hidden while its value is unset.
    int addLimit(const QString& name, const QColor& color, Axis axis = Axis::Left);
    void setRightAxis(const QString& unit);
    // The most decimals the value axes' labels show (default 0); fewer
    // when the ticks fall on whole numbers.
    void setDecimals(int left, int right = 0);

    // Runs compared side by side: x is ms since each run's own start (0 at
    // its start), not since the epoch, and the axis reads seconds since the
    // start under `title`. Call it once; it stays.
    void setElapsedAxis(const QString& title);
    bool elapsedAxis() const;

    // The time axis runs from now − span to now (wall clock, ms since epoch;
    // ms since the start on an elapsed axis).
    void setTimeRange(qint64 fromMs, qint64 toMs);
    // x: ms since the epoch (or the start); at most a few thousand points.
    void setPoints(int series, const QList<QPointF>& points);
    void setLimit(int limit, std::optional<double> value);
    // A limit that changed over time: each step (x: ms since the epoch) holds
    // its value (NaN: no limit) until the next; the line is drawn as steps,
    // so past traffic is compared with the limit in force then.
    void setLimitSteps(int limit, const QList<QPointF>& steps);
    // A line under the title with the figures that matter now.
    void setHeadline(const QString& text);

    // Recomputes the value axes' ranges; call once after a refresh's
    // setPoints/setLimit calls.
    void rescale();

    // For tests and screenshots.
    int pointCount(int series) const;
    QList<QPointF> points(int series) const;
    double maxValue(int series) const;
    // The points a limit's line is drawn through.
    QList<QPointF> limitPoints(int limit) const;
    // The left value axis's tick labels, bottom to top, as drawn.
    QStringList valueAxisLabels() const;
    QString headline() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace sluice::ui
