// Loaded into the real sluice-cli with LD_PRELOAD by tst_batch_cli, so a
// batch meets a disk that fills up without any test hook in the program:
// when SLUICE_TEST_DISK_BYTES is set, a FullDiskVfs allowing that many bytes
// becomes SQLite's default VFS before main() runs. Never linked into a
// program; nothing outside tests builds it into anything.
#include "support/full_disk_vfs.h"

#include <cstdlib>
#include <memory>

namespace {

std::unique_ptr<sluice::test::FullDiskVfs> installFromEnvironment()
{
    const char* bytes = std::getenv("SLUICE_TEST_DISK_BYTES");
    if (bytes == nullptr || *bytes == '\0') {
        return nullptr;
    }
    return std::make_unique<sluice::test::FullDiskVfs>(std::strtoll(bytes, nullptr, 10));
}

// Lives for the whole process: the program's connections use it until exit.
const std::unique_ptr<sluice::test::FullDiskVfs> g_vfs = installFromEnvironment();

}  // namespace
