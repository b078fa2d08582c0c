// One usage report export, as the console's report dialog asks for it: the
// same report `sluice-cli report` writes (engine/metrics/report.h), from the
// open workspace's per-minute rollups. Recent traffic is still in the
// metrics recorder (it writes rollups every 10 s), so the export flushes it
// first: a report made just after a run covers the whole run. An attached
// instance's report is made here from its rows. The file is
// written atomically (a failure leaves no file, and an old one untouched).
//
// Thread-safety: exportReport() waits on the disk: call it on a worker
// thread (StoreClient's), never the GUI's. The structs are plain values.
#pragma once

#include "control/control_client.h"
#include "host/engine_host.h"
#include "metrics/report.h"

#include <QMetaType>
#include <QString>

namespace sluice::ui {

struct ReportRequest {
    WallTime from{};  // inclusive
    WallTime to{};    // exclusive
    metrics::ReportGrouping by = metrics::ReportGrouping::Model;
    metrics::ReportFormat format = metrics::ReportFormat::Csv;
    QString output;   // the file to write
};

struct ReportOutcome {
    bool ok = false;
    QString message;  // what was written, or what went wrong (naming the file)
    std::size_t rows = 0;
    metrics::Totals total;
};

ReportOutcome exportReport(host::EngineHost& host, const ReportRequest& request);
// The same from an attached instance's rollups, fetched over its control
// endpoint (GET /v1/rollups: its state file's, or this run's in memory).
// Waits on the network: a worker thread only.
ReportOutcome exportReport(control::ControlClient& instance, const ReportRequest& request);

}  // namespace sluice::ui

Q_DECLARE_METATYPE(sluice::ui::ReportRequest)
Q_DECLARE_METATYPE(sluice::ui::ReportOutcome)
