#include "gateway/health.h"

#include <set>
#include <string_view>

namespace sluice::gateway {

Health healthOf(const DispatcherStats& stats, bool draining)
{
    if (draining) {
        return {503, R"({"status":"draining"})"};
    }
    std::set<std::string_view> providers;
    std::set<std::string_view> usable;
    for (const KeyStatus& k : stats.keys) {
        providers.insert(k.provider);
        if (k.state == KeyStatus::State::Ok || k.state == KeyStatus::State::CoolingDown) {
            usable.insert(k.provider);
        }
    }
    const std::size_t without = providers.size() - usable.size();
    if (without == 0) {
        return {200, R"({"status":"serving"})"};
    }
    const std::string count = std::to_string(without);
    if (usable.empty()) {
        return {503, R"({"status":"no_usable_key","providers_without_a_usable_key":)" + count + "}"};
    }
    return {200, R"({"status":"degraded","providers_without_a_usable_key":)" + count + "}"};
}

}  // namespace sluice::gateway
