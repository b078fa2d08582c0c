// The simulated provider a what-if replay runs against, as a mock
// configuration: the limits the provider really enforces are taken from the
// configuration that ran (the operator's record of the provider's tiers),
// per API key and model as providers enforce them, at one-second
// granularity unless a burst says otherwise; its latency is calibrated to
// what was recorded. Keys of the proposed configuration that the current
// one lacks get the models' limits (a new key of the same tier).
//
// Configurations for simulation never read a real key: each key's value is
// a stand-in named after where its value would come from ("sim-" + env),
// so two entries of the same key share its provider-side limits.
//
// Thread-safety: pure functions.
#pragma once

#include "config/config.h"
#include "mock/mock_config.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice::simulate {

// The stand-in value of a key whose value would come from `env`.
std::string standInKey(const std::string& env);

// Loads a configuration (docs/configuration.md), or a workspace settings
// file holding one under "config", with stand-in key values. Throws
// InputError naming file, line and field.
Config loadSimConfig(const JsonSource& source);
Config loadSimConfigFile(const std::string& path);

struct ProviderModelInput {
    const Config* current = nullptr;   // whose limits the provider enforces
    const Config* proposed = nullptr;  // whose new keys it also knows
    std::vector<std::pair<std::string, ApiFlavor>> models;  // every model the traffic uses
    std::optional<Duration> meanLatency;  // recorded, to calibrate to
    std::int64_t meanOutputTokens = 0;
    std::uint64_t seed = 1;
};

mock::MockConfig providerModel(const ProviderModelInput& input);

// A limit the provider enforces over all its keys and models together: a
// provider's own "limits" in the current configuration (the provider
// scope, as docs/configuration.md has it), over every key of that provider
// in either configuration, by stand-in key value.
struct ProviderWideLimit {
    std::string provider;
    mock::RateLimits limits;
    std::set<std::string> keys;
};

std::vector<ProviderWideLimit> providerWideLimits(const Config& current, const Config* proposed);

}  // namespace sluice::simulate
