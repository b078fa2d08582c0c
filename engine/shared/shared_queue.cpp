#include "shared/shared_queue.h"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace sluice::shared {

using nlohmann::json;

namespace {

// Every script checks the caller holds the entry (its XPENDING owner)
// before it changes anything, so the check and the change are one step.
const char* const kEnqueue = R"lua(
local out = {}
for i = 1, #ARGV, 3 do
  local f = redis.call('HGET', KEYS[2], ARGV[i])
  if f then
    out[#out + 1] = (f == ARGV[i + 1]) and 1 or 2
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[i + 2])
    out[#out + 1] = 0
  end
end
return out
)lua";

const char* const kComplete = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
if redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5]) == 0 then return 0 end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[6]) end
return 1
)lua";

const char* const kRenew = R"lua(
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
)lua";

const char* const kRelease = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
if #e == 1 then redis.call('XADD', KEYS[1], '*', unpack(e[1][2])) end
return 1
)lua";

const char* const kLeave = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
)lua";

const char* const kRequeue = R"lua(
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
return 1
)lua";

std::string fingerprint(const QueuedJob& j)
{
    return j.url + "\n" + j.body;
}

std::string str(const redisReply* r)
{
    return r != nullptr && r->str != nullptr ? std::string(r->str, r->len) : std::string();
}

}  // namespace

std::string encodeQueuedJob(const QueuedJob& j)
{
    json o = {{"custom_id", j.customId}, {"url", j.url}, {"body", j.body}, {"model", j.model},
              {"provider", j.provider}, {"tenant", j.tenant}, {"priority", j.priority}};
    if (j.deadlineWallMs) {
        o["deadline_ms"] = *j.deadlineWallMs;
    }
    return o.dump();
}

QueuedJob decodeQueuedJob(const std::string& text)
{
    const json o = json::parse(text, nullptr, false);
    if (!o.is_object() || !o.contains("custom_id") || !o["custom_id"].is_string()) {
        throw std::invalid_argument("not a queued job: " + text.substr(0, 80));
    }
    QueuedJob j;
    j.customId = o["custom_id"].get<std::string>();
    j.url = o.value("url", "");
    j.body = o.value("body", "");
    j.model = o.value("model", "");
    j.provider = o.value("provider", "");
    j.tenant = o.value("tenant", "");
    j.priority = o.value("priority", 0);
    if (o.contains("deadline_ms") && o["deadline_ms"].is_number_integer()) {
        j.deadlineWallMs = o["deadline_ms"].get<std::int64_t>();
    }
    return j;
}

std::string encodeSharedResult(const SharedResult& r)
{
    return json{{"dead", r.dead},           {"status", r.statusCode},    {"body", r.body},
                {"request_id", r.requestId}, {"key", r.keyLabel},        {"error_class", r.errorClass},
                {"message", r.message},      {"by", r.by}}
        .dump();
}

SharedResult decodeSharedResult(const std::string& text)
{
    const json o = json::parse(text, nullptr, false);
    SharedResult r;
    if (!o.is_object()) {
        r.dead = true;
        r.errorClass = "corrupt_result";
        r.message = "the stored result is not JSON";
        return r;
    }
    r.dead = o.value("dead", false);
    r.statusCode = o.value("status", 0);
    r.body = o.value("body", "");
    r.requestId = o.value("request_id", "");
    r.keyLabel = o.value("key", "");
    r.errorClass = o.value("error_class", "");
    r.message = o.value("message", "");
    r.by = o.value("by", "");
    return r;
}

SharedQueue::SharedQueue(RedisEndpoint endpoint, std::string ns, std::string consumer)
    : m_endpoint(std::move(endpoint)), m_ns(std::move(ns)), m_consumer(std::move(consumer))
{
    const std::string prefix = "{" + m_ns + "}:";
    m_stream = prefix + "jobs";
    m_ids = prefix + "job_ids";
    m_results = prefix + "results";
    m_dead = prefix + "dead";
    std::lock_guard guard(m_mutex);
    conn();
}

RedisConnection& SharedQueue::conn()
{
    if (!m_conn) {
        auto c = std::make_unique<RedisConnection>(m_endpoint);
        RedisReply r = c->command({"XGROUP", "CREATE", m_stream, m_group, "0", "MKSTREAM"});
        if (r.isError() && r.string().rfind("BUSYGROUP", 0) != 0) {
            throw RedisError("creating the consumer group of " + m_stream + ": " + r.string());
        }
        m_conn = std::move(c);
    }
    return *m_conn;
}

RedisReply SharedQueue::eval(const std::string& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args)
{
    std::vector<std::string> cmd{"EVAL", script, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    try {
        return conn().checked(cmd);
    } catch (const RedisError&) {
        m_conn.reset();
        throw;
    }
}

std::vector<SharedEnqueue> SharedQueue::enqueueMany(std::span<const QueuedJob> jobs)
{
    std::vector<SharedEnqueue> out;
    out.reserve(jobs.size());
    std::lock_guard guard(m_mutex);
    constexpr std::size_t kChunk = 500;
    for (std::size_t from = 0; from < jobs.size(); from += kChunk) {
        std::vector<std::string> args;
        const std::size_t to = std::min(jobs.size(), from + kChunk);
        for (std::size_t i = from; i < to; ++i) {
            if (jobs[i].customId.empty()) {
                throw std::invalid_argument("a queued job needs a custom_id");
            }
            args.push_back(jobs[i].customId);
            args.push_back(fingerprint(jobs[i]));
            args.push_back(encodeQueuedJob(jobs[i]));
        }
        RedisReply r = eval(kEnqueue, {m_stream, m_ids}, args);
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(static_cast<SharedEnqueue>(r.integerAt(i)));
        }
    }
    return out;
}

SharedEnqueue SharedQueue::enqueue(const QueuedJob& job)
{
    return enqueueMany(std::span<const QueuedJob>(&job, 1)).front();
}

std::vector<LeasedEntry> SharedQueue::entriesOf(const redisReply* list, bool takenOver)
{
    std::vector<LeasedEntry> out;
    if (list == nullptr || list->type != REDIS_REPLY_ARRAY) {
        return out;
    }
    for (std::size_t i = 0; i < list->elements; ++i) {
        const redisReply* e = list->element[i];
        if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements < 2) {
            continue;
        }
        const redisReply* fields = e->element[1];
        LeasedEntry le;
        le.entryId = str(e->element[0]);
        le.takenOver = takenOver;
        bool found = false;
        if (fields != nullptr && fields->type == REDIS_REPLY_ARRAY) {
            for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
                if (str(fields->element[f]) == "job") {
                    try {
                        le.job = decodeQueuedJob(str(fields->element[f + 1]));
                        found = true;
                    } catch (const std::invalid_argument&) {
                        found = false;
                    }
                }
            }
        }
        if (!found) {
            // Not a job this build can read: acknowledged so it does not
            // circle for ever, and dropped.
            conn().command({"XACK", m_stream, m_group, le.entryId});
            continue;
        }
        out.push_back(std::move(le));
    }
    return out;
}

std::vector<LeasedEntry> SharedQueue::lease(std::size_t max, std::chrono::milliseconds leaseTime)
{
    std::vector<LeasedEntry> out;
    if (max == 0) {
        return out;
    }
    std::lock_guard guard(m_mutex);
    try {
        RedisReply claimed = conn().checked({"XAUTOCLAIM", m_stream, m_group, m_consumer,
                                             std::to_string(leaseTime.count()), m_claimCursor, "COUNT",
                                             std::to_string(max)});
        const redisReply* raw = claimed.raw();
        if (raw->type == REDIS_REPLY_ARRAY && raw->elements >= 2) {
            m_claimCursor = str(raw->element[0]);
            out = entriesOf(raw->element[1], true);
            // How often each was leased: a job whose every holder dies is
            // given up on by the runner rather than circling for ever.
            for (LeasedEntry& e : out) {
                RedisReply p = conn().checked({"XPENDING", m_stream, m_group, e.entryId, e.entryId, "1"});
                const redisReply* pr = p.raw();
                if (pr->type == REDIS_REPLY_ARRAY && pr->elements == 1 && pr->element[0]->elements >= 4) {
                    e.deliveries = pr->element[0]->element[3]->integer;
                }
            }
        }
        if (out.size() < max) {
            RedisReply read = conn().checked({"XREADGROUP", "GROUP", m_group, m_consumer, "COUNT",
                                              std::to_string(max - out.size()), "STREAMS", m_stream, ">"});
            const redisReply* rr = read.raw();
            if (rr->type == REDIS_REPLY_ARRAY && rr->elements >= 1 && rr->element[0]->type == REDIS_REPLY_ARRAY &&
                rr->element[0]->elements >= 2) {
                auto fresh = entriesOf(rr->element[0]->element[1], false);
                out.insert(out.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
            }
        }
    } catch (const RedisError&) {
        m_conn.reset();
        throw;
    }
    return out;
}

std::vector<std::string> SharedQueue::renew(const std::vector<std::string>& entryIds)
{
    std::vector<std::string> lost;
    std::lock_guard guard(m_mutex);
    constexpr std::size_t kChunk = 500;
    for (std::size_t from = 0; from < entryIds.size(); from += kChunk) {
        std::vector<std::string> args{m_group, m_consumer};
        const std::size_t to = std::min(entryIds.size(), from + kChunk);
        args.insert(args.end(), entryIds.begin() + static_cast<std::ptrdiff_t>(from),
                    entryIds.begin() + static_cast<std::ptrdiff_t>(to));
        RedisReply r = eval(kRenew, {m_stream}, args);
        for (std::size_t i = 0; i < r.size(); ++i) {
            lost.push_back(r.stringAt(i));
        }
    }
    return lost;
}

bool SharedQueue::complete(const std::string& entryId, const std::string& customId, const SharedResult& result)
{
    SharedResult r = result;
    r.by = m_consumer;
    std::lock_guard guard(m_mutex);
    return eval(kComplete, {m_stream, m_results, m_dead},
                {m_group, m_consumer, entryId, customId, encodeSharedResult(r), ""})
               .integer() == 1;
}

bool SharedQueue::deadLetter(const std::string& entryId, const QueuedJob& job, SharedResult error)
{
    error.dead = true;
    error.by = m_consumer;
    std::lock_guard guard(m_mutex);
    return eval(kComplete, {m_stream, m_results, m_dead},
                {m_group, m_consumer, entryId, job.customId, encodeSharedResult(error), encodeQueuedJob(job)})
               .integer() == 1;
}

bool SharedQueue::release(const std::string& entryId)
{
    std::lock_guard guard(m_mutex);
    return eval(kRelease, {m_stream}, {m_group, m_consumer, entryId}).integer() == 1;
}

bool SharedQueue::leave()
{
    std::lock_guard guard(m_mutex);
    return eval(kLeave, {m_stream}, {m_group, m_consumer}).integer() == 1;
}

std::vector<std::optional<SharedResult>> SharedQueue::results(const std::vector<std::string>& customIds)
{
    std::vector<std::optional<SharedResult>> out;
    out.reserve(customIds.size());
    std::lock_guard guard(m_mutex);
    constexpr std::size_t kChunk = 1000;
    for (std::size_t from = 0; from < customIds.size(); from += kChunk) {
        std::vector<std::string> cmd{"HMGET", m_results};
        const std::size_t to = std::min(customIds.size(), from + kChunk);
        cmd.insert(cmd.end(), customIds.begin() + static_cast<std::ptrdiff_t>(from),
                   customIds.begin() + static_cast<std::ptrdiff_t>(to));
        try {
            RedisReply r = conn().checked(cmd);
            const redisReply* raw = r.raw();
            for (std::size_t i = 0; i < raw->elements; ++i) {
                const redisReply* e = raw->element[i];
                if (e == nullptr || e->type == REDIS_REPLY_NIL) {
                    out.emplace_back(std::nullopt);
                } else {
                    out.emplace_back(decodeSharedResult(str(e)));
                }
            }
        } catch (const RedisError&) {
            m_conn.reset();
            throw;
        }
    }
    return out;
}

std::vector<SharedDeadLetter> SharedQueue::deadLetters()
{
    std::vector<SharedDeadLetter> out;
    std::vector<std::string> ids;
    {
        std::lock_guard guard(m_mutex);
        try {
            std::string cursor = "0";
            do {
                RedisReply r = conn().checked({"HSCAN", m_dead, cursor, "COUNT", "500"});
                const redisReply* raw = r.raw();
                cursor = str(raw->element[0]);
                const redisReply* kv = raw->element[1];
                for (std::size_t i = 0; i + 1 < kv->elements; i += 2) {
                    SharedDeadLetter d;
                    try {
                        d.job = decodeQueuedJob(str(kv->element[i + 1]));
                    } catch (const std::invalid_argument&) {
                        d.job.customId = str(kv->element[i]);
                    }
                    ids.push_back(str(kv->element[i]));
                    out.push_back(std::move(d));
                }
            } while (cursor != "0");
        } catch (const RedisError&) {
            m_conn.reset();
            throw;
        }
    }
    const auto errors = results(ids);
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (errors[i]) {
            out[i].error = *errors[i];
        }
    }
    return out;
}

bool SharedQueue::requeue(const std::string& customId, std::optional<std::string> body,
                          std::optional<std::string> model)
{
    std::lock_guard guard(m_mutex);
    std::string stored;
    try {
        RedisReply r = conn().checked({"HGET", m_dead, customId});
        if (r.isNil()) {
            return false;
        }
        stored = r.string();
    } catch (const RedisError&) {
        m_conn.reset();
        throw;
    }
    std::string payload = stored;
    if (body || model) {
        QueuedJob j = decodeQueuedJob(stored);
        if (body) {
            j.body = *body;
        }
        if (model) {
            j.model = *model;
        }
        payload = encodeQueuedJob(j);
    }
    return eval(kRequeue, {m_stream, m_results, m_dead}, {customId, payload, stored}).integer() == 1;
}

SharedQueueCounts SharedQueue::counts()
{
    std::lock_guard guard(m_mutex);
    SharedQueueCounts c;
    try {
        RedisConnection& k = conn();
        c.queued = k.checked({"XLEN", m_stream}).integer();
        RedisReply p = k.checked({"XPENDING", m_stream, m_group});
        c.leased = p.size() > 0 ? p.integerAt(0) : 0;
        c.dead = k.checked({"HLEN", m_dead}).integer();
        c.done = k.checked({"HLEN", m_results}).integer() - c.dead;
    } catch (const RedisError&) {
        m_conn.reset();
        throw;
    }
    return c;
}

}  // namespace sluice::shared
