// GatewayConfig: the "gateway" section of the configuration file (schema:
// docs/configuration.md): where the gateway listens, how long it holds a
// request that cannot be admitted yet, and the tokens its clients present,
// each naming a tenant, a priority, the tenant's own limits and the models it
// may use. Tokens are kept as SHA-256 digests only: a token in the file is
// given as its digest, or as the name of an environment variable that holds
// it; the clear value is hashed when read and never kept.
//
// Thread-safety: a value; immutable after loading.
#pragma once

#include "admission/limits.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json_source.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::gateway {

using Digest = std::array<std::uint8_t, 32>;

// SHA-256 of `text`.
Digest sha256(std::string_view text);
// Lower-case hex of a digest, and back (false for anything else).
std::string toHex(const Digest& d);
bool fromHex(std::string_view hex, Digest& out);

struct GatewayToken {
    std::string name;          // a label, safe to show and log
    Digest digest{};           // SHA-256 of the token
    std::string tenant;        // metrics, fair-queue weight and limits are the tenant's
    int priority = 0;          // higher goes first in the fair queue
    std::vector<LimitSpec> limits;  // the tenant's own budget (concurrency, rpm, tpm, spend)
    std::set<std::string, std::less<>> models;  // empty: every model the config serves
    bool paused = false;       // held at the gate until resumed (the console's pause)

    bool allows(std::string_view model) const { return models.empty() || models.count(model) > 0; }
};

// A token as the running gateway shares it: the table that matches
// requests, the tenant gate and every request under way hold the same one,
// so a token revoked while its requests run stays valid for them.
using TokenPtr = std::shared_ptr<const GatewayToken>;

struct GatewayConfig {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    Duration hold = std::chrono::seconds(30);      // the longest a request waits for admission
    // Anthropic's Messages limit: room for a request with a few photos or a
    // PDF (base64 adds a third), which a provider would take.
    std::size_t maxBodyBytes = 32u << 20;
    Duration requestTimeout = std::chrono::seconds(10);  // to receive a whole request (slowloris)
    std::vector<GatewayToken> tokens;
};

// Reads the "gateway" section of `source` (defaults when absent). Throws
// InputError listing every problem as "file:line: /gateway/…: problem".
GatewayConfig loadGatewayConfig(const JsonSource& source, const EnvLookup& env);

// "HOST:PORT" (HOST an IP literal or "localhost"). Throws InputError naming
// `what` (the flag or field) when malformed.
void parseListen(std::string_view text, std::string_view what, std::string& host, std::uint16_t& port);
bool isLoopback(std::string_view host);
// Empty when the gateway may start as configured; otherwise why not (a
// non-loopback address with no tokens would serve anyone who can reach it).
std::string checkExposure(const GatewayConfig& config);

}  // namespace sluice::gateway
