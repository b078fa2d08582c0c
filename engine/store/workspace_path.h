// Where a workspace's job store lives when no `--state FILE` is given:
// $XDG_DATA_HOME/sluice/<workspace>.db, or ~/.local/share/sluice/<workspace>.db
// when XDG_DATA_HOME is unset, empty or relative (as the XDG spec says).
//
// Thread-safety: pure, except the overload that reads the environment (safe
// unless another thread changes the environment at the same time).
#pragma once

#include <filesystem>
#include <string_view>

namespace sluice::store {

// Throws std::invalid_argument for a workspace name that is not a plain file
// name ([A-Za-z0-9._-], not starting with '.') or when neither a usable
// xdgDataHome nor home is given.
std::filesystem::path workspaceDatabasePath(std::string_view workspace, std::string_view xdgDataHome,
                                            std::string_view home);
std::filesystem::path workspaceDatabasePath(std::string_view workspace);

}  // namespace sluice::store
