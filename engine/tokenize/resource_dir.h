// Where Sluice's read-only data files (the resources/ tree: tokenizer rank
// files, ...) are for the running program: the source tree's resources/ for
// a program run from the build tree it was built in, else the installed
// copy (<prefix>/share/sluice, /usr/share/sluice for the packages). Both
// paths are compile definitions set by engine/CMakeLists.txt.
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
