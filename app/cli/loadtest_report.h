// What `sluice-cli loadtest` prints: the live progress line of a run, the
// estimate shown before real traffic, and the runs' summaries side by side.
//
// Thread-safety: pure functions.
#pragma once

#include "loadtest/request_factory.h"
#include "loadtest/summary.h"

#include <string>
#include <vector>

namespace sluice::cli {

// "[=====>    ] 12s/60s · 340 done · 12 in flight · 1,200 req/min · 28,400 tok/min of 30,000 · 429 3 · p95 1.2s"
std::string loadTestProgress(const std::string& label, const loadtest::LoadTestSnapshot& s);

// The table of one or more runs, one column each.
std::string sideBySide(const std::vector<loadtest::LoadTestSummary>& runs);

// "1.23s", "850ms"
std::string seconds(Duration d);

// What a real run will send, for the confirmation prompt.
std::string describeEstimate(const loadtest::WorkloadEstimate& e, const std::string& pricesAsOf);

}  // namespace sluice::cli
