// The byte-pair ranks of one BPE vocabulary: token bytes → rank (the token
// id) in an open-addressing hash table over one byte arena, so a lookup is
// a hash, a probe or two and a memcmp, with no allocation. Each slot holds
// its token's length and first eight bytes: a token that short (most are)
// is found or ruled out in one cache line, where a slot with only the rank
// cost three dependent reads (slot, offset, bytes), each a cache miss in a
// table of megabytes (English encodes at twice the rate for it).
//
// Thread-safety: built once by one thread (add, then freeze); after that
// immutable, find() and bytesOf() from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenize {

class RankTable {
public:
    static constexpr std::uint32_t kNone = 0xFFFFFFFFU;
    // Ranks are packed in 24 bits of a slot.
    static constexpr std::uint32_t kMaxRanks = (1U << 24) - 2;

    // Adds the token of the next rank (0, 1, ...).
    void add(std::string_view bytes);
    // Builds the index; call once after the last add(). Returns the first
    // rank whose bytes repeat an earlier token's (a broken vocabulary), or
    // kNone.
    std::uint32_t freeze();

    std::uint32_t find(const char* bytes, std::size_t length) const noexcept;
    std::uint32_t find(std::string_view bytes) const noexcept { return find(bytes.data(), bytes.size()); }
    std::string_view bytesOf(std::uint32_t rank) const noexcept;
    std::size_t size() const noexcept { return m_offsets.empty() ? 0 : m_offsets.size() - 1; }

private:
    void insert(std::uint32_t rank);

    std::string m_bytes;                  // every token's bytes, in rank order
    std::vector<std::uint32_t> m_offsets{0};  // rank r spans [m_offsets[r], m_offsets[r+1])
    // 12 bytes: three words, no padding.
    struct Slot {
        std::uint32_t head[2] = {0, 0};  // the token's first eight bytes, zero-padded
        std::uint32_t rankLength = 0;    // (rank + 1) << 8 | min(length, 255); 0: empty
        static Slot make(std::uint64_t head, std::uint32_t rank, std::size_t length) noexcept;
        std::uint64_t headWord() const noexcept;
    };
    std::size_t slotOf(std::uint64_t hash) const noexcept;

    std::vector<Slot> m_slots;
};

}  // namespace sluice::tokenize
