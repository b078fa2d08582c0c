// Where Sluice's read-only data files (the resources/ tree: tokenizer rank
// files, ...) are for the running program: share/sluice beside the
// program's directory (/usr/bin/../share/sluice installed or unpacked
// anywhere; in a build tree, a link to the source's resources/ that
// engine/CMakeLists.txt makes), else the configured install prefix's.
//
// Thread-safety: pure functions of the file system; any thread.
#pragma once

#include <filesystem>

namespace sluice::tokenize {

// $SLUICE_RESOURCES_DIR when set (tests, relocated installs); else as above.
std::filesystem::path resourceDir();
// resourceDir() / "tokenizers".
std::filesystem::path tokenizerDir();

}  // namespace sluice::tokenize
