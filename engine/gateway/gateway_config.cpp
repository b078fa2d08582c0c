#include "gateway/gateway_config.h"

#include "core/json_reader.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace sluice::gateway {

using nlohmann::json;

Digest sha256(std::string_view text)
{
    Digest out{};
    unsigned int size = 0;
    // EVP_Digest is one call over a fresh context: nothing to free.
    if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size()) {
        throw std::runtime_error("SHA-256 failed");
    }
    return out;
}

std::string toHex(const Digest& d)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (std::uint8_t b : d) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

bool fromHex(std::string_view hex, Digest& out)
{
    if (hex.size() != 64) {
        return false;
    }
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return true;
}

void parseListen(std::string_view text, std::string_view what, std::string& host, std::uint16_t& port)
{
    const auto colon = text.rfind(':');
    const auto bad = [&] {
        return InputError(std::string(what) + ": \"" + std::string(text) + "\" must look like 127.0.0.1:8080");
    };
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        throw bad();
    }
    std::string_view h = text.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
        h = h.substr(1, h.size() - 2);
    }
    unsigned long p = 0;
    for (char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9' || p > 65535) {
            throw bad();
        }
        p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p > 65535) {
        throw bad();
    }
    host = std::string(h);
    port = static_cast<std::uint16_t>(p);
}

bool isLoopback(std::string_view host)
{
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string checkExposure(const GatewayConfig& config)
{
    if (config.tokens.empty() && !isLoopback(config.host)) {
        return "refusing to listen on " + config.host +
               " with no gateway tokens configured: anyone who can reach it could spend the provider keys; "
               "add /gateway/tokens or listen on 127.0.0.1";
    }
    return {};
}

namespace {

// One entry of /gateway/tokens; its problems go to r, named by tp. names
// collects the token names seen so far, to refuse a repeat.
GatewayToken readToken(const JsonSource& src, JsonReader& r, std::vector<std::string>& problems, const json& t,
                       const std::string& tp, const EnvLookup& env, std::set<std::string>& names)
{
    r.onlyKnown(t, tp, {"name", "token_env", "token_sha256", "tenant", "priority", "limits", "models", "paused",
                         "comment"});
    GatewayToken tok;
    tok.name = r.string(t, tp, "name", true).value_or("");
    if (!tok.name.empty() && !names.insert(tok.name).second) {
        r.problem(tp + "/name", "duplicate token name \"" + tok.name + "\"");
    }
    const auto envVar = r.string(t, tp, "token_env", false);
    const auto hash = r.string(t, tp, "token_sha256", false);
    if (t.contains("token")) {
        r.problem(tp + "/token", "a token is never written in the file: give \"token_env\" (an environment "
                                 "variable holding it) or \"token_sha256\" (its SHA-256 in hex)");
    } else if (envVar.has_value() == hash.has_value()) {
        r.problem(tp, "needs exactly one of \"token_env\" and \"token_sha256\"");
    } else if (envVar) {
        const std::optional<std::string> value = env(*envVar);
        if (!value || value->empty()) {
            r.problem(tp + "/token_env", "environment variable " + *envVar + " is not set");
        } else {
            tok.digest = sha256(*value);
        }
    } else if (!fromHex(*hash, tok.digest)) {
        r.problem(tp + "/token_sha256", "must be 64 hexadecimal digits (sha256sum of the token)");
    }
    tok.tenant = r.string(t, tp, "tenant", false).value_or(tok.name);
    tok.priority = static_cast<int>(r.integer(t, tp, "priority", -1000, 1000).value_or(0));
    tok.paused = r.boolean(t, tp, "paused").value_or(false);
    if (t.contains("limits")) {
        if (t["limits"].is_object()) {
            tok.limits = parseLimits(src, tp + "/limits", problems);
        } else {
            r.problem(tp + "/limits", "must be an object like {\"rpm\": 60}");
        }
    }
    if (const auto m = t.find("models"); m != t.end()) {
        if (!m->is_array()) {
            r.problem(tp + "/models", "must be an array of model names");
        } else {
            for (std::size_t k = 0; k < m->size(); ++k) {
                if (!(*m)[k].is_string()) {
                    r.problem(jsonPointerAppend(tp + "/models", k), "must be a string");
                } else {
                    tok.models.insert((*m)[k].get<std::string>());
                }
            }
        }
    }
    return tok;
}

}  // namespace

GatewayConfig loadGatewayConfig(const JsonSource& src, const EnvLookup& env)
{
    GatewayConfig cfg;
    const json& root = src.root();
    if (!root.is_object() || !root.contains("gateway")) {
        return cfg;
    }
    std::vector<std::string> problems;
    JsonReader r(src, problems);
    const json* g = r.object(root, "", "gateway", false);
    if (g == nullptr) {
        throwIfProblems(src.name(), problems);
        return cfg;
    }
    const std::string gp = "/gateway";
    r.onlyKnown(*g, gp, {"listen", "hold_s", "max_body_bytes", "request_timeout_s", "tokens", "comment"});
    if (auto listen = r.string(*g, gp, "listen", false)) {
        try {
            parseListen(*listen, "listen", cfg.host, cfg.port);
        } catch (const InputError& e) {
            r.problem(gp + "/listen", e.what());
        }
    }
    if (auto v = r.number(*g, gp, "hold_s", 0, 600)) {
        cfg.hold = secondsToDuration(*v);
    }
    if (auto v = r.integer(*g, gp, "max_body_bytes", 1024, std::int64_t{1} << 30)) {
        cfg.maxBodyBytes = static_cast<std::size_t>(*v);
    }
    if (auto v = r.number(*g, gp, "request_timeout_s", 0.1, 3600)) {
        cfg.requestTimeout = secondsToDuration(*v);
    }
    const auto tokens = g->find("tokens");
    if (tokens != g->end() && !tokens->is_array()) {
        r.problem(gp + "/tokens", "must be an array of token objects");
    } else if (tokens != g->end()) {
        std::set<std::string> names;
        for (std::size_t i = 0; i < tokens->size(); ++i) {
            const std::string tp = jsonPointerAppend(gp + "/tokens", i);
            const json& t = (*tokens)[i];
            if (!t.is_object()) {
                r.problem(tp, "must be an object");
                continue;
            }
            GatewayToken tok = readToken(src, r, problems, t, tp, env, names);
            cfg.tokens.push_back(std::move(tok));
        }
    }
    throwIfProblems(src.name(), problems);
    return cfg;
}

}  // namespace sluice::gateway
