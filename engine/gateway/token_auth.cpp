#include "gateway/token_auth.h"

#include <openssl/crypto.h>

namespace sluice::gateway {

TokenAuth::TokenAuth(const std::vector<GatewayToken>& tokens)
{
    for (const GatewayToken& t : tokens) {
        m_tokens.push_back(std::make_shared<const GatewayToken>(t));
    }
}

std::optional<std::string_view> TokenAuth::presented(const net::InboundRequest& request)
{
    if (const auto auth = request.header("authorization")) {
        std::string_view v = *auth;
        if (v.size() > 7 && net::headerNameEquals(v.substr(0, 7), "bearer ")) {
            v.remove_prefix(7);
            while (!v.empty() && v.front() == ' ') {
                v.remove_prefix(1);
            }
            if (!v.empty()) {
                return v;
            }
        }
    }
    if (const auto key = request.header("x-api-key"); key && !key->empty()) {
        return *key;
    }
    return std::nullopt;
}

TokenPtr TokenAuth::match(std::string_view value) const
{
    const Digest d = sha256(value);
    const TokenPtr* found = nullptr;
    // Every digest is compared, whatever matched before, and CRYPTO_memcmp
    // takes the same time for any content.
    for (const TokenPtr& t : m_tokens) {
        const bool equal = CRYPTO_memcmp(d.data(), t->digest.data(), d.size()) == 0;
        found = equal ? &t : found;
    }
    return found != nullptr ? *found : nullptr;
}

}  // namespace sluice::gateway
