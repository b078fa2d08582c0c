// The byte-pair ranks of one BPE vocabulary: token bytes → rank (the token
// id) in an open-addressing hash table over one byte arena, so a lookup is
// a hash, a probe or two and a memcmp, with no allocation. Each slot holds
// its token's length and first eight bytes: a token that short (most are)
// is found or ruled out in one cache line, where a slot with only the rank
// cost three dependent reads (slot, offset, bytes), each a cache miss in a
// table of megabytes.
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
    struct Slot {
        std::uint64_t head = 0;       // the token's first eight bytes, zero-padded
        std::uint32_t rankPlus1 = 0;  // 0: empty
        std::uint32_t length = 0;
    };
    std::vector<Slot> m_slots;
    std::size_t m_mask = 0;
};

}  // namespace sluice::tokenize
