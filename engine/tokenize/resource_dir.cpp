#include "tokenize/resource_dir.h"

#include <cstdlib>
#include <system_error>

#ifndef SLUICE_BUILD_DIR
#error "SLUICE_BUILD_DIR must be defined (engine/CMakeLists.txt)"
#endif
#ifndef SLUICE_SOURCE_RESOURCES_DIR
#error "SLUICE_SOURCE_RESOURCES_DIR must be defined (engine/CMakeLists.txt)"
#endif
#ifndef SLUICE_INSTALL_RESOURCES_DIR
#error "SLUICE_INSTALL_RESOURCES_DIR must be defined (engine/CMakeLists.txt)"
#endif

namespace sluice::tokenize {

namespace {

bool isInside(const std::filesystem::path& file, const std::filesystem::path& dir)
{
    const auto rel = file.lexically_relative(dir);
    return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

std::filesystem::path resourceDir()
{
    if (const char* env = std::getenv("SLUICE_RESOURCES_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    const std::filesystem::path source = SLUICE_SOURCE_RESOURCES_DIR;
    const std::filesystem::path installed = SLUICE_INSTALL_RESOURCES_DIR;
    std::error_code ec;
    const auto self = std::filesystem::canonical("/proc/self/exe", ec);
    const auto build = std::filesystem::weakly_canonical(SLUICE_BUILD_DIR, ec);
    const bool fromBuildTree = !self.empty() && !build.empty() && isInside(self, build);
    if (fromBuildTree && std::filesystem::is_directory(source, ec)) {
        return source;
    }
    if (std::filesystem::is_directory(installed, ec)) {
        return installed;
    }
    // A copied binary on a machine with the sources: better than nothing.
    return source;
}

std::filesystem::path tokenizerDir()
{
    return resourceDir() / "tokenizers";
}

}  // namespace sluice::tokenize
