// LoadPlan: a load test's runs planned and checked before any starts, for
// `sluice-cli loadtest` and the console's load-test tab alike: the first
// config's run, then at most one comparison (a second config, or the naive
// client at a fixed concurrency under the first config), the workload's
// flavours resolved against every config, the mock set up as the providers
// (when the runs go to one), every model the workload asks for checked as
// served, and the workload bound to every run's config. Real traffic is
// estimated when asked, so the caller can confirm it before anything is sent.
//
// Thread-safety: a pure function of its arguments (it builds, and drops, an
// unstarted LoadTest per run to bind the workload; nothing is sent).
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "loadtest/load_test.h"
#include "loadtest/request_factory.h"
#include "loadtest/workload.h"
#include "mock/mock_config.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sluice::loadcheck {

struct PlannedRun {
    std::string label;
    Config config;
    std::optional<int> naive;  // set: the naive client with this many in flight
    // Set when estimates were asked for and the run's providers are not on
    // loopback: what the run would send and spend.
    std::optional<loadtest::WorkloadEstimate> estimate;
};

struct LoadPlanRequest {
    Config config;
    std::string label = "sluice";
    // At most one comparison: a second config (its label given) or the
    // naive client (labelled "naive xN").
    std::optional<Config> compare;
    std::string compareLabel;
    std::optional<int> compareNaive;
    // Set: the runs go to a mock built from this one; the first config
    // describes the provider (its limits replace the mock's own unless
    // `mockKeepsLimits`), a second only adds its keys.
    std::optional<mock::MockConfig> mock;
    bool mockKeepsLimits = false;
    bool estimateRealTraffic = false;
    // The options a run is bound with (label, duration, scale, end).
    std::function<loadtest::LoadTestOptions(const PlannedRun&)> options;
};

struct LoadPlan {
    std::vector<PlannedRun> runs;
    loadtest::Workload workload;  // flavours resolved
    std::optional<mock::MockConfig> mock;  // as every run's fresh mock starts
};

// Throws InputError naming the file and what is wrong (a model no provider
// serves, a request a config cannot run); nothing is sent either way.
LoadPlan planLoadTest(LoadPlanRequest request, loadtest::Workload workload, Clock& clock);

}  // namespace sluice::loadcheck
