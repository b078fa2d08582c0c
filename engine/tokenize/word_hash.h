// A fast non-cryptographic hash of bytes, shared by the rank table and the
// count memo.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::tokenize {

// The bytes p[0..n) (n < 8) as the low bytes of a word, the rest zero:
// what memcpy into a zeroed word gives, without a call for a length the
// compiler does not know.
inline std::uint64_t loadShort(const char* p, std::size_t n) noexcept
{
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    if (n >= 4) {
        std::uint32_t lo;
        std::uint32_t hi;
        std::memcpy(&lo, b, 4);
        std::memcpy(&hi, b + n - 4, 4);
        // The two halves overlap for n < 8; the shared bytes agree.
        return lo | (std::uint64_t{hi} << ((n - 4) * 8));
    }
    if (n == 0) {
        return 0;
    }
    return std::uint64_t{b[0]} | (std::uint64_t{b[n / 2]} << ((n / 2) * 8)) | (std::uint64_t{b[n - 1]} << ((n - 1) * 8));
}

// Bytes hashed a word at a time with multiply-xorshift rounds: a token (most
// are under 8 bytes) in a few instructions, a prompt of kilobytes at about
// a fifth of std::hash's cost. Not a cryptographic hash, and no defence
// against chosen collisions (std::hash, with its fixed seed, is none either).
inline std::uint64_t wordHash(const char* p, std::size_t n) noexcept
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
        h = (h ^ loadShort(p, n)) * 0xC4CEB9FE1A85EC53ULL;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

}  // namespace sluice::tokenize
