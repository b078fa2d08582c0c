// RedisServerFixture: a real redis-server (Debian's) for one test, on a free
// loopback port, with persistence off; stop() and start() again on the same
// port simulate an outage. Killed on destruction.
//
// Thread-safety: none; use from the test's thread.
#pragma once

#include "shared/redis_connection.h"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sluice::testing {

class RedisServerFixture {
public:
    RedisServerFixture() : m_port(freePort()) { start(); }
    ~RedisServerFixture() { stop(); }
    RedisServerFixture(const RedisServerFixture&) = delete;
    RedisServerFixture& operator=(const RedisServerFixture&) = delete;

    int port() const noexcept { return m_port; }
    bool running() const noexcept { return m_pid > 0; }

    shared::RedisEndpoint endpoint() const
    {
        shared::RedisEndpoint e;
        e.host = "127.0.0.1";
        e.port = m_port;
        return e;
    }

    void start()
    {
        if (m_pid > 0) {
            return;
        }
        const std::string port = std::to_string(m_port);
        m_pid = ::fork();
        if (m_pid == 0) {
            // Its start-up banner and warnings are not the test's output.
            const int devNull = ::open("/dev/null", O_WRONLY);
            if (devNull >= 0) {
                ::dup2(devNull, STDOUT_FILENO);
                ::dup2(devNull, STDERR_FILENO);
            }
            ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--loglevel", "warning", "--daemonize", "no", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        if (m_pid < 0) {
            throw std::runtime_error("cannot fork redis-server");
        }
        // Ready when it answers PING; waiting here is setup, not a timing assertion.
        for (int i = 0; i < 500; ++i) {
            try {
                shared::RedisConnection c(endpoint());
                if (c.command({"PING"}).string() == "PONG") {
                    return;
                }
            } catch (const shared::RedisError&) {
            }
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                throw std::runtime_error("redis-server exited at start (is it installed? scripts/install-deps.sh)");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        stop();
        throw std::runtime_error("redis-server did not answer on port " + port);
    }

    void stop()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
    }

private:
    static int freePort()
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            if (fd >= 0) {
                ::close(fd);
            }
            throw std::runtime_error("no free port");
        }
        const int port = ntohs(a.sin_port);
        ::close(fd);
        return port;
    }

    int m_port = 0;
    pid_t m_pid = -1;
};

}  // namespace sluice::testing
