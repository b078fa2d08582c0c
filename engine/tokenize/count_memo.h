// Token counts of texts already counted, so a text sent again is not split
// and merged again: the system prompt every request of a service carries,
// the conversation so far that a chat client or an agent sends back each
// turn. Counting is the dearest step of pricing a request the gateway reads
// (a callgrind run of `serve` put ~9 k instructions on a 24-byte message).
//
// A text is kept the second time it is counted: the first time only its
// hash is noted, in a fixed table (kSeenSlots hashes, 128 KB), so texts
// that never come back (a batch of distinct prompts) cost no memory.
//
// Bounded: texts live in two generations. A text found in the older one
// moves to the newer; when the newer holds half the capacity in text, the
// older is dropped and the newer becomes the older. So a text in use stays,
// and at most `capacityBytes` of text (plus ~64 bytes per entry) is kept.
// A text longer than an eighth of the capacity is never kept.
//
// Thread-safety: every member may be called from any thread at once; one
// mutex, held for a lookup or an insertion, never while a text is counted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::tokenize {

class CountMemo {
public:
    static constexpr std::size_t kDefaultCapacity = std::size_t{8} << 20;
    static constexpr std::size_t kSeenSlots = 16384;
    // Accounting per entry beyond its text: the node, the key's header, the
    // bucket.
    static constexpr std::size_t kEntryOverhead = 64;

    explicit CountMemo(std::size_t capacityBytes = kDefaultCapacity) noexcept : m_capacity(capacityBytes) {}
    CountMemo(const CountMemo&) = delete;
    CountMemo& operator=(const CountMemo&) = delete;

    // The count remembered for text, if any.
    std::optional<std::size_t> find(std::string_view text) { return find(Hashed(text)); }
    // Remembers text's count if it was offered before (a text too long to
    // keep is ignored).
    void remember(std::string_view text, std::size_t count) { remember(Hashed(text), count); }
    // count(text) for a text not remembered yet, remembered after; the lock
    // is not held while count runs. The text is hashed once for the lookups
    // of both steps (a long prompt's hash costs as much as a short one's
    // whole count).
    template <class Count>
    std::size_t countOr(std::string_view text, Count&& count)
    {
        const Hashed key(text);
        if (const auto known = find(key)) {
            return *known;
        }
        const std::size_t n = count(text);
        remember(key, n);
        return n;
    }

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t entries = 0;
        std::size_t bytes = 0;  // text kept, with kEntryOverhead per entry
    };
    Stats stats() const;

private:
    // tokenize::wordHash: std::hash's byte loop was 6% of pricing a 3 KB
    // prompt.
    static std::size_t textHash(std::string_view t) noexcept;

    // A text with its hash, for lookups that would each hash it again.
    struct Hashed {
        explicit Hashed(std::string_view t) noexcept : text(t), hash(textHash(t)) {}
        std::string_view text;
        std::size_t hash;
        friend bool operator==(const Hashed& a, const std::string& b) noexcept { return a.text == b; }
    };
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return textHash(s); }
        std::size_t operator()(const Hashed& h) const noexcept { return h.hash; }
    };

    std::optional<std::size_t> find(const Hashed& key);
    void remember(const Hashed& key, std::size_t count);
    using Map = std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>>;

    void insertNewer(std::string key, std::size_t count);

    const std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::array<std::uint64_t, kSeenSlots> m_seen{};  // hashes of texts offered once (| 1: never 0)
    Map m_newer;
    Map m_older;
    std::size_t m_newerBytes = 0;
    std::size_t m_olderBytes = 0;
    std::uint64_t m_hits = 0;
    std::uint64_t m_misses = 0;
};

}  // namespace sluice::tokenize
