// Writes a file so that readers see either the old content or the whole new
// content, never half of it: the content streams into a temporary beside the
// target (through a small fixed buffer, so a large file is never held in
// memory), which is flushed to disk and renamed over the target; then the
// directory is flushed, so the rename itself survives a power cut. A failure
// before the rename leaves the target untouched and says what failed, naming
// the file.
//
// Thread-safety: independent calls on different paths are safe.
#pragma once

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>

namespace sluice {

class FileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// `write` fills the stream, which goes straight to the temporary file. A
// write that fails (disk full, file too large) makes the stream throw at
// once, so `write` stops early; a throw from `write` itself also abandons the
// file. Throws FileError on any failure (no permission, missing directory,
// disk full) after removing the temporary; any other exception from `write`
// is rethrown as it was, also after removing it.
void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// Flushes a directory's entries (a rename or a new file in it) to disk.
// File systems that cannot flush a directory (EINVAL) are let be. Throws
// FileError naming the directory.
void syncDirectory(const std::string& directory);

}  // namespace sluice
