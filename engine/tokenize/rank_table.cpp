#include "tokenize/rank_table.h"

#include "tokenize/word_hash.h"

#include <algorithm>
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

RankTable::Slot RankTable::Slot::make(std::uint64_t head, std::uint32_t rank, std::size_t length) noexcept
{
    Slot s;
    std::memcpy(s.head, &head, sizeof head);
    s.rankLength = ((rank + 1) << 8) | static_cast<std::uint32_t>(std::min<std::size_t>(length, 255));
    return s;
}

std::uint64_t RankTable::Slot::headWord() const noexcept
{
    std::uint64_t w;
    std::memcpy(&w, head, sizeof w);
    return w;
}

std::size_t RankTable::slotOf(std::uint64_t hash) const noexcept
{
    // The hash's top half scaled to the capacity (no power of two needed).
    return static_cast<std::size_t>(((hash >> 32) * m_slots.size()) >> 32);
}

void RankTable::insert(std::uint32_t rank)
{
    const std::string_view key = bytesOf(rank);
    const std::uint64_t head = headOf(key.data(), key.size());
    std::size_t i = slotOf(slotHash(key.data(), key.size(), head));
    while (m_slots[i].rankLength != 0) {
        i = i + 1 == m_slots.size() ? 0 : i + 1;
    }
    m_slots[i] = Slot::make(head, rank, key.size());
}

std::uint32_t RankTable::freeze()
{
    // Load factor at most 5/8: probe runs stay short for the misses the
    // merge loop mostly asks about, and o200k's table is 3.8 MB (16-byte
    // slots at a power of two took 8 MB).
    m_slots.assign(std::max<std::size_t>(16, size() * 8 / 5), Slot{});
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
    const auto lengthByte = static_cast<std::uint32_t>(std::min<std::size_t>(length, 255));
    std::size_t i = slotOf(slotHash(bytes, length, head));
    for (;;) {
        const Slot& slot = m_slots[i];
        if (slot.rankLength == 0) {
            return kNone;
        }
        // Most tokens fit the slot's head: no read of the arena at all.
        if ((slot.rankLength & 0xFF) == lengthByte && slot.headWord() == head) {
            const std::uint32_t rank = (slot.rankLength >> 8) - 1;
            if (length <= 8 || (m_offsets[rank + 1] - m_offsets[rank] == length &&
                                std::memcmp(m_bytes.data() + m_offsets[rank] + 8, bytes + 8, length - 8) == 0)) {
                return rank;
            }
        }
        i = i + 1 == m_slots.size() ? 0 : i + 1;
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
