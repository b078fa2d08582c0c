#include "shared/shared_directory.h"

#include "shared/shared_membership.h"

namespace sluice::shared {

namespace {

// Past this many unsent writes, new ones are dropped: a Redis that stopped
// answering must not grow the gateway's memory without bound.
constexpr std::size_t kMaxQueued = 10'000;

}  // namespace

SharedDirectory::SharedDirectory(Clock& clock, RedisEndpoint endpoint, const std::string& ns,
                                 const std::string& section, std::chrono::seconds ttl)
    : m_clock(clock), m_endpoint(std::move(endpoint)), m_prefix("{" + ns + "}:dir:" + section + ":"), m_ttl(ttl)
{
    m_thread = std::thread([this] { writeLoop(); });
    m_lookupThread = std::thread([this] { lookupLoop(); });
}

SharedDirectory::~SharedDirectory()
{
    closeLookups();
    {
        std::lock_guard guard(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
}

void SharedDirectory::put(const std::string& name, std::string value)
{
    enqueue(Op{m_prefix + name, std::move(value)});
}

void SharedDirectory::erase(const std::string& name)
{
    enqueue(Op{m_prefix + name, std::nullopt});
}

void SharedDirectory::enqueue(Op op)
{
    std::lock_guard guard(m_mutex);
    if (m_ops.size() < kMaxQueued) {
        m_ops.push_back(std::move(op));
        m_cv.notify_all();
    }
}

bool SharedDirectory::readable()
{
    std::lock_guard guard(m_readMutex);
    return m_clock.now() >= m_readRetryAt;
}

void SharedDirectory::lookup(const std::string& name, RemoteStore::Answer done)
{
    if (readable()) {
        std::lock_guard guard(m_lookupMutex);
        if (!m_lookupsClosed && m_lookups.size() < kMaxLookups) {
            m_lookups.emplace_back(name, std::move(done));
            m_lookupCv.notify_one();
            return;
        }
    }
    done(std::nullopt);
}

void SharedDirectory::closeLookups()
{
    std::deque<std::pair<std::string, RemoteStore::Answer>> dropped;
    {
        std::lock_guard guard(m_lookupMutex);
        if (m_lookupsClosed) {
            return;
        }
        m_lookupsClosed = true;
        dropped.swap(m_lookups);
    }
    m_lookupCv.notify_all();
    m_lookupThread.join();
}

void SharedDirectory::lookupLoop()
{
    std::unique_lock lock(m_lookupMutex);
    for (;;) {
        m_lookupCv.wait(lock, [this] { return m_lookupsClosed || !m_lookups.empty(); });
        if (m_lookupsClosed) {
            return;
        }
        auto [name, done] = std::move(m_lookups.front());
        m_lookups.pop_front();
        lock.unlock();
        done(get(name));
        lock.lock();
    }
}

std::optional<std::string> SharedDirectory::get(const std::string& name)
{
    std::lock_guard guard(m_readMutex);
    const TimePoint now = m_clock.now();
    if (now < m_readRetryAt) {
        return std::nullopt;
    }
    try {
        if (!m_reader) {
            m_reader.emplace(m_endpoint);
        }
        const RedisReply reply = m_reader->command({"GET", m_prefix + name});
        if (reply.isNil() || reply.isError()) {
            return std::nullopt;
        }
        return reply.string();
    } catch (const RedisError&) {
        m_reader.reset();
        m_readRetryAt = now + kRetryAfter;
        return std::nullopt;
    }
}

void SharedDirectory::flush()
{
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [this] { return (m_ops.empty() && m_inFlight == 0) || m_stop; });
}

void SharedDirectory::send(const Op& op)
{
    try {
        if (!m_writer) {
            m_writer.emplace(m_endpoint);
        }
        // An error reply (a full Redis refusing writes) loses this entry
        // alone: a lookup of it then answers "unknown", as without Redis.
        op.value ? m_writer->command({"SET", op.key, *op.value, "EX", std::to_string(m_ttl.count())})
                 : m_writer->command({"DEL", op.key});
    } catch (const RedisError&) {
        m_writer.reset();
    }
}

void SharedDirectory::writeLoop()
{
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, [this] { return m_stop || !m_ops.empty(); });
        if (m_stop) {
            return;
        }
        Op op = std::move(m_ops.front());
        m_ops.pop_front();
        ++m_inFlight;
        lock.unlock();
        send(op);
        lock.lock();
        --m_inFlight;
        m_cv.notify_all();
    }
}

RemoteStore sharedDirectoryStore(Clock& clock, const SharedConfig& shared, const std::string& section,
                                 std::chrono::seconds ttl)
{
    auto directory = std::make_shared<SharedDirectory>(clock, endpointOf(shared), shared.ns, section, ttl);
    RemoteStore store;
    store.put = [directory](const std::string& name, std::string value) { directory->put(name, std::move(value)); };
    store.erase = [directory](const std::string& name) { directory->erase(name); };
    store.lookup = [directory](const std::string& name, RemoteStore::Answer done) {
        directory->lookup(name, std::move(done));
    };
    store.close = [directory] { directory->closeLookups(); };
    return store;
}

}  // namespace sluice::shared
