#include "metrics/histogram.h"

#include <algorithm>
#include <cmath>

namespace sluice::metrics {

namespace {

// 2^(i/2) ms in µs, rounded; computed once so every comparison is exact.
const std::array<std::int64_t, kHistogramBuckets - 1> kBoundsUs = [] {
    std::array<std::int64_t, kHistogramBuckets - 1> b{};
    for (std::size_t i = 0; i < b.size(); ++i) {
        b[i] = std::llround(1000.0 * std::pow(2.0, static_cast<double>(i) / 2.0));
    }
    return b;
}();

}  // namespace

std::int64_t histogramUpperBoundUs(int bucket) noexcept
{
    if (bucket < 0) {
        return 0;
    }
    if (bucket >= kHistogramBuckets - 1) {
        return std::numeric_limits<std::int64_t>::max();
    }
    return kBoundsUs[static_cast<std::size_t>(bucket)];
}

int histogramBucketOf(Duration d) noexcept
{
    const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    const auto it = std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), us);
    return static_cast<int>(it - kBoundsUs.begin());
}

}  // namespace sluice::metrics
