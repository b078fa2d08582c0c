#include "tokenize/rank_table.h"

#include <cstring>

namespace sluice::tokenize {

namespace {

// Tokens are short (most under 8 bytes): load them a word at a time and mix
// with multiply-xorshift rounds. Not a cryptographic hash: the table's keys
// are the fixed vocabulary, not attacker-chosen.
inline std::uint64_t hashBytes(const char* p, std::size_t n) noexcept
{
    std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

}  // namespace

void RankTable::add(std::string_view bytes)
{
    m_bytes.append(bytes);
    m_offsets.push_back(static_cast<std::uint32_t>(m_bytes.size()));
}

void RankTable::insert(std::uint32_t rank)
{
    const std::string_view key = bytesOf(rank);
    std::size_t i = hashBytes(key.data(), key.size()) & m_mask;
    while (m_slots[i] != 0) {
        i = (i + 1) & m_mask;
    }
    m_slots[i] = rank + 1;
}

std::uint32_t RankTable::freeze()
{
    std::size_t capacity = 16;
    // Load factor at most 1/2: short probe sequences for the misses the
    // merge loop mostly asks about.
    while (capacity < size() * 2) {
        capacity *= 2;
    }
    m_slots.assign(capacity, 0);
    m_mask = capacity - 1;
    for (std::uint32_t r = 0; r < size(); ++r) {
        if (find(bytesOf(r)) != kNone) {
            return r;
        }
        insert(r);
    }
    return kNone;
}

std::uint32_t RankTable::find(const char* bytes, std::size_t length) const noexcept
{
    if (m_slots.empty()) {
        return kNone;
    }
    std::size_t i = hashBytes(bytes, length) & m_mask;
    for (;;) {
        const std::uint32_t slot = m_slots[i];
        if (slot == 0) {
            return kNone;
        }
        const std::uint32_t begin = m_offsets[slot - 1];
        const std::uint32_t end = m_offsets[slot];
        if (end - begin == length && std::memcmp(m_bytes.data() + begin, bytes, length) == 0) {
            return slot - 1;
        }
        i = (i + 1) & m_mask;
    }
}

std::string_view RankTable::bytesOf(std::uint32_t rank) const noexcept
{
    if (rank >= size()) {
        return {};
    }
    return std::string_view(m_bytes).substr(m_offsets[rank], m_offsets[rank + 1] - m_offsets[rank]);
}

}  // namespace sluice::tokenize
