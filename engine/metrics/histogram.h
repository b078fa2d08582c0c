// Latency histograms in fixed logarithmic buckets. Every histogram has the
// same buckets, so histograms of different seconds, scopes and runs merge
// exactly (a sum per bucket), and a percentile can be read from any merge:
// the per-minute rollups of a month give that month's p99.
//
// Bucket i < 39 holds latencies up to 2^(i/2) ms (1 ms, 1.41 ms, 2 ms, …,
// 524 s); bucket 39 holds the rest. A percentile is interpolated within its
// bucket, so it is within a factor of √2 of the truth and usually far closer.
//
// Thread-safety: a plain value.
#pragma once

#include "core/clock.h"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>

namespace sluice::metrics {

inline constexpr int kHistogramBuckets = 40;

// Upper bound of bucket i in microseconds; the last bucket has none (max).
std::int64_t histogramUpperBoundUs(int bucket) noexcept;
// The bucket a latency falls in.
int histogramBucketOf(Duration d) noexcept;

template <typename Count>
class BasicHistogram {
public:
    void add(Duration d) noexcept { addToBucket(histogramBucketOf(d), 1, d); }

    // count observations in one bucket, with `sum` their total latency.
    void addToBucket(int bucket, std::uint64_t count, Duration sum) noexcept
    {
        Count& c = m_counts[static_cast<std::size_t>(bucket)];
        // Saturates rather than wraps: a bucket of one second never comes
        // near the limit, and a wrong-but-huge count beats a tiny one.
        const std::uint64_t room = std::numeric_limits<Count>::max() - c;
        c = static_cast<Count>(c + (count < room ? count : room));
        m_sumUs += std::chrono::duration_cast<std::chrono::microseconds>(sum).count();
    }

    template <typename Other>
    void merge(const BasicHistogram<Other>& other) noexcept
    {
        for (int i = 0; i < kHistogramBuckets; ++i) {
            if (const std::uint64_t n = other.bucket(i); n != 0) {
                addToBucket(i, n, Duration::zero());
            }
        }
        m_sumUs += other.sumUs();
    }

    std::uint64_t bucket(int i) const noexcept { return m_counts[static_cast<std::size_t>(i)]; }
    std::uint64_t count() const noexcept
    {
        std::uint64_t n = 0;
        for (const Count c : m_counts) {
            n += c;
        }
        return n;
    }
    bool empty() const noexcept { return count() == 0; }
    std::int64_t sumUs() const noexcept { return m_sumUs; }

    // The q-quantile (0 < q ≤ 1), or nullopt when empty. A quantile in the
    // last bucket is reported as its lower bound (524 s): "at least".
    std::optional<Duration> quantile(double q) const noexcept
    {
        const std::uint64_t total = count();
        if (total == 0) {
            return std::nullopt;
        }
        const double rank = q * static_cast<double>(total);
        double before = 0;
        for (int i = 0; i < kHistogramBuckets; ++i) {
            const double n = static_cast<double>(bucket(i));
            if (n > 0 && before + n >= rank) {
                const double lo = i == 0 ? 0.0 : static_cast<double>(histogramUpperBoundUs(i - 1));
                if (i == kHistogramBuckets - 1) {
                    return std::chrono::microseconds(static_cast<std::int64_t>(lo));
                }
                const double hi = static_cast<double>(histogramUpperBoundUs(i));
                const double within = (rank - before) / n;
                return std::chrono::microseconds(static_cast<std::int64_t>(lo + (hi - lo) * within));
            }
            before += n;
        }
        return std::chrono::microseconds(histogramUpperBoundUs(kHistogramBuckets - 2));
    }

    friend bool operator==(const BasicHistogram&, const BasicHistogram&) = default;

private:
    std::array<Count, kHistogramBuckets> m_counts{};
    std::int64_t m_sumUs = 0;
};

// A bucket of a live series or a minute's rollup: 32-bit counts.
using Histogram = BasicHistogram<std::uint32_t>;
// Totals since start and merged report ranges: 64-bit counts.
using HistogramTotals = BasicHistogram<std::uint64_t>;

}  // namespace sluice::metrics
