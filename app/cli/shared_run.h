// The command-line side of the configuration's "shared" section: the
// engine's shared::SharedRun (engine/shared/shared_run.h) plus a line on
// stderr saying what is shared, and the load-test target that uses it.
// Without "shared" every member is a no-op and the pointers are null.
//
// Thread-safety: one controlling thread, as the command's own.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "dispatch/dispatcher.h"
#include "loadtest/load_target.h"
#include "shared/shared_run.h"

#include <memory>
#include <string>

namespace sluice::cli {

// shared::SharedRun, saying on stderr what it shares.
class SharedRun : public shared::SharedRun {
public:
    SharedRun(const Config& config, Clock& clock, const std::string& program);
};

// A load-test target like loadtest::sluiceTarget, but sharing budgets,
// signals and the fleet with the namespace of `config`'s "shared".
loadtest::TargetFactory sharedSluiceTarget(const Config& config, Clock& clock, DispatcherOptions options,
                                           std::string program);

}  // namespace sluice::cli
