#include "shared/redis_connection.h"

#include <hiredis/hiredis.h>

#include <sys/time.h>

namespace sluice::shared {

void ReplyDeleter::operator()(redisReply* r) const noexcept
{
    if (r != nullptr) {
        freeReplyObject(r);
    }
}

void ContextDeleter::operator()(redisContext* c) const noexcept
{
    if (c != nullptr) {
        redisFree(c);
    }
}

bool RedisReply::isError() const noexcept
{
    return m_reply && m_reply->type == REDIS_REPLY_ERROR;
}

bool RedisReply::isNil() const noexcept
{
    return !m_reply || m_reply->type == REDIS_REPLY_NIL;
}

bool RedisReply::isArray() const noexcept
{
    return m_reply && m_reply->type == REDIS_REPLY_ARRAY;
}

namespace {

std::int64_t integerOf(const redisReply* r)
{
    if (r == nullptr) {
        throw RedisError("redis: missing reply");
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        return r->integer;
    }
    if (r->type == REDIS_REPLY_STRING) {
        try {
            return std::stoll(std::string(r->str, r->len));
        } catch (const std::exception&) {
        }
    }
    throw RedisError("redis: expected an integer reply");
}

std::string stringOf(const redisReply* r)
{
    if (r == nullptr) {
        throw RedisError("redis: missing reply");
    }
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) {
        return std::string(r->str, r->len);
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        return std::to_string(r->integer);
    }
    return {};
}

}  // namespace

std::int64_t RedisReply::integer() const
{
    return integerOf(m_reply.get());
}

std::string RedisReply::string() const
{
    return stringOf(m_reply.get());
}

std::size_t RedisReply::size() const noexcept
{
    return isArray() ? m_reply->elements : 0;
}

std::int64_t RedisReply::integerAt(std::size_t i) const
{
    if (i >= size()) {
        throw RedisError("redis: reply too short");
    }
    return integerOf(m_reply->element[i]);
}

std::string RedisReply::stringAt(std::size_t i) const
{
    if (i >= size()) {
        throw RedisError("redis: reply too short");
    }
    return stringOf(m_reply->element[i]);
}

RedisConnection::RedisConnection(const RedisEndpoint& e)
    : m_where("redis " + e.host + ":" + std::to_string(e.port))
{
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(e.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((e.timeout.count() % 1000) * 1000);
    m_ctx.reset(redisConnectWithTimeout(e.host.c_str(), e.port, tv));
    if (!m_ctx) {
        throw RedisError(m_where + ": cannot allocate a connection");
    }
    if (m_ctx->err != 0) {
        throw RedisError(m_where + ": " + m_ctx->errstr);
    }
    redisSetTimeout(m_ctx.get(), tv);
    if (!e.password.empty()) {
        // The password goes to the server only; errors never echo it.
        RedisReply r = command({"AUTH", std::string(e.password.view())});
        if (r.isError()) {
            throw RedisError(m_where + ": authentication refused");
        }
    }
    if (e.db != 0) {
        checked({"SELECT", std::to_string(e.db)});
    }
}

RedisReply RedisConnection::command(const std::vector<std::string>& args)
{
    if (!m_ctx) {
        throw RedisError(m_where + ": not connected");
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    void* raw = redisCommandArgv(m_ctx.get(), static_cast<int>(args.size()), argv.data(), lens.data());
    if (raw == nullptr) {
        const std::string why = m_ctx->errstr;
        m_ctx.reset();
        throw RedisError(m_where + ": " + (why.empty() ? "connection lost" : why));
    }
    return RedisReply(static_cast<redisReply*>(raw));
}

RedisReply RedisConnection::checked(const std::vector<std::string>& args)
{
    RedisReply r = command(args);
    if (r.isError()) {
        throw RedisError(m_where + ": " + args.front() + ": " + r.string());
    }
    return r;
}

int RedisConnection::fd() const noexcept
{
    return m_ctx ? m_ctx->fd : -1;
}

std::unique_ptr<RedisReply> RedisConnection::pollReply(bool mayRead)
{
    if (!m_ctx) {
        throw RedisError(m_where + ": not connected");
    }
    void* raw = nullptr;
    if (redisGetReplyFromReader(m_ctx.get(), &raw) != REDIS_OK) {
        m_ctx.reset();
        throw RedisError(m_where + ": protocol error");
    }
    if (raw == nullptr && mayRead) {
        if (redisBufferRead(m_ctx.get()) != REDIS_OK) {
            const std::string why = m_ctx->errstr;
            m_ctx.reset();
            throw RedisError(m_where + ": " + why);
        }
        if (redisGetReplyFromReader(m_ctx.get(), &raw) != REDIS_OK) {
            m_ctx.reset();
            throw RedisError(m_where + ": protocol error");
        }
    }
    if (raw == nullptr) {
        return nullptr;
    }
    return std::make_unique<RedisReply>(static_cast<redisReply*>(raw));
}

}  // namespace sluice::shared
