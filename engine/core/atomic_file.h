// Writes a file so that readers see either the old content or the whole new
// content, never half of it: write a temporary beside it, flush it to disk,
// rename it over the target. A failure leaves the target untouched and says
// what failed, naming the file.
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

// `write` fills the stream; throws FileError on any failure (disk full, no
// permission, missing directory), removing the temporary.
void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace sluice
