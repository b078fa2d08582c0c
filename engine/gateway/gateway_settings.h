// GatewaySettings: the edits the console makes to a configuration's
// "gateway" section (the schema of docs/configuration.md, so a workspace's
// configuration also serves `sluice-cli serve`): where it listens, the hold
// time, and gateway tokens created, revoked, limited and paused. A token
// is minted here from the system's random source; its clear value is
// returned once, as a Secret, and only its SHA-256 digest is written. Every
// edit is checked by reading the section back as the gateway would; one
// that does not read throws InputError and changes nothing.
//
// Thread-safety: none; a value owned by one thread.
#pragma once

#include "core/secret.h"
#include "gateway/gateway_config.h"
#include "host/workspace.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::gateway {

struct NewToken {
    std::string name;
    std::string tenant;  // empty: the name
    int priority = 0;
    std::vector<std::pair<host::LimitField, double>> limits;
    std::vector<std::string> models;  // empty: every model served
};

class GatewaySettings {
public:
    // `section`: the "gateway" object (empty when the configuration has
    // none). `env` resolves tokens given as "token_env".
    GatewaySettings(nlohmann::json section, EnvLookup env);

    const nlohmann::json& section() const noexcept { return m_section; }
    // The section as the gateway reads it. Throws InputError.
    GatewayConfig config() const;
    std::string listen() const;  // "HOST:PORT"
    double holdSeconds() const;

    void setListen(std::string_view hostPort);
    void setHoldSeconds(double seconds);
    // Returns the new token's value: show it once, never store it.
    [[nodiscard]] Secret addToken(const NewToken& token);
    void removeToken(std::string_view name);
    // One field of the token's own limits (nullopt removes it); returns the
    // token's limits as they now are, for Gateway::setTenantLimits.
    std::vector<LimitSpec> setTokenLimit(std::string_view name, host::LimitField field, std::optional<double> value);
    void setTokenPaused(std::string_view name, bool paused);

private:
    // Applies `edit` to a copy, reads the copy back, then keeps it.
    GatewayConfig commit(nlohmann::json next);
    nlohmann::json& tokenDoc(nlohmann::json& section, std::string_view name) const;

    nlohmann::json m_section;
    EnvLookup m_env;
};

// 32 random bytes as "sk-sluice-" and 64 hex digits.
Secret mintGatewayToken();

}  // namespace sluice::gateway
