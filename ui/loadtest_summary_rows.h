// The load-test panel's summary table as data: one row per figure, one cell
// per run, so runs under two configurations (or Sluice and the naive client)
// read side by side. The same figures, in the same order, as the CLI's
// report (app/cli/loadtest_report.cpp): throughput, tokens per minute
// against the limit, 429s by limit, latency and queue-time percentiles,
// pipeline latency, spend. Each row has a stable key for tests.
//
// Thread-safety: pure functions.
#pragma once

#include "loadtest/summary.h"

#include <QString>
#include <QStringList>

#include <vector>

namespace sluice::ui {

struct SummaryRow {
    QString key;    // "completed", "attempts", "rate_limited", ...
    QString label;  // what the table shows
    QStringList cells;  // one per run
};

std::vector<SummaryRow> summaryRows(const std::vector<loadtest::LoadTestSummary>& runs);

}  // namespace sluice::ui
