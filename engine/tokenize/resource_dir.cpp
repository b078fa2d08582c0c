#include "tokenize/resource_dir.h"

#include <cstdlib>
#include <system_error>

#ifndef SLUICE_INSTALL_RESOURCES_DIR
#error "SLUICE_INSTALL_RESOURCES_DIR must be defined (engine/CMakeLists.txt)"
#endif

namespace sluice::tokenize {

std::filesystem::path resourceDir()
{
    if (const char* env = std::getenv("SLUICE_RESOURCES_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    std::error_code ec;
    const auto self = std::filesystem::canonical("/proc/self/exe", ec);
    if (!ec) {
        const auto beside = self.parent_path().parent_path() / "share" / "sluice";
        if (std::filesystem::is_directory(beside / "tokenizers", ec)) {
            return beside;
        }
    }
    return SLUICE_INSTALL_RESOURCES_DIR;
}

std::filesystem::path tokenizerDir()
{
    return resourceDir() / "tokenizers";
}

}  // namespace sluice::tokenize
