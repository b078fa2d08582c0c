// ConfigEdits: the one place a live change to the dispatcher's configuration
// is checked and written. Each returns the configuration with the change
// made, or throws InputError naming the problem and changes nothing; the
// dispatcher thread then reads the edited configuration (KeyPool::adopt)
// rather than writing the same change a second time.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include "config/config.h"
#include "dispatch/dispatch_types.h"

#include <string>
#include <vector>

namespace sluice::edits {

// Throws InputError when a scope's limits are too many or invalid.
void checkLimits(const std::vector<LimitSpec>& limits);

Config addProvider(const Config& c, const ProviderConfig& provider);
// Marked, not erased: queued jobs refer to providers by position.
Config removeProvider(const Config& c, const std::string& provider);
Config addKey(const Config& c, const std::string& provider, const KeyConfig& key);
Config removeKey(const Config& c, const std::string& provider, const std::string& key);
Config setLimits(const Config& c, const LimitTarget& target, const std::vector<LimitSpec>& limits);
// An unknown provider or key changes nothing (and is no error).
Config setKeyEnabled(const Config& c, const std::string& provider, const std::string& key, bool enabled);

}  // namespace sluice::edits
