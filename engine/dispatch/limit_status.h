// What the dispatcher enforces on each key+model, gathered for its status
// snapshot (DispatcherStats::modelLimits): where each limit came from (the
// configuration, the provider's headers, "auto" concurrency), the burst
// and margins the ledger holds now, window pacing and the idle ramp. The
// text forms (describeModelLimits, describeCalibration) are declared in
// dispatch_types.h, beside the values they describe.
//
// Thread-safety: modelLimitStatuses reads the KeyPool and IdleRamp, so it
// runs on the dispatcher thread that owns them; Admission takes its own lock.
#pragma once

#include "admission/admission.h"
#include "dispatch/dispatch_types.h"
#include "dispatch/idle_ramp.h"
#include "dispatch/key_pool.h"

#include <string>
#include <vector>

namespace sluice {

namespace tokenize {
class ProxyCalibrator;
class TokenCalibrator;
}  // namespace tokenize

// Every key+model of every provider and key in use (removed ones left out).
std::vector<ModelLimitStatus> modelLimitStatuses(const KeyPool& pool, const Admission& admission,
                                                 const IdleRamp& ramp, TimePoint now);

// One key+model's.
ModelLimitStatus modelLimitStatus(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                                  const ModelState& ms, const Admission& admission, const IdleRamp& ramp,
                                  TimePoint now);

// "P/K/M: " and describeModelLimits, then the model's calibration when it
// has one (calibrator may be null), for a job's timeline (--explain).
std::string limitsNote(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                       const ModelState& ms, const Admission& admission, const IdleRamp& ramp, TimePoint now,
                       const tokenize::TokenCalibrator* calibrator,
                       const tokenize::ProxyCalibrator* proxy = nullptr);

// What the calibrators learned, per model and language class: the fit
// PromptEstimator reserves by (the proxy's once it predicts better).
std::vector<ModelCalibration> calibrationStatus(const tokenize::TokenCalibrator* calibrator,
                                                const tokenize::ProxyCalibrator* proxy = nullptr);

}  // namespace sluice
