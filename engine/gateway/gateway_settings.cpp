#include "gateway/gateway_settings.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cmath>
#include <stdexcept>

namespace sluice::gateway {

using nlohmann::json;

namespace {

const GatewayToken* findToken(const GatewayConfig& cfg, std::string_view name)
{
    for (const GatewayToken& t : cfg.tokens) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

// Whole numbers as integers, as the limits schema wants them (spend may
// have cents).
json limitValue(double v)
{
    return v == std::floor(v) && std::abs(v) < 9.0e15 ? json(static_cast<std::int64_t>(v)) : json(v);
}

}  // namespace

Secret mintGatewayToken()
{
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("the system's random source failed: no token was made");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text = "sk-sluice-";
    for (unsigned char b : bytes) {
        text.push_back(kHex[b >> 4]);
        text.push_back(kHex[b & 15]);
    }
    Secret out(text);
    OPENSSL_cleanse(text.data(), text.size());
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return out;
}

GatewaySettings::GatewaySettings(json section, EnvLookup env)
    : m_section(section.is_object() ? std::move(section) : json::object()), m_env(std::move(env))
{
}

GatewayConfig GatewaySettings::config() const
{
    return loadGatewayConfig(JsonSource("the workspace's gateway settings", json{{"gateway", m_section}}.dump()), m_env);
}

std::string GatewaySettings::listen() const
{
    return m_section.value("listen", std::string("127.0.0.1:8080"));
}

double GatewaySettings::holdSeconds() const
{
    return m_section.value("hold_s", 30.0);
}

GatewayConfig GatewaySettings::commit(json next)
{
    GatewayConfig cfg =
        loadGatewayConfig(JsonSource("the workspace's gateway settings", json{{"gateway", next}}.dump()), m_env);
    m_section = std::move(next);
    return cfg;
}

json& GatewaySettings::tokenDoc(json& section, std::string_view name) const
{
    if (section.contains("tokens") && section["tokens"].is_array()) {
        for (json& t : section["tokens"]) {
            if (t.is_object() && t.value("name", std::string()) == name) {
                return t;
            }
        }
    }
    throw InputError("no gateway token is named \"" + std::string(name) + "\"");
}

void GatewaySettings::setListen(std::string_view hostPort)
{
    std::string host;
    std::uint16_t port = 0;
    parseListen(hostPort, "listen address", host, port);
    json next = m_section;
    next["listen"] = std::string(hostPort);
    commit(next);
}

void GatewaySettings::setHoldSeconds(double seconds)
{
    if (!(seconds >= 0 && seconds <= 600)) {
        throw InputError("hold time: must be between 0 and 600 seconds");
    }
    json next = m_section;
    next["hold_s"] = seconds;
    commit(next);
}

Secret GatewaySettings::addToken(const NewToken& token)
{
    if (token.name.empty()) {
        throw InputError("a gateway token needs a name");
    }
    json next = m_section;
    for (const json& t : next.value("tokens", json::array())) {
        if (t.is_object() && t.value("name", std::string()) == token.name) {
            throw InputError("a gateway token named \"" + token.name + "\" exists already");
        }
    }
    Secret value = mintGatewayToken();
    json t = {{"name", token.name}, {"token_sha256", toHex(sha256(value.view()))}};
    if (!token.tenant.empty() && token.tenant != token.name) {
        t["tenant"] = token.tenant;
    }
    if (token.priority != 0) {
        t["priority"] = token.priority;
    }
    if (!token.limits.empty()) {
        json limits = json::object();
        for (const auto& [field, v] : token.limits) {
            limits[std::string(host::limitFieldName(field))] = limitValue(v);
        }
        t["limits"] = std::move(limits);
    }
    if (!token.models.empty()) {
        t["models"] = token.models;
    }
    next["tokens"].push_back(std::move(t));
    commit(next);
    return value;
}

void GatewaySettings::removeToken(std::string_view name)
{
    json next = m_section;
    json& tokens = next["tokens"];
    tokenDoc(next, name);  // throws when unknown
    for (auto it = tokens.begin(); it != tokens.end(); ++it) {
        if (it->is_object() && it->value("name", std::string()) == name) {
            tokens.erase(it);
            break;
        }
    }
    commit(next);
}

std::vector<LimitSpec> GatewaySettings::setTokenLimit(std::string_view name, host::LimitField field,
                                                      std::optional<double> value)
{
    json next = m_section;
    json& t = tokenDoc(next, name);
    const std::string key(host::limitFieldName(field));
    if (value) {
        if (!std::isfinite(*value) || *value <= 0) {
            throw InputError("gateway token \"" + std::string(name) + "\": " + key + " must be a positive number");
        }
        t["limits"][key] = limitValue(*value);
    } else if (t.contains("limits")) {
        t["limits"].erase(key);
        if (t["limits"].empty()) {
            t.erase("limits");
        }
    }
    const GatewayConfig cfg = commit(next);
    return findToken(cfg, name)->limits;
}

void GatewaySettings::setTokenPaused(std::string_view name, bool paused)
{
    json next = m_section;
    json& t = tokenDoc(next, name);
    if (paused) {
        t["paused"] = true;
    } else {
        t.erase("paused");
    }
    commit(next);
}

}  // namespace sluice::gateway
