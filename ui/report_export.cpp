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

namespace {

// Checks the request; an empty message when it can be made.
QString checkRequest(const ReportRequest& request)
{
    if (request.output.trimmed().isEmpty()) {
        return tr("Choose the file to write the report to.");
    }
    if (request.from >= request.to) {
        return tr("The start of the range must be before its end.");
    }
    return {};
}

// Builds the report from the rows and writes it; `out.message` may hold a
// warning already, which stays in front.
void writeReport(const std::vector<metrics::RollupRow>& rows, const std::string& source, WallTime now,
                 const ReportRequest& request, ReportOutcome& out)
{
    metrics::Report report = metrics::buildReport(rows, request.from, request.to, request.by);
    report.source = source;
    report.generatedAt = now;
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
}

}  // namespace

ReportOutcome exportReport(host::EngineHost& host, const ReportRequest& request)
{
    ReportOutcome out;
    out.message = checkRequest(request);
    if (!out.message.isEmpty()) {
        return out;
    }
    try {
        if (!host.metrics().flush()) {
            // The rows stay in the recorder for its next try; the report can
            // still be made from what the database holds.
            out.message = tr("Recent metrics could not be saved first (%1); ")
                              .arg(qs(host.metrics().snapshot().rollupError));
        }
        writeReport(host.rollups().rows(request.from, request.to), host.databasePath().string(), host.clock().wallNow(),
                    request, out);
    } catch (const std::exception& e) {
        out.ok = false;
        out.message += tr("No report was written: %1").arg(QString::fromUtf8(e.what()));
    }
    return out;
}

ReportOutcome exportReport(control::ControlClient& instance, const ReportRequest& request)
{
    ReportOutcome out;
    out.message = checkRequest(request);
    if (!out.message.isEmpty()) {
        return out;
    }
    try {
        const control::RollupPage page = instance.rollups(request.from, request.to);
        const std::string source = instance.baseUrl() + (page.source.empty() ? "" : " (" + page.source + ")");
        writeReport(page.rows, source, std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()), request,
                    out);
    } catch (const std::exception& e) {
        out.ok = false;
        out.message += tr("No report was written: %1").arg(QString::fromUtf8(e.what()));
    }
    return out;
}

}  // namespace sluice::ui
