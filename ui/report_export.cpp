#include "report_export.h"

#include "core/atomic_file.h"
#include "core/timefmt.h"
#include "format.h"

#include <QCoreApplication>

namespace sluice::ui {

namespace {

QString tr(const char* text)
{
    return QCoreApplication::translate("sluice::ui::ReportDialog", text);
}

}  // namespace

ReportOutcome exportReport(host::EngineHost& host, const ReportRequest& request)
{
    ReportOutcome out;
    if (request.output.trimmed().isEmpty()) {
        out.message = tr("Choose the file to write the report to.");
        return out;
    }
    if (request.from >= request.to) {
        out.message = tr("The start of the range must be before its end.");
        return out;
    }
    try {
        if (!host.metrics().flush()) {
            // The rows stay in the recorder for its next try; the report can
            // still be made from what the database holds.
            out.message = tr("Recent metrics could not be saved first (%1); ")
                              .arg(qs(host.metrics().snapshot().rollupError));
        }
        const std::vector<metrics::RollupRow> rows = host.rollups().rows(request.from, request.to);
        metrics::Report report = metrics::buildReport(rows, request.from, request.to, request.by);
        report.source = host.databasePath().string();
        report.generatedAt = host.clock().wallNow();
        const std::string text = metrics::renderReport(report, request.format);
        writeFileAtomically(request.output.toStdString(), [&](std::ostream& o) { o << text; });
        out.ok = true;
        out.rows = report.rows.size();
        out.total = report.total.totals;
        out.message += tr("Wrote %1: %2 rows by %3, %4 to %5 (UTC): %6 requests, %7 completed, spend %8.")
                           .arg(request.output)
                           .arg(out.rows)
                           .arg(qs(metrics::groupingName(request.by)), qs(formatRfc3339(request.from)),
                                qs(formatRfc3339(request.to)), formatCount(static_cast<std::int64_t>(out.total.sent)),
                                formatCount(static_cast<std::int64_t>(out.total.completed)),
                                formatUsd(out.total.spendMicroUsd));
        if (!report.unpricedModels.empty()) {
            out.message += tr(" %1 responses of unknown spend (unpriced models).")
                               .arg(formatCount(static_cast<std::int64_t>(out.total.unpriced)));
        }
    } catch (const std::exception& e) {
        out.ok = false;
        out.message += tr("No report was written: %1").arg(QString::fromUtf8(e.what()));
    }
    return out;
}

}  // namespace sluice::ui
