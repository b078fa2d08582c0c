// Fuzzes the configuration loader (config/config.h): any text either loads
// or throws InputError; nothing else may escape, crash or leak.
#include "config/config.h"

#include <cstdint>
#include <optional>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    // Every variable is set, so the keys' checks run too.
    const sluice::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
        if (name.empty() || name == "UNSET") {
            return std::nullopt;
        }
        return "sk-fuzz-" + name;
    };
    try {
        const sluice::JsonSource source("config.json", text);
        const sluice::Config config = sluice::loadConfig(source, env);
        // A loaded config answers routing questions without surprises.
        for (const sluice::ProviderConfig& p : config.providers) {
            (void)config.route(p.flavor, p.models.empty() ? std::string("m") : p.models.front().name, p.name);
            for (const sluice::LimitSpec& l : p.limits) {
                (void)sluice::burstFor(l.limit, p.learnedGranularity);
            }
        }
    } catch (const sluice::InputError&) {
    }
    return 0;
}
