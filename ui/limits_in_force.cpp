#include "limits_in_force.h"

#include "format.h"

#include "config/config_writer.h"

#include <QCoreApplication>
#include <QStringList>

#include <algorithm>
#include <chrono>

namespace sluice::ui {

namespace {

QString tr(const char* text)
{
    return QCoreApplication::translate("LimitsInForce", text);
}

QString percent(double share)
{
    return QString::number(share * 100.0, 'f', 0) + QLatin1Char('%');
}

QString milliseconds(Duration d)
{
    return QString::number(std::chrono::duration<double, std::milli>(d).count(), 'f', 1) + QStringLiteral(" ms");
}

// The model's own rolling request or token limit that shows the burst best:
// the narrowest one, relative to its configured burst.
const LimitInForce* narrowest(const ModelLimitStatus& s)
{
    const LimitInForce* best = nullptr;
    for (const LimitInForce& l : s.limits) {
        if (l.scope != "model" || l.spec.window != Window::Rolling || l.spec.measure == Measure::Concurrency) {
            continue;
        }
        const double share = static_cast<double>(l.burstInForce) / static_cast<double>(std::max<std::int64_t>(1, l.spec.capacity()));
        const double bestShare = best == nullptr ? 2.0
                                                 : static_cast<double>(best->burstInForce) /
                                                       static_cast<double>(std::max<std::int64_t>(1, best->spec.capacity()));
        if (share < bestShare) {
            best = &l;
        }
    }
    return best;
}

struct Margin {
    std::int32_t per10k = 0;
    Duration least{};
};

Margin modelMargin(const ModelLimitStatus& s)
{
    Margin m;
    for (const LimitInForce& l : s.limits) {
        if (l.scope == "model") {
            m.per10k = std::max(m.per10k, l.marginPer10k);
            m.least = std::max(m.least, l.leastMargin);
        }
    }
    return m;
}

QString marginText(const Margin& m)
{
    QString text = QString::number(m.per10k / 100.0, 'f', 2) + QLatin1Char('%');
    if (m.least > Duration::zero()) {
        text += tr(", at least %1").arg(milliseconds(m.least));
    }
    return text;
}

QString rampText(const RampStatus& r)
{
    if (r.inRamp) {
        return tr("ramping up after idle: %1 of the request limit").arg(percent(r.fraction));
    }
    if (r.idle) {
        return tr("idle: ramps up from %1 over %2").arg(percent(r.start), formatSeconds(std::chrono::duration<double>(r.length).count()));
    }
    return tr("ramp done");
}

QString limitLabel(const LimitSpec& spec)
{
    return describeLimit(spec);
}

QString shortName(const LimitSpec& spec)
{
    const auto field = limitFieldOf(spec);
    return qs(field ? limitFieldName(*field) : measureName(spec.measure));
}

}  // namespace

QString originText(const LimitInForce& limit, bool pacedEvenly)
{
    QString text = qs(limitOriginName(limit.origin));
    if (limit.narrowed) {
        text += limit.scope == "model" && pacedEvenly ? tr(", paced evenly") : tr(", narrowed after 429s");
    }
    return text;
}

namespace {

// The model's calibration with the most samples, or null.
const ModelCalibration* mostSampled(const std::vector<ModelCalibration>& calibration, std::string_view model)
{
    const ModelCalibration* best = nullptr;
    for (const ModelCalibration& c : calibration) {
        if (c.model == model && c.samples > 0 && (best == nullptr || c.samples > best->samples)) {
            best = &c;
        }
    }
    return best;
}

}  // namespace

std::optional<double> calibrationRatio(const std::vector<ModelCalibration>& calibration, std::string_view model)
{
    const ModelCalibration* best = mostSampled(calibration, model);
    return best != nullptr ? std::optional<double>(best->ratio) : std::nullopt;
}

QString enforcementSummary(const ModelLimitStatus& s, const std::vector<ModelCalibration>& calibration)
{
    QStringList parts;
    // Where the model's limits came from, when any is not the configuration's.
    QStringList origins;
    for (const LimitInForce& l : s.limits) {
        if (l.origin != LimitOrigin::Configured) {
            origins.append(tr("%1 %2").arg(shortName(l.spec), qs(limitOriginName(l.origin))));
        }
    }
    if (origins.isEmpty() && !s.limits.empty()) {
        origins.append(tr("configured"));
    }
    parts.append(origins);
    if (s.pacedEvenly) {
        parts.append(tr("paced evenly"));
    }
    if (const LimitInForce* l = narrowest(s)) {
        parts.append(l->narrowed ? tr("burst %1 of %2").arg(formatCount(l->burstInForce), formatCount(l->spec.capacity()))
                                 : tr("burst %1").arg(formatCount(l->burstInForce)));
    }
    const Margin m = modelMargin(s);
    if (m.per10k > 0 || m.least > Duration::zero()) {
        parts.append(tr("margin %1").arg(marginText(m)));
    }
    if (s.ramp && (s.ramp->inRamp || s.ramp->flattened > 0)) {
        parts.append(s.ramp->inRamp ? tr("ramp %1").arg(percent(s.ramp->fraction))
                                    : tr("ramps from %1").arg(percent(s.ramp->start)));
    }
    if (const ModelCalibration* c = mostSampled(calibration, s.model)) {
        // By o200k's count, the ratio is a slope over another tokenizer.
        parts.append((c->byProxy ? tr("estimate o200k ×%1") : tr("estimate ×%1")).arg(QString::number(c->ratio, 'f', 2)));
    }
    return parts.join(QStringLiteral(" · "));
}

QString enforcementDetail(const ModelLimitStatus& s, const std::vector<ModelCalibration>& calibration)
{
    QStringList lines;
    for (const LimitInForce& l : s.limits) {
        QString line = tr("%1 (%2): %3").arg(limitLabel(l.spec), qs(l.scope), originText(l, s.pacedEvenly));
        if (l.spec.window == Window::Rolling && l.spec.measure != Measure::Concurrency) {
            line += l.narrowed ? tr("; burst %1 in force of %2").arg(formatCount(l.burstInForce), formatCount(l.spec.capacity()))
                               : tr("; burst %1").arg(formatCount(l.burstInForce));
        }
        lines.append(line);
    }
    if (s.pacedEvenly) {
        lines.append(tr("Paced evenly: a 429 at a pace the bucket allowed showed the provider counts a window."));
    }
    if (!s.refunds.empty()) {
        lines.append(tr("Tokens: %1.").arg(qs(s.refunds)));
    }
    const Margin m = modelMargin(s);
    if (m.per10k > 0 || m.least > Duration::zero()) {
        lines.append(tr("Arrival margin %1 (near misses widen it, quiet periods narrow it).").arg(marginText(m)));
    }
    if (s.ramp) {
        QString line = tr("Idle ramp: %1").arg(rampText(*s.ramp));
        if (s.ramp->flattened > 0) {
            line += tr("; flattened by %1 429s: from %2 over %3")
                        .arg(s.ramp->flattened)
                        .arg(percent(s.ramp->start), formatSeconds(std::chrono::duration<double>(s.ramp->length).count()));
        }
        lines.append(line + QLatin1Char('.'));
    }
    const QString calibrated = qs(describeCalibration(calibration, s.model));
    if (!calibrated.isEmpty()) {
        lines.append(tr("Calibration: %1.").arg(calibrated));
    }
    return lines.join(QLatin1Char('\n'));
}

}  // namespace sluice::ui
