// TokenAuth: finds the gateway token a request presents, as
// "authorization: Bearer TOKEN" (OpenAI's SDKs, and Anthropic's since 1.x)
// or "x-api-key: TOKEN" (older Anthropic clients). The presented value is
// hashed and compared with every configured digest in constant time, so
// neither the match nor its position leaks through timing; it is never
// stored or logged.
//
// Thread-safety: immutable after construction; every member from any thread.
// A running gateway changes its tokens by replacing its whole TokenAuth.
#pragma once

#include "gateway/gateway_config.h"
#include "net/http_server.h"

#include <optional>
#include <string_view>
#include <vector>

namespace sluice::gateway {

class TokenAuth {
public:
    explicit TokenAuth(const std::vector<GatewayToken>& tokens);
    explicit TokenAuth(std::vector<TokenPtr> tokens) : m_tokens(std::move(tokens)) {}

    // No tokens configured: the gateway serves whoever reaches it (loopback
    // only, see checkExposure).
    bool open() const noexcept { return m_tokens.empty(); }

    // The token value the request carries, if any (a view into its headers).
    static std::optional<std::string_view> presented(const net::InboundRequest& request);
    // The configured token matching `value`, or null.
    TokenPtr match(std::string_view value) const;

    const std::vector<TokenPtr>& tokens() const noexcept { return m_tokens; }

private:
    std::vector<TokenPtr> m_tokens;
};

}  // namespace sluice::gateway
