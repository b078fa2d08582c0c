#include "host/workspace.h"

#include "core/atomic_file.h"
#include "store/workspace_path.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace sluice::host {

using nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;

json& requireObject(json& parent, std::string_view field)
{
    json& v = parent[std::string(field)];
    if (!v.is_object()) {
        v = json::object();
    }
    return v;
}

json* findProviderDoc(json& config, std::string_view name)
{
    const auto providers = config.find("providers");
    if (providers == config.end() || !providers->is_array()) {
        return nullptr;
    }
    for (json& p : *providers) {
        if (p.is_object() && p.value("name", "") == name) {
            return &p;
        }
    }
    return nullptr;
}

json* findKeyDoc(json& provider, std::string_view name)
{
    const auto keys = provider.find("keys");
    if (keys == provider.end() || !keys->is_array()) {
        return nullptr;
    }
    for (json& k : *keys) {
        if (k.is_object() && k.value("name", "") == name) {
            return &k;
        }
    }
    return nullptr;
}

}  // namespace

WorkspacePaths workspacePaths(std::string_view name, const std::filesystem::path& dataHome)
{
    WorkspacePaths p;
    p.database = store::workspaceDatabasePath(name, dataHome.string(), "");
    p.settings = p.database;
    p.settings.replace_extension(".json");
    return p;
}

bool workspaceExists(std::string_view name, const std::filesystem::path& dataHome)
{
    const WorkspacePaths p = workspacePaths(name, dataHome);
    std::error_code ec;
    return std::filesystem::exists(p.settings, ec) || std::filesystem::exists(p.database, ec);
}

std::vector<std::string> listWorkspaces(const std::filesystem::path& dataHome)
{
    // Where workspacePaths puts them: the directory of any name's files.
    const std::filesystem::path dir = workspacePaths("x", dataHome).settings.parent_path();
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::filesystem::path& f = it->path();
        if (f.extension() == ".json" && it->is_regular_file(ec)) {
            names.push_back(f.stem().string());
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}


WorkspaceConfig::WorkspaceConfig(json doc, std::string sourceName) : m_doc(std::move(doc)), m_sourceName(std::move(sourceName))
{
}

WorkspaceConfig WorkspaceConfig::parse(std::string sourceName, std::string_view text)
{
    const JsonSource source(sourceName, std::string(text));
    const json& root = source.root();
    if (!root.is_object() || !root.contains("config") || !root.at("config").is_object()) {
        throw InputError(source.describe("", "a workspace is an object with a \"config\" object"));
    }
    for (const auto& [field, value] : root.items()) {
        if (field != "sluice_workspace" && field != "demo" && field != "config" && field != "paused" &&
            field != "gateway_running") {
            throw InputError(source.describe(
                "/" + field, "unknown field (expected sluice_workspace, demo, paused, gateway_running, config)"));
        }
    }
    if (root.contains("sluice_workspace") &&
        (!root.at("sluice_workspace").is_number_integer() || root.at("sluice_workspace").get<int>() > kFormatVersion)) {
        throw InputError(source.describe("/sluice_workspace", "written by a newer Sluice; this one reads version " +
                                                                  std::to_string(kFormatVersion)));
    }
    for (const char* flag : {"demo", "paused", "gateway_running"}) {
        if (root.contains(flag) && !root.at(flag).is_boolean()) {
            throw InputError(source.describe(std::string("/") + flag, "must be true or false"));
        }
    }
    return WorkspaceConfig(root, std::move(sourceName));
}

WorkspaceConfig WorkspaceConfig::load(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw InputError(file.string() + ": cannot open for reading");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse(file.string(), text.str());
}

WorkspaceConfig WorkspaceConfig::demo()
{
    // Per-second enforcement (granularity 1 s) as real providers do it, so a
    // burst is refused within the minute; Anthropic's output tokens over 10 s,
    // since a second's worth of 10,000 OTPM is smaller than one request. Key team-b's real limit (in the
    // mock) is lower than this file says, and key trial runs out of quota:
    // both show what triage does.
    json config = {
        {"global", {{"limits", {{"concurrency", 48}, {"spend_per_day_usd", 20}}}}},
        {"providers",
         json::array(
             {{{"name", "openai"},
               {"flavor", "openai"},
               {"base_url", "http://127.0.0.1:0"},
               {"timeouts", {{"connect_s", 5}, {"total_s", 60}}},
               {"models",
                {{"gpt-4o-mini",
                  {{"limits", {{"rpm", 600}, {"tpm", 150000}, {"granularity_s", 1}}}, {"default_max_tokens", 400}}}}},
               {"keys", json::array({{{"name", "team-a"}, {"env", "SLUICE_DEMO_KEY_TEAM_A"}},
                                     {{"name", "team-b"}, {"env", "SLUICE_DEMO_KEY_TEAM_B"}},
                                     {{"name", "trial"}, {"env", "SLUICE_DEMO_KEY_TRIAL"}}})}},
              {{"name", "anthropic"},
               {"flavor", "anthropic"},
               {"base_url", "http://127.0.0.1:0"},
               {"timeouts", {{"connect_s", 5}, {"total_s", 60}}},
               {"models",
                {{"claude-haiku-4-5",
                  {{"limits", {{"rpm", 120}, {"itpm", 50000}, {"otpm", 10000}, {"granularity_s", 10}}},
                   {"default_max_tokens", 400}}}}},
               {"keys", json::array({{{"name", "main"}, {"env", "SLUICE_DEMO_KEY_ANTHROPIC"}}})}}})},
        {"retry", {{"max_attempts", 4}, {"base_delay_s", 0.2}, {"max_delay_s", 4}}}};
    return WorkspaceConfig(json{{"sluice_workspace", kFormatVersion}, {"demo", true}, {"config", std::move(config)}},
                           "demo.json");
}

WorkspaceConfig WorkspaceConfig::connect(std::string_view providerName, ApiFlavor flavor, std::string_view baseUrl,
                                         std::string_view keyName, std::string_view keyEnv)
{
    json provider = {{"name", providerName},
                     {"flavor", flavorName(flavor)},
                     {"base_url", baseUrl},
                     {"keys", json::array({{{"name", keyName}, {"env", keyEnv}}})}};
    json config = {{"providers", json::array({provider})}};
    return WorkspaceConfig(json{{"sluice_workspace", kFormatVersion}, {"config", std::move(config)}}, "workspace.json");
}

void WorkspaceConfig::save(const std::filesystem::path& file) const
{
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    const std::string content = text();
    writeFileAtomically(file.string(), [&](std::ostream& out) { out << content << '\n'; });
}

std::string WorkspaceConfig::text() const
{
    return m_doc.dump(2);
}

bool WorkspaceConfig::demoEnabled() const
{
    return m_doc.value("demo", false);
}

bool WorkspaceConfig::paused() const
{
    return m_doc.value("paused", false);
}

bool WorkspaceConfig::gatewayRunning() const
{
    return m_doc.value("gateway_running", false);
}

void WorkspaceConfig::setGatewayRunning(bool running)
{
    m_doc["gateway_running"] = running;
}

nlohmann::json WorkspaceConfig::gatewaySection() const
{
    const json& config = m_doc.at("config");
    const auto it = config.find("gateway");
    return it == config.end() ? json::object() : *it;
}

void WorkspaceConfig::setGatewaySection(nlohmann::json section)
{
    m_doc.at("config")["gateway"] = std::move(section);
}

void WorkspaceConfig::setPaused(bool paused)
{
    if (paused) {
        m_doc["paused"] = true;
    } else {
        m_doc.erase("paused");
    }
}

Config WorkspaceConfig::toConfig(const EnvLookup& env, std::vector<MissingKey>& missing) const
{
    // The loader insists on every key's value; a missing one is loaded with
    // a placeholder and disabled here, so one unset variable does not keep
    // the whole workspace from opening.
    constexpr std::string_view kPlaceholder = "sluice-missing-key";
    std::vector<std::pair<std::string, std::string>> unset;  // env name, why
    const EnvLookup lookup = [&](const std::string& name) -> std::optional<std::string> {
        if (auto v = env(name); v && !v->empty()) {
            return v;
        }
        const bool keychain = name.rfind(kKeychainPrefix, 0) == 0;
        unset.emplace_back(name, keychain ? "not in the keychain (or the keychain is unavailable)"
                                          : "environment variable " + name + " is not set");
        return std::string(kPlaceholder);
    };
    Config cfg = loadConfig(JsonSource(m_sourceName, config().dump(2)), lookup);
    for (ProviderConfig& p : cfg.providers) {
        for (KeyConfig& k : p.keys) {
            if (k.value.view() != kPlaceholder) {
                continue;
            }
            const auto it = std::find_if(unset.begin(), unset.end(), [&](const auto& u) { return u.first == k.envVar; });
            k.enabled = false;
            k.value = Secret();
            missing.push_back(MissingKey{p.name, k.name, it != unset.end() ? it->second : "no value"});
        }
    }
    return cfg;
}

std::vector<std::string> WorkspaceConfig::keychainEntries() const
{
    std::vector<std::string> out;
    const json& providers = config().value("providers", json::array());
    for (const json& p : providers) {
        for (const json& k : p.value("keys", json::array())) {
            const std::string env = k.value("env", "");
            if (env.rfind(kKeychainPrefix, 0) == 0) {
                out.push_back(env.substr(kKeychainPrefix.size()));
            }
        }
    }
    return out;
}

json& WorkspaceConfig::providerDoc(std::string_view name)
{
    json* p = findProviderDoc(m_doc.at("config"), name);
    if (p == nullptr) {
        throw InputError("provider: no provider \"" + std::string(name) + "\"");
    }
    return *p;
}

json& WorkspaceConfig::keyDoc(std::string_view provider, std::string_view key)
{
    json* k = findKeyDoc(providerDoc(provider), key);
    if (k == nullptr) {
        throw InputError("key: provider " + std::string(provider) + " has no key \"" + std::string(key) + "\"");
    }
    return *k;
}

json* WorkspaceConfig::limitsDoc(const LimitTarget& t, bool create)
{
    json& config = m_doc.at("config");
    json* owner = nullptr;
    if (t.provider.empty()) {
        if (!create && !config.contains("global")) {
            return nullptr;
        }
        owner = &requireObject(config, "global");
    } else if (t.key.empty() && t.model.empty()) {
        owner = &providerDoc(t.provider);
    } else if (t.key.empty()) {
        json& p = providerDoc(t.provider);
        if (!create && !(p.contains("models") && p["models"].contains(t.model))) {
            return nullptr;
        }
        owner = &requireObject(requireObject(p, "models"), t.model);
    } else if (t.model.empty()) {
        owner = &keyDoc(t.provider, t.key);
    } else {
        json& k = keyDoc(t.provider, t.key);
        if (!create && !(k.contains("models") && k["models"].contains(t.model))) {
            return nullptr;
        }
        owner = &requireObject(requireObject(k, "models"), t.model);
    }
    if (!owner->contains("limits")) {
        if (!create) {
            return nullptr;
        }
        (*owner)["limits"] = json::object();
    }
    return &(*owner)["limits"];
}

const json* WorkspaceConfig::limitsDoc(const LimitTarget& t) const
{
    // The lookup never creates; the const_cast keeps one walk for both uses.
    return const_cast<WorkspaceConfig*>(this)->limitsDoc(t, false);
}

std::vector<LimitSpec> WorkspaceConfig::limitsOf(const LimitTarget& target) const
{
    const json* limits = limitsDoc(target);
    if (limits == nullptr) {
        return {};
    }
    std::vector<std::string> problems;
    const JsonSource source(m_sourceName, json{{"limits", *limits}}.dump());
    auto specs = parseLimits(source, "/limits", problems);
    if (!problems.empty()) {
        throw InputError(problems.front());
    }
    return specs;
}

std::vector<LimitSpec> WorkspaceConfig::setLimit(const LimitTarget& target, LimitField field,
                                                 std::optional<double> value, const std::vector<LimitSpec>& current)
{
    const bool existed = limitsDoc(target) != nullptr;
    json limits = existed ? *limitsDoc(target) : limitsToJson(current);
    const std::string name(limitFieldName(field));
    if (value) {
        if (field == LimitField::SpendPerDayUsd) {
            limits[name] = *value;
        } else {
            limits[name] = static_cast<std::int64_t>(std::llround(*value));
        }
    } else {
        limits.erase(name);
    }
    std::vector<std::string> problems;
    const JsonSource source(m_sourceName, json{{"limits", limits}}.dump());
    std::vector<LimitSpec> specs = parseLimits(source, "/limits", problems);
    if (!problems.empty()) {
        std::string all;
        for (const auto& p : problems) {
            all += (all.empty() ? "" : "; ") + p;
        }
        throw InputError(all);
    }
    if (specs.size() > static_cast<std::size_t>(Ledger::kMaxDimensions)) {
        throw InputError("limits: at most " + std::to_string(Ledger::kMaxDimensions) + " per scope");
    }
    *limitsDoc(target, true) = std::move(limits);
    return specs;
}

void WorkspaceConfig::addProvider(std::string_view name, ApiFlavor flavor, std::string_view baseUrl)
{
    if (name.empty()) {
        throw InputError("name: required");
    }
    if (baseUrl.rfind("http://", 0) != 0 && baseUrl.rfind("https://", 0) != 0) {
        throw InputError("base_url: must start with http:// or https://");
    }
    json& config = m_doc.at("config");
    if (findProviderDoc(config, name) != nullptr) {
        throw InputError("name: a provider \"" + std::string(name) + "\" already exists");
    }
    if (!config["providers"].is_array()) {
        config["providers"] = json::array();
    }
    // Keys are added one by one; the loader wants at least one, which the
    // console asks for together with the provider.
    config["providers"].push_back({{"name", name}, {"flavor", flavorName(flavor)}, {"base_url", baseUrl},
                                   {"keys", json::array()}});
}

void WorkspaceConfig::removeProvider(std::string_view name)
{
    json& providers = m_doc.at("config")["providers"];
    providerDoc(name);  // throws when unknown
    if (providers.size() == 1) {
        throw InputError("provider: a workspace needs at least one provider; add another before removing " +
                         std::string(name));
    }
    for (auto it = providers.begin(); it != providers.end(); ++it) {
        if (it->value("name", "") == name) {
            providers.erase(it);
            return;
        }
    }
}

void WorkspaceConfig::addKey(std::string_view provider, std::string_view key, std::string_view env)
{
    if (key.empty()) {
        throw InputError("key name: required");
    }
    if (env.empty()) {
        throw InputError("key " + std::string(key) + ": name an environment variable or the keychain");
    }
    json& p = providerDoc(provider);
    if (findKeyDoc(p, key) != nullptr) {
        throw InputError("key name: provider " + std::string(provider) + " already has a key \"" + std::string(key) +
                         "\"");
    }
    if (!p["keys"].is_array()) {
        p["keys"] = json::array();
    }
    p["keys"].push_back({{"name", key}, {"env", env}});
}

void WorkspaceConfig::removeKey(std::string_view provider, std::string_view key)
{
    keyDoc(provider, key);  // throws when unknown
    json& keys = providerDoc(provider)["keys"];
    if (keys.size() == 1) {
        throw InputError("key: provider " + std::string(provider) +
                         " needs at least one key; add another, or remove the provider");
    }
    for (auto it = keys.begin(); it != keys.end(); ++it) {
        if (it->value("name", "") == key) {
            keys.erase(it);
            return;
        }
    }
}

void WorkspaceConfig::setKeyEnabled(std::string_view provider, std::string_view key, bool enabled)
{
    json& k = keyDoc(provider, key);
    if (enabled) {
        k.erase("enabled");
    } else {
        k["enabled"] = false;
    }
}

}  // namespace sluice::host
