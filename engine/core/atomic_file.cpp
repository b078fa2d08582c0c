#include "core/atomic_file.h"

#include "core/unique_fd.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <streambuf>
#include <unistd.h>
#include <utility>

namespace sluice {

namespace {

std::string errnoText(int error)
{
    return std::strerror(error);
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

// A stream buffer straight onto a file descriptor: 64 KiB at a time. The
// first failed write is remembered (its errno) and fails every later one.
class FdBuffer : public std::streambuf {
public:
    explicit FdBuffer(int fd) : m_fd(fd) { setp(m_buffer.data(), m_buffer.data() + m_buffer.size()); }

    // errno of the first failed write; 0 when none failed.
    int error() const { return m_error; }

protected:
    int_type overflow(int_type ch) override
    {
        if (!drain()) {
            return traits_type::eof();
        }
        if (!traits_type::eq_int_type(ch, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(ch);
            pbump(1);
        }
        return traits_type::not_eof(ch);
    }

    int sync() override { return drain() ? 0 : -1; }

    std::streamsize xsputn(const char* s, std::streamsize n) override
    {
        // Large pieces go past the buffer rather than through it.
        if (n >= static_cast<std::streamsize>(m_buffer.size())) {
            if (!drain()) {
                return 0;
            }
            if (!writeAll(m_fd, s, static_cast<std::size_t>(n))) {
                m_error = errno;
                return 0;
            }
            return n;
        }
        return std::streambuf::xsputn(s, n);
    }

private:
    bool drain()
    {
        if (m_error != 0) {
            return false;
        }
        const std::size_t size = static_cast<std::size_t>(pptr() - pbase());
        if (size > 0 && !writeAll(m_fd, pbase(), size)) {
            m_error = errno;
            return false;
        }
        setp(m_buffer.data(), m_buffer.data() + m_buffer.size());
        return true;
    }

    int m_fd;
    int m_error = 0;
    std::array<char, 64 * 1024> m_buffer{};
};

}  // namespace

void syncDirectory(const std::string& directory)
{
    UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) {
        throw FileError(directory + ": cannot open the directory to flush it (" + errnoText(errno) + ")");
    }
    if (::fsync(fd.get()) != 0 && errno != EINVAL) {
        throw FileError(directory + ": flushing the directory to disk failed (" + errnoText(errno) + ")");
    }
}

void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write)
{
    const std::string temp = path + ".tmp-" + std::to_string(::getpid());
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
        throw FileError(path + ": cannot write (" + errnoText(errno) + ")");
    }
    const auto fail = [&](const std::string& what, int error) {
        ::unlink(temp.c_str());
        throw FileError(path + ": " + what + " (" + errnoText(error) + "); the previous file, if any, is unchanged");
    };
    FdBuffer buffer(fd.get());
    {
        std::ostream out(&buffer);
        // A failed write throws at once: a full disk stops a long write at
        // its first failure instead of formatting the rest for nothing.
        out.exceptions(std::ios::badbit);
        try {
            write(out);
            out.flush();
        } catch (const std::ios::failure&) {
            if (buffer.error() == 0) {
                ::unlink(temp.c_str());
                throw;
            }
        } catch (...) {
            ::unlink(temp.c_str());
            throw;
        }
    }
    if (buffer.error() != 0) {
        fail("write failed", buffer.error());
    }
    if (::fsync(fd.get()) != 0) {
        fail("flush to disk failed", errno);
    }
    if (::close(fd.release()) != 0) {
        fail("close failed", errno);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        fail("rename failed", errno);
    }
    // The rename is in the directory's entries: without this a power cut
    // could bring back the old file (or none) after the caller was told the
    // new one was written.
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    try {
        syncDirectory(parent.empty() ? std::string(".") : parent.string());
    } catch (const FileError& e) {
        throw FileError(path + ": written, but " + e.what() + "; it may not survive a power cut");
    }
}

}  // namespace sluice
