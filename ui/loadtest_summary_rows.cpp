#include "loadtest_summary_rows.h"

#include "format.h"

#include <QCoreApplication>

#include <algorithm>
#include <type_traits>

namespace sluice::ui {

namespace {

using loadtest::LoadTestSummary;
using loadtest::Percentiles;

QString tr(const char* text)
{
    return QCoreApplication::translate("sluice::ui::LoadTestSummary", text);
}

QString count(std::uint64_t n)
{
    return formatCount(static_cast<std::int64_t>(n));
}

double secondsOf(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

QString percent(double fraction)
{
    return QStringLiteral("%1%").arg(fraction * 100, 0, 'f', fraction > 0 && fraction < 0.001 ? 2 : 1);
}

QString triple(const Percentiles& p)
{
    if (p.count == 0) {
        return QStringLiteral("–");
    }
    return formatSeconds(secondsOf(p.p50)) + QStringLiteral(" / ") + formatSeconds(secondsOf(p.p95)) +
           QStringLiteral(" / ") + formatSeconds(secondsOf(p.p99));
}

QString byClass(const std::map<std::string, std::uint64_t>& classes)
{
    QStringList parts;
    for (const auto& [name, n] : classes) {
        parts << qs(name) + QLatin1Char(' ') + count(n);
    }
    return parts.isEmpty() ? QStringLiteral("–") : parts.join(QStringLiteral(", "));
}

QString byLimit(const LoadTestSummary& s)
{
    QStringList parts;
    for (std::size_t k = 0; k < loadtest::kRateLimitKinds; ++k) {
        if (s.rateLimited[k] > 0) {
            parts << qs(loadtest::rateLimitKindName(static_cast<loadtest::RateLimitKind>(k))) + QLatin1Char(' ') +
                         count(s.rateLimited[k]);
        }
    }
    return parts.isEmpty() ? QStringLiteral("–") : parts.join(QStringLiteral(", "));
}

}  // namespace

std::vector<SummaryRow> summaryRows(const std::vector<LoadTestSummary>& runs)
{
    std::vector<SummaryRow> rows;
    // Each cell function returns QString, never `auto`: with
    // QT_USE_QSTRINGBUILDER a returned `a + b` would be a builder holding
    // references to temporaries already gone.
    const auto row = [&](const char* key, const QString& label, auto cell) {
        static_assert(std::is_same_v<decltype(cell(runs.front())), QString>);
        SummaryRow r{QString::fromLatin1(key), label, {}};
        for (const LoadTestSummary& s : runs) {
            r.cells << cell(s);
        }
        rows.push_back(std::move(r));
    };
    const bool pipelines = std::any_of(runs.begin(), runs.end(), [](const auto& s) { return s.pipelinesStarted > 0; });
    const bool streams = std::any_of(runs.begin(), runs.end(), [](const auto& s) { return s.timeToFirstToken.count > 0; });
    row("elapsed", tr("elapsed (planned)"), [](const LoadTestSummary& s) -> QString {
        QString t = formatSeconds(secondsOf(s.elapsed)) + QStringLiteral(" (") + formatSeconds(secondsOf(s.planned)) +
                    QLatin1Char(')');
        return s.stoppedEarly ? t + tr(", stopped early") : t;
    });
    row("requests", tr("requests submitted"), [](const LoadTestSummary& s) { return count(s.requests); });
    row("completed", tr("completed"), [](const LoadTestSummary& s) { return count(s.completed); });
    row("failed", tr("failed"), [](const LoadTestSummary& s) { return count(s.failed); });
    row("failed_by_class", tr("  by class"), [](const LoadTestSummary& s) { return byClass(s.failedByClass); });
    row("cancelled", tr("cancelled at the end"), [](const LoadTestSummary& s) { return count(s.cancelled); });
    row("attempts", tr("HTTP attempts"), [](const LoadTestSummary& s) { return count(s.attempts); });
    row("retries", tr("retries"), [](const LoadTestSummary& s) { return count(s.retries); });
    row("rate_limited", tr("429 answers"), [](const LoadTestSummary& s) { return count(s.rateLimitedTotal()); });
    row("rate_limited_share", tr("  share of attempts"),
        [](const LoadTestSummary& s) { return percent(s.rateLimitedShare()); });
    row("rate_limited_by_limit", tr("  by limit"), byLimit);
    row("requests_per_minute", tr("requests/min"),
        [](const LoadTestSummary& s) { return formatRate(s.requestsPerMinute); });
    row("tokens_per_minute", tr("tokens/min"), [](const LoadTestSummary& s) {
        QString t = formatRate(s.tokensPerMinute);
        if (s.limits.tpm) {
            t += tr(" of %1").arg(formatCount(*s.limits.tpm));
        }
        return t;
    });
    row("binding_limit", tr("goodput vs binding limit"), [](const LoadTestSummary& s) {
        return s.bindingLimit.empty() ? tr("no per-minute limit configured")
                                      : tr("%1 of %2").arg(percent(s.limitUtilisation), qs(s.bindingLimit));
    });
    row("latency", tr("latency p50 / p95 / p99"), [](const LoadTestSummary& s) { return triple(s.latency); });
    row("queue_time", tr("queue time p50 / p95 / p99"), [](const LoadTestSummary& s) { return triple(s.queueTime); });
    if (streams) {
        row("first_token", tr("first token p50 / p95 / p99"),
            [](const LoadTestSummary& s) { return triple(s.timeToFirstToken); });
    }
    if (pipelines) {
        row("pipelines", tr("pipelines done / failed"), [](const LoadTestSummary& s) -> QString {
            return count(s.pipelinesCompleted) + QStringLiteral(" / ") + count(s.pipelinesFailed);
        });
        row("pipeline_latency", tr("pipeline latency p50 / p95 / p99"),
            [](const LoadTestSummary& s) { return triple(s.pipelineLatency); });
    }
    row("spend", tr("spend"), [](const LoadTestSummary& s) {
        QString t = formatUsd(s.spendMicroUsd);
        if (s.unpricedResponses > 0) {
            t += tr(" + %1 unpriced").arg(count(s.unpricedResponses));
        }
        return t;
    });
    return rows;
}

}  // namespace sluice::ui
