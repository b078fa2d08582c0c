#include "dispatch/stored_request.h"

#include "providers/protocol.h"

namespace sluice {

std::optional<std::string> setStoredRequest(JobSpec& spec, std::string_view url, std::string bodyText)
{
    const auto route = routeOfPath(url);
    if (!route) {
        return "url: unknown endpoint \"" + std::string(url) + "\" (expected " + std::string(knownRequestPaths()) +
               ")";
    }
    spec.flavor = route->flavor;
    spec.endpoint = route->endpoint;
    spec.body = nlohmann::json::parse(bodyText, nullptr, false);
    if (spec.body.is_discarded() || !spec.body.is_object()) {
        return std::string("body: not a JSON object");
    }
    spec.bodyText = std::move(bodyText);
    return std::nullopt;
}

}  // namespace sluice
