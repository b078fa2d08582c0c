// FileLock: an exclusive advisory lock (flock) on a file beside a state
// database, so two runs never drive the same queue at once. Released when
// the object is destroyed or the process dies (the kernel drops it).
//
// Thread-safety: none; one owner.
#pragma once

#include <string>

namespace sluice {

class FileLock {
public:
    // Tries once; locked() says whether it got the lock.
    explicit FileLock(std::string path);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

    bool locked() const noexcept { return m_fd >= 0; }
    const std::string& path() const noexcept { return m_path; }
    const std::string& error() const noexcept { return m_error; }

private:
    std::string m_path;
    std::string m_error;
    int m_fd = -1;
};

}  // namespace sluice
