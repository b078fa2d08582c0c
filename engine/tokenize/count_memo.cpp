#include "tokenize/count_memo.h"

#include "tokenize/word_hash.h"

#include <utility>

namespace sluice::tokenize {

std::size_t CountMemo::textHash(std::string_view t) noexcept
{
    return static_cast<std::size_t>(wordHash(t.data(), t.size()));
}

std::optional<std::size_t> CountMemo::find(const Hashed& key)
{
    std::lock_guard guard(m_mutex);
    if (const auto it = m_newer.find(key); it != m_newer.end()) {
        ++m_hits;
        return it->second;
    }
    const auto it = m_older.find(key);
    if (it == m_older.end()) {
        ++m_misses;
        return std::nullopt;
    }
    ++m_hits;
    // In use again: it moves to the newer generation, so the next turn of
    // generations keeps it.
    auto node = m_older.extract(it);
    const std::size_t count = node.mapped();
    m_olderBytes -= node.key().size() + kEntryOverhead;
    insertNewer(std::move(node.key()), count);
    return count;
}

void CountMemo::remember(const Hashed& key, std::size_t count)
{
    const std::string_view text = key.text;
    if (text.size() + kEntryOverhead > m_capacity / 8) {
        return;
    }
    const std::uint64_t hash = key.hash | 1U;
    std::lock_guard guard(m_mutex);
    if (m_newer.contains(key)) {
        return;  // another thread counted it meanwhile
    }
    std::uint64_t& seen = m_seen[hash % kSeenSlots];
    if (seen != hash) {
        seen = hash;  // the first time: kept only if it comes again
        return;
    }
    if (const auto it = m_older.find(key); it != m_older.end()) {
        m_olderBytes -= it->first.size() + kEntryOverhead;
        m_older.erase(it);
    }
    insertNewer(std::string(text), count);
}

void CountMemo::insertNewer(std::string key, std::size_t count)
{
    const std::size_t bytes = key.size() + kEntryOverhead;
    if (m_newerBytes + bytes > m_capacity / 2) {
        m_older = std::exchange(m_newer, Map{});
        m_olderBytes = std::exchange(m_newerBytes, 0);
    }
    m_newer.emplace(std::move(key), count);
    m_newerBytes += bytes;
}

CountMemo::Stats CountMemo::stats() const
{
    std::lock_guard guard(m_mutex);
    return Stats{m_hits, m_misses, m_newer.size() + m_older.size(), m_newerBytes + m_olderBytes};
}

}  // namespace sluice::tokenize
