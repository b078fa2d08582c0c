// How the dispatcher enforces a key+model's limits, as the Providers & keys
// tab shows them (ScopeTreeModel's "Enforced as" column and its limit cells'
// tooltips): where each limit came from, the burst in force, the arrival
// margin, window pacing, the idle ramp and the estimator's calibration.
// Plain text from the engine's snapshot values (DispatcherStats::modelLimits
// and ::calibration).
//
// Thread-safety: pure functions; GUI thread or any.
#pragma once

#include "dispatch/dispatch_types.h"

#include <QString>

#include <optional>
#include <vector>

namespace sluice::ui {

// The short form for the column: "paced evenly · burst 5 of 10 · margin
// 2.0% ≥ 9.0 ms · ramp 62% · estimate ×1.12" ("estimate o200k ×1.02" once
// the model's prompts are reserved by o200k_base's count); parts with nothing to say are
// left out ("configured, burst 10" when nothing was narrowed or learned).
QString enforcementSummary(const ModelLimitStatus& status, const std::vector<ModelCalibration>& calibration);
// The long form for the tooltip, one line per limit and per remark.
QString enforcementDetail(const ModelLimitStatus& status, const std::vector<ModelCalibration>& calibration);
// The calibration of `model` ("×1.12 over 40 samples", the latin class
// first), or empty with none.
std::optional<double> calibrationRatio(const std::vector<ModelCalibration>& calibration, std::string_view model);
// "configured", "learned from headers", "lowered by headers", "adaptive",
// followed by ", narrowed after 429s" or ", paced evenly" when the burst is.
QString originText(const LimitInForce& limit, bool pacedEvenly);

}  // namespace sluice::ui
