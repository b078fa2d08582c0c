// Which UpstreamClient (http_client.h) carries the engine's upstream
// transfers: libcurl's (HttpClient) or Sluice's own HTTP/1.1 one
// (H1Client). makeUpstreamClient() picks H1Client unless the environment names a proxy (which libcurl
// honours and H1Client does not) or SLUICE_HTTP_CLIENT=curl says libcurl.
//
// Thread-safety: free functions; the environment is read, not changed.
#pragma once

#include "http/http_client.h"

#include <memory>
#include <string_view>

namespace sluice::http {

enum class UpstreamKind : std::uint8_t { Curl, Native };

// The kind the environment asks for: SLUICE_HTTP_CLIENT=curl|native, else
// Native unless a proxy variable (http_proxy, https_proxy, all_proxy, in
// either case) is set. Throws std::invalid_argument naming a bad value.
UpstreamKind upstreamKindFromEnvironment();

// Driven by its own poll() when `driver` is null.
std::unique_ptr<UpstreamClient> makeUpstreamClient(UpstreamKind kind, SocketDriver* driver = nullptr);

}  // namespace sluice::http
