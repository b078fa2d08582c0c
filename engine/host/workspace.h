// A workspace: what the desktop console opens and reopens. One name gives
// two files side by side in the data directory: NAME.db, the durable job
// queue (JobStore), and NAME.json, the workspace's settings: the Sluice
// configuration (docs/configuration.md) under "config", whether the
// built-in demo (an embedded mock provider and a workload) runs, and
// whether dispatch is paused (so a pause survives a restart).
//
// Edits made in the console (limits, providers, keys) change the JSON
// document here, which is saved, and give the limits the running
// Dispatcher must now have, so the file and the engine never disagree and
// the next start has every change.
//
// A key's value is never in the file: its "env" names an environment
// variable, or "keychain:PROVIDER/KEY" for a value the console keeps in the
// system keychain and passes in when it opens the workspace.
//
// Thread-safety: none; a value owned by one thread.
#pragma once

#include "admission/limits.h"
#include "config/config.h"
#include "config/config_writer.h"
#include "dispatch/dispatch_types.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::host {

inline constexpr std::string_view kKeychainPrefix = "keychain:";

struct WorkspacePaths {
    std::filesystem::path database;  // NAME.db
    std::filesystem::path settings;  // NAME.json
};

// `dataHome` is the user's data directory (XDG_DATA_HOME, or what
// QStandardPaths says); the files go in its "sluice" directory. Throws
// std::invalid_argument for a name that is not a plain file name.
WorkspacePaths workspacePaths(std::string_view name, const std::filesystem::path& dataHome);
// Whether a workspace of that name has either of its files.
bool workspaceExists(std::string_view name, const std::filesystem::path& dataHome);
// The names of the workspaces in the data directory (those with a settings
// file), sorted. Reads the directory: off the GUI thread when it may be slow.
std::vector<std::string> listWorkspaces(const std::filesystem::path& dataHome);

// The limits object's fields, written by the configuration's writer
// (config/config_writer.h) beside its reader.
using ::sluice::kLimitFieldCount;
using ::sluice::LimitField;
using ::sluice::limitFieldName;
using ::sluice::limitFieldOf;
using ::sluice::limitFieldValue;

// A key the console could not give a value (variable unset, keychain
// locked): it is loaded disabled, and this says why.
struct MissingKey {
    std::string provider;
    std::string key;
    std::string why;
};

class WorkspaceConfig {
public:
    // Throws InputError naming the file, line and field.
    static WorkspaceConfig load(const std::filesystem::path& file);
    static WorkspaceConfig parse(std::string sourceName, std::string_view text);
    // The built-in demo: two providers on the embedded mock, with keys that
    // hit their limits, run out of quota, and fail now and then.
    static WorkspaceConfig demo();
    // One provider with one key, as the "Connect a provider" page asks.
    static WorkspaceConfig connect(std::string_view providerName, ApiFlavor flavor, std::string_view baseUrl,
                                   std::string_view keyName, std::string_view keyEnv);

    // Throws FileError naming the file; never leaves half a file.
    void save(const std::filesystem::path& file) const;
    std::string text() const;

    bool demoEnabled() const;
    // Dispatch paused by the operator: the next open starts paused too.
    bool paused() const;
    void setPaused(bool paused);
    const nlohmann::json& config() const noexcept { return m_doc.at("config"); }
    // The console runs the gateway with the workspace (its "gateway"
    // section, in the configuration's schema, edited through
    // gateway::GatewaySettings; tokens there as SHA-256 digests only).
    bool gatewayRunning() const;
    void setGatewayRunning(bool running);
    nlohmann::json gatewaySection() const;  // an empty object when absent
    void setGatewaySection(nlohmann::json section);

    // The engine's configuration. A key whose value `env` cannot give is
    // loaded disabled (and never sent) and listed in `missing`. Throws
    // InputError when the document is not a valid configuration.
    Config toConfig(const EnvLookup& env, std::vector<MissingKey>& missing) const;
    // "keychain:" entries ("PROVIDER/KEY") the console must read first.
    std::vector<std::string> keychainEntries() const;

    // Sets one field of the target's limits (nullopt removes it) and returns
    // the target's limits as they now are, for Dispatcher::setLimits. A
    // target without a limits object in the file starts from `current` (what
    // the engine enforces now, learned limits included), so only the field
    // edited changes. Throws InputError for an unknown target or a value
    // out of range; then nothing changed.
    std::vector<LimitSpec> setLimit(const LimitTarget& target, LimitField field, std::optional<double> value,
                                    const std::vector<LimitSpec>& current);
    // The target's limits in the file (empty when it has none).
    std::vector<LimitSpec> limitsOf(const LimitTarget& target) const;

    // Each throws InputError naming the problem and then changes nothing.
    void addProvider(std::string_view name, ApiFlavor flavor, std::string_view baseUrl);
    void removeProvider(std::string_view name);
    void addKey(std::string_view provider, std::string_view key, std::string_view env);
    void removeKey(std::string_view provider, std::string_view key);
    void setKeyEnabled(std::string_view provider, std::string_view key, bool enabled);

private:
    explicit WorkspaceConfig(nlohmann::json doc, std::string sourceName);
    nlohmann::json& providerDoc(std::string_view name);
    nlohmann::json& keyDoc(std::string_view provider, std::string_view key);
    // The limits object the target is read from and written to (created
    // when `create`), or nullptr.
    nlohmann::json* limitsDoc(const LimitTarget& target, bool create);
    const nlohmann::json* limitsDoc(const LimitTarget& target) const;

    nlohmann::json m_doc;
    std::string m_sourceName;
};

using ::sluice::limitsToJson;

}  // namespace sluice::host
