// LatencyKnee: the mock's answers in flight, and the delay a server past
// its knee adds (LatencyModel::Knee): a GPU batch server gets slower, not
// refusing, as more requests share it. An answer counts as in flight from
// when it is planned until its planned end.
//
// Thread-safety: internally locked; any thread.
#pragma once

#include "core/clock.h"
#include "mock/mock_config.h"

#include <mutex>
#include <set>

namespace sluice::mock {

class LatencyKnee {
public:
    // Plans one answer taking `planned` at `now`; returns the delay to add
    // (zero below the knee or when the knee is off), counted in its end.
    Duration admit(TimePoint now, Duration planned, const LatencyModel::Knee& knee);
    // Answers planned and not yet over at `now`.
    std::size_t inFlight(TimePoint now);

private:
    void purge(TimePoint now);

    std::mutex m_mutex;
    std::multiset<TimePoint> m_ends;
};

}  // namespace sluice::mock
