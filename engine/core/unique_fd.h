// UniqueFd: the owner of one POSIX file descriptor, closed when the owner
// goes. Move-only; -1 owns nothing.
//
// Thread-safety: an owner belongs to one thread at a time; get() of a
// descriptor that stays owned may be used from any thread the kernel call
// allows (a write to an eventfd, for one).
#pragma once

#include <unistd.h>

#include <utility>

namespace sluice {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
    ~UniqueFd()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept
    {
        if (this != &other) {
            UniqueFd gone(std::exchange(m_fd, std::exchange(other.m_fd, -1)));
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return m_fd; }
    bool valid() const noexcept { return m_fd >= 0; }
    // Hands the descriptor over; this owner then owns nothing.
    int release() noexcept { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
};

}  // namespace sluice
