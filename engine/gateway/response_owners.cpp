#include "gateway/response_owners.h"

#include <charconv>
#include <system_error>
#include <vector>

namespace sluice::gateway {

namespace {

// Fields of an encoded owner: names never hold a newline (the
// configuration and the tokens name them).
constexpr char kSeparator = '\n';
constexpr std::string_view kVersion = "v1";

}  // namespace

void ResponseOwners::share(SharedOwnerStore store)
{
    m_shared = std::move(store);
}

void ResponseOwners::stopFetching()
{
    if (m_shared && m_shared->close) {
        m_shared->close();
    }
}

std::string ResponseOwners::encode(const ResponseOwner& owner)
{
    std::string text(kVersion);
    for (const std::string* field : {&owner.provider, &owner.key, &owner.model, &owner.tenant}) {
        text.push_back(kSeparator);
        text.append(*field);
    }
    text.push_back(kSeparator);
    text.append(std::to_string(owner.contextTokens));
    return text;
}

std::optional<ResponseOwner> ResponseOwners::decode(std::string_view text)
{
    std::vector<std::string> fields;
    while (true) {
        const std::size_t end = text.find(kSeparator);
        fields.emplace_back(text.substr(0, end));
        if (end == std::string_view::npos) {
            break;
        }
        text.remove_prefix(end + 1);
    }
    // Five fields: written by a gateway that kept no conversation size.
    if ((fields.size() != 5 && fields.size() != 6) || fields[0] != kVersion || fields[1].empty() || fields[2].empty()) {
        return std::nullopt;
    }
    std::int64_t context = 0;
    if (fields.size() == 6) {
        const std::string& n = fields[5];
        const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), context);
        if (ec != std::errc() || end != n.data() + n.size() || context < 0) {
            return std::nullopt;
        }
    }
    return ResponseOwner{std::move(fields[1]), std::move(fields[2]), std::move(fields[3]), std::move(fields[4]), context};
}

void ResponseOwners::remember(const std::string& id, ResponseOwner owner)
{
    if (id.empty()) {
        return;
    }
    if (m_shared && m_shared->put) {
        m_shared->put(id, encode(owner));
    }
    keep(id, std::move(owner));
}

void ResponseOwners::keep(const std::string& id, ResponseOwner owner)
{
    std::lock_guard guard(m_mutex);
    const std::uint64_t generation = ++m_generation;
    m_owners[id] = Entry{std::move(owner), generation};
    m_order.emplace_back(id, generation);
    while (m_owners.size() > m_capacity && !m_order.empty()) {
        const auto& [oldest, gen] = m_order.front();
        if (const auto it = m_owners.find(oldest); it != m_owners.end() && it->second.generation == gen) {
            m_owners.erase(it);
        }
        m_order.pop_front();
    }
    // Stale pairs (forgotten or remembered again) must not grow the queue
    // without bound when ids are forgotten as fast as they come.
    if (m_order.size() > 2 * m_capacity + 16) {
        std::deque<std::pair<std::string, std::uint64_t>> live;
        for (auto& entry : m_order) {
            if (const auto it = m_owners.find(entry.first); it != m_owners.end() && it->second.generation == entry.second) {
                live.push_back(std::move(entry));
            }
        }
        m_order = std::move(live);
    }
}

std::optional<ResponseOwner> ResponseOwners::find(std::string_view id)
{
    std::lock_guard guard(m_mutex);
    if (const auto it = m_owners.find(std::string(id)); it != m_owners.end()) {
        return it->second.owner;
    }
    return std::nullopt;
}

bool ResponseOwners::worthFetching(std::string_view id)
{
    return m_shared && m_shared->lookup && !id.empty() && !find(id);
}

void ResponseOwners::fetch(const std::string& id, std::function<void(std::optional<ResponseOwner>)> done)
{
    if (!m_shared || !m_shared->lookup) {
        done(std::nullopt);
        return;
    }
    m_shared->lookup(id, [this, id, done = std::move(done)](std::optional<std::string> text) {
        std::optional<ResponseOwner> owner = text ? decode(*text) : std::nullopt;
        if (owner) {
            keep(id, *owner);
        }
        done(std::move(owner));
    });
}

void ResponseOwners::forget(std::string_view id)
{
    const std::string name(id);
    if (m_shared && m_shared->erase) {
        m_shared->erase(name);
    }
    std::lock_guard guard(m_mutex);
    m_owners.erase(name);
}

void ResponseOwners::learnContext(std::string_view id, std::int64_t contextTokens)
{
    std::optional<ResponseOwner> changed;
    {
        std::lock_guard guard(m_mutex);
        const auto it = m_owners.find(std::string(id));
        if (it == m_owners.end() || it->second.owner.contextTokens == contextTokens) {
            return;
        }
        it->second.owner.contextTokens = contextTokens;
        changed = it->second.owner;
    }
    if (m_shared && m_shared->put) {
        m_shared->put(std::string(id), encode(*changed));
    }
}

std::size_t ResponseOwners::size() const
{
    std::lock_guard guard(m_mutex);
    return m_owners.size();
}

}  // namespace sluice::gateway
