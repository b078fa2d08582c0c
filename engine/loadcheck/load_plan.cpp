#include "loadcheck/load_plan.h"

#include "loadcheck/served_models.h"
#include "loadtest/mock_setup.h"

#include <algorithm>

namespace sluice::loadcheck {

namespace {

bool sendsRealTraffic(const Config& config)
{
    return std::any_of(config.providers.begin(), config.providers.end(),
                       [](const ProviderConfig& p) { return !loadtest::isLoopbackUrl(p.baseUrl); });
}

}  // namespace

LoadPlan planLoadTest(LoadPlanRequest request, loadtest::Workload workload, Clock& clock)
{
    LoadPlan plan;
    plan.runs.push_back(PlannedRun{request.label, std::move(request.config), std::nullopt, std::nullopt});
    if (request.compare) {
        plan.runs.push_back(PlannedRun{request.compareLabel, std::move(*request.compare), std::nullopt, std::nullopt});
    } else if (request.compareNaive) {
        plan.runs.push_back(PlannedRun{"naive x" + std::to_string(*request.compareNaive), plan.runs[0].config,
                                       request.compareNaive, std::nullopt});
    }
    for (const PlannedRun& run : plan.runs) {
        loadtest::resolveFlavors(workload, run.config);
    }
    if (request.mock) {
        mock::MockConfig m = std::move(*request.mock);
        for (std::size_t i = 0; i < plan.runs.size(); ++i) {
            m = loadtest::mockFor(plan.runs[i].config, workload, std::move(m), !request.mockKeepsLimits && i == 0);
        }
        plan.mock = std::move(m);
    }
    // A model no provider answers would fail every such request with
    // not_found: refused here, naming the model, before anything starts.
    // What is known of real providers comes from the stock mock's table.
    const mock::MockConfig known = plan.mock ? *plan.mock : mock::MockConfig::defaults();
    for (const PlannedRun& run : plan.runs) {
        requireServedModels(workload, run.config, known);
    }
    // Binding the workload to each config is the check; nothing is sent.
    for (PlannedRun& run : plan.runs) {
        const loadtest::LoadTest check(workload, run.config, clock,
                                       request.options ? request.options(run) : loadtest::LoadTestOptions{});
        if (request.estimateRealTraffic && !plan.mock && sendsRealTraffic(run.config)) {
            run.estimate = loadtest::estimateWorkload(check.workload(), run.config);
        }
    }
    plan.workload = std::move(workload);
    return plan;
}

}  // namespace sluice::loadcheck
