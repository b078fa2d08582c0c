#include "tokenize/rank_table.h"

#include "tokenize/word_hash.h"

#include <cstring>

namespace sluice::tokenize {

namespace {

// A token's first eight bytes (zero after its end) as one word.
inline std::uint64_t headOf(const char* p, std::size_t n) noexcept
{
    if (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        return w;
    }
    return loadShort(p, n);
}

// The slot hash: a token of up to eight bytes is mixed from its head, which
// the lookup needs anyway, so its bytes are read once.
inline std::uint64_t slotHash(const char* p, std::size_t n, std::uint64_t head) noexcept
{
    if (n > 8) {
        return wordHash(p, n);
    }
    std::uint64_t h = (0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL) ^ head) * 0xC4CEB9FE1A85EC53ULL;
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
    const std::uint64_t head = headOf(key.data(), key.size());
    std::size_t i = slotHash(key.data(), key.size(), head) & m_mask;
    while (m_slots[i].rankPlus1 != 0) {
        i = (i + 1) & m_mask;
    }
    m_slots[i] = Slot{head, rank + 1, static_cast<std::uint32_t>(key.size())};
}

std::uint32_t RankTable::freeze()
{
    std::size_t capacity = 16;
    // Load factor at most 1/2: short probe sequences for the misses the
    // merge loop mostly asks about.
    while (capacity < size() * 2) {
        capacity *= 2;
    }
    m_slots.assign(capacity, Slot{});
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
    const std::uint64_t head = headOf(bytes, length);
    std::size_t i = slotHash(bytes, length, head) & m_mask;
    for (;;) {
        const Slot& slot = m_slots[i];
        if (slot.rankPlus1 == 0) {
            return kNone;
        }
        // Most tokens fit the slot's head: no read of the arena at all.
        if (slot.length == length && slot.head == head
            && (length <= 8
                || std::memcmp(m_bytes.data() + m_offsets[slot.rankPlus1 - 1] + 8, bytes + 8, length - 8) == 0)) {
            return slot.rankPlus1 - 1;
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
