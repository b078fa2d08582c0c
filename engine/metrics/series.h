// Series: one scope's tallies and gauges at one resolution (bucket width),
// over a window of `capacity` buckets that ends at the newest time seen.
// Only buckets that saw something are stored, so memory grows with activity
// up to capacity buckets and never beyond, however long the run.
//
// Buckets are aligned on the clock's epoch, so with widths that divide each
// other (1 s, 10 s, 1 min) every coarse bucket covers whole fine buckets.
//
// Thread-safety: none; its owner (MetricsRecorder) serialises access.
#pragma once

#include "core/clock.h"
#include "metrics/tally.h"

#include <cstddef>
#include <cstdint>
#include <deque>

namespace sluice::metrics {

struct Resolution {
    Duration width{};
    std::size_t capacity = 0;  // buckets kept: the window is width × capacity

    friend bool operator==(const Resolution&, const Resolution&) = default;
};

struct SeriesBucket {
    std::int64_t index = 0;  // start = index × width after the clock's epoch
    Tally tally;
    Gauges gauges;
};

class Series {
public:
    // Throws std::invalid_argument for a zero width or capacity.
    explicit Series(Resolution resolution);

    const Resolution& resolution() const noexcept { return m_resolution; }
    std::int64_t indexOf(TimePoint t) const noexcept;
    TimePoint startOf(std::int64_t index) const noexcept;

    // The bucket holding t, created when missing; nullptr when t has already
    // left the window. A later t moves the window and drops what leaves it.
    SeriesBucket* at(TimePoint t);
    // Moves the window to end at `now` (a quiet series forgets old buckets).
    void advanceTo(TimePoint now);

    // The stored bucket with this index, or nullptr.
    const SeriesBucket* find(std::int64_t index) const noexcept;
    // The oldest and newest index the window holds.
    std::int64_t firstIndex() const noexcept;
    std::int64_t lastIndex() const noexcept { return m_newest; }
    std::size_t storedBuckets() const noexcept { return m_buckets.size(); }
    std::size_t memoryBytes() const noexcept;

private:
    void dropBefore(std::int64_t first);

    Resolution m_resolution;
    std::int64_t m_newest;
    std::deque<SeriesBucket> m_buckets;  // ascending index
};

}  // namespace sluice::metrics
