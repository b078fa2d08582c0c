#include "http/upstream_client.h"

#include "http/h1_client.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sluice::http {

namespace {

bool set(const char* name)
{
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
}

}  // namespace

UpstreamKind upstreamKindFromEnvironment()
{
    if (const char* chosen = std::getenv("SLUICE_HTTP_CLIENT"); chosen != nullptr && *chosen != '\0') {
        const std::string v = chosen;
        if (v == "curl") {
            return UpstreamKind::Curl;
        }
        if (v == "native") {
            return UpstreamKind::Native;
        }
        throw std::invalid_argument("SLUICE_HTTP_CLIENT=" + v + ": expected curl or native");
    }
    // libcurl honours these (http_proxy only in lower case, as it does);
    // H1Client does not speak to proxies, so a proxy keeps libcurl.
    for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
        if (set(name)) {
            return UpstreamKind::Curl;
        }
    }
    return UpstreamKind::Native;
}

std::unique_ptr<UpstreamClient> makeUpstreamClient(UpstreamKind kind, SocketDriver* driver)
{
    if (kind == UpstreamKind::Curl) {
        return driver != nullptr ? std::make_unique<HttpClient>(HttpClient::Options{}, *driver) : std::make_unique<HttpClient>();
    }
    return driver != nullptr ? std::make_unique<H1Client>(H1Client::Options{}, *driver) : std::make_unique<H1Client>();
}

}  // namespace sluice::http
