// Served models: whether every model a load-test workload asks for is one a
// provider will answer, checked before anything starts (sluice-cli loadtest
// and the console's load-test tab both call it). A provider that lists its
// models serves those; one that lists none is taken at its word for models
// nobody knows, but not for a model known to be another flavour's (an
// Anthropic endpoint does not answer "gpt-4o-mini": the run would fail every
// such request with not_found). What is known comes from a mock provider's
// model table: the mock the run goes to, or the stock mock's for real
// providers.
//
// Thread-safety: a pure function.
#pragma once

#include "config/config.h"
#include "loadtest/workload.h"
#include "mock/mock_config.h"

#include <string>
#include <vector>

namespace sluice::loadcheck {

// Call after loadtest::resolveFlavors. Returns one problem per model no
// provider serves, each naming the model, where the workload asks for it,
// and what the config's providers serve; empty when every model is served.
std::vector<std::string> unservedModels(const loadtest::Workload& workload, const Config& config,
                                        const mock::MockConfig& known);

// Throws InputError listing the problems ("WORKLOAD: N problem(s)…") when
// there are any.
void requireServedModels(const loadtest::Workload& workload, const Config& config, const mock::MockConfig& known);

}  // namespace sluice::loadcheck
