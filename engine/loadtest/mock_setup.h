// A rehearsal against the in-process mock provider: the mock set up as the
// providers a config describes (its keys, its models and their per-key
// limits), and the config pointed at it. Also tells a real provider from a
// local one, so a run that would spend money asks first.
//
// Thread-safety: pure functions.
#pragma once

#include "config/config.h"
#include "loadtest/workload.h"
#include "mock/mock_config.h"

#include <string>
#include <string_view>

namespace sluice::loadtest {

// Resolves every key variable a config names to "sk-mock-NAME", so a
// rehearsal needs (and reads) no real key.
EnvLookup mockKeyLookup();

// The mock as `config`'s providers: every key of the config (loaded with
// mockKeyLookup) and every model the config or the workload (flavours
// resolved) uses. With `configWins`, the config's per-minute model limits
// replace those of `base` (the stock mock); otherwise `base` (a mock
// configuration the user wrote) keeps its own and only gains what it lacks.
mock::MockConfig mockFor(const Config& config, const Workload& workload, mock::MockConfig base, bool configWins);

// Every provider of `config` sent to `baseUrl`.
Config pointedAt(Config config, const std::string& baseUrl);

// True for http(s)://localhost, 127.x.x.x and [::1] URLs.
bool isLoopbackUrl(std::string_view url);

}  // namespace sluice::loadtest
