// The load test's way to "concurrency": "auto": a TargetFactory wrapper that
// puts an AdaptiveWiring in front of the Sluice target's dispatcher, the
// same wiring batch and serve use. The wiring built for the target is also
// put in `*built`, so the caller can report the limits found after the run.
//
// Thread-safety: as AdaptiveWiring.
#pragma once

#include "dispatch/adaptive_wiring.h"
#include "loadtest/load_target.h"

#include <memory>

namespace sluice::cli {

// For a target with a dispatcher (not the naive client); `config` is the
// target's, `clock` must outlive the targets made.
loadtest::TargetFactory withAdaptive(loadtest::TargetFactory inner, const Config& config, Clock& clock,
                                     std::shared_ptr<std::shared_ptr<AdaptiveWiring>> built);

}  // namespace sluice::cli
