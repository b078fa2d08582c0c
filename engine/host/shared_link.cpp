#include "host/shared_link.h"

namespace sluice::host {

std::string sharedStatusLine(const SharedLinkStatus& s)
{
    if (!s.active) {
        return {};
    }
    if (s.stopped) {
        return "Shared budget unreachable: admitting nothing (when_unavailable: stop)" +
               (s.lastError.empty() ? std::string() : " — " + s.lastError);
    }
    if (s.fallback) {
        return "Shared budget unreachable: running on a local share (1/" + std::to_string(s.instances) +
               " of each limit)" + (s.lastError.empty() ? std::string() : " — " + s.lastError);
    }
    return "Shared budget: namespace " + s.ns + ", " + std::to_string(s.fleetSize) + " instance(s) in the fleet" +
           (s.connected ? "" : " (connecting)");
}

}  // namespace sluice::host
