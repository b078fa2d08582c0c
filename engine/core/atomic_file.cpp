#include "core/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <unistd.h>
#include <utility>

namespace sluice {

namespace {

std::string errnoText()
{
    return std::strerror(errno);
}

// Writes all of data to fd, retrying short writes and interrupts.
bool writeAll(int fd, const char* data, std::size_t size)
{
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

}  // namespace

void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write)
{
    std::ostringstream content;
    write(content);
    const std::string data = content.str();

    const std::string temp = path + ".tmp-" + std::to_string(::getpid());
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
        throw FileError(path + ": cannot write (" + errnoText() + ")");
    }
    const auto fail = [&](const std::string& what) {
        const std::string reason = errnoText();
        ::unlink(temp.c_str());
        throw FileError(path + ": " + what + " (" + reason + "); the previous file, if any, is unchanged");
    };
    if (!writeAll(fd.get(), data.data(), data.size())) {
        fail("write failed");
    }
    if (::fsync(fd.get()) != 0) {
        fail("flush to disk failed");
    }
    if (::close(fd.release()) != 0) {
        fail("close failed");
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        fail("rename failed");
    }
}

}  // namespace sluice
