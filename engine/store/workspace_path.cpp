#include "store/workspace_path.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sluice::store {

namespace {

bool validWorkspace(std::string_view name)
{
    if (name.empty() || name.size() > 100 || name.front() == '.') {
        return false;
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string_view env(const char* name)
{
    const char* value = std::getenv(name);
    return value == nullptr ? std::string_view() : std::string_view(value);
}

}  // namespace

std::filesystem::path workspaceDatabasePath(std::string_view workspace, std::string_view xdgDataHome,
                                            std::string_view home)
{
    if (!validWorkspace(workspace)) {
        throw std::invalid_argument("workspace name \"" + std::string(workspace) +
                                    "\": use letters, digits, '-', '_' and '.', not starting with '.'");
    }
    std::filesystem::path base;
    if (const std::filesystem::path xdg(xdgDataHome); !xdg.empty() && xdg.is_absolute()) {
        base = xdg;
    } else if (!home.empty()) {
        base = std::filesystem::path(home) / ".local" / "share";
    } else {
        throw std::invalid_argument(
            "cannot place the workspace's state file: neither XDG_DATA_HOME nor HOME is set; pass --state FILE");
    }
    return base / "sluice" / (std::string(workspace) + ".db");
}

std::filesystem::path workspaceDatabasePath(std::string_view workspace)
{
    return workspaceDatabasePath(workspace, env("XDG_DATA_HOME"), env("HOME"));
}

}  // namespace sluice::store
