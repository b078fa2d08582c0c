// RedisConnection: one synchronous connection to a Redis server (hiredis),
// with RAII around redisContext and redisReply, and timeouts so a server
// that stops answering costs a caller a bounded wait, never a hang.
//
// Thread-safety: none; one thread at a time per connection. Use one
// connection per thread.
#pragma once

#include "core/secret.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace sluice::shared {

struct RedisEndpoint {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    Secret password;
    std::chrono::milliseconds timeout{250};
};

// The connection failed or broke: it must be dropped and made again.
class RedisError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
    void operator()(redisReply* r) const noexcept;
};
struct ContextDeleter {
    void operator()(redisContext* c) const noexcept;
};

// One reply, freed on destruction.
class RedisReply {
public:
    explicit RedisReply(redisReply* r) : m_reply(r) {}
    bool isError() const noexcept;
    bool isNil() const noexcept;
    bool isArray() const noexcept;
    std::int64_t integer() const;  // an integer reply (or a numeric string)
    std::string string() const;    // a string, status or error reply
    std::size_t size() const noexcept;  // elements of an array reply
    std::int64_t integerAt(std::size_t i) const;
    std::string stringAt(std::size_t i) const;
    const redisReply* raw() const noexcept { return m_reply.get(); }

private:
    std::unique_ptr<redisReply, ReplyDeleter> m_reply;
};

class RedisConnection {
public:
    // Connects, authenticates and selects the database; throws RedisError.
    explicit RedisConnection(const RedisEndpoint& endpoint);
    RedisConnection(RedisConnection&&) noexcept = default;
    RedisConnection& operator=(RedisConnection&&) noexcept = default;

    // Sends one command and waits for its reply. Throws RedisError when the
    // connection fails (the connection is then unusable); a Redis error
    // reply is returned, not thrown.
    RedisReply command(const std::vector<std::string>& args);
    // The same, throwing RedisError for an error reply too.
    RedisReply checked(const std::vector<std::string>& args);

    // For subscribers: the socket, and the next complete reply already
    // buffered, reading the socket once first when mayRead (only when poll()
    // said it is readable). nullptr when none is complete.
    int fd() const noexcept;
    std::unique_ptr<RedisReply> pollReply(bool mayRead);

private:
    std::unique_ptr<redisContext, ContextDeleter> m_ctx;
    std::string m_where;
};

}  // namespace sluice::shared
