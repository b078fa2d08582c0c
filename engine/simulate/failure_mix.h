// FailureMix: the faults a recorded window saw, as shares of its attempts,
// for the what-if replay's simulated provider to draw again: server errors
// (5xx, overloaded included), timeouts (no answer in time), and 429s that
// the provider's limits do not explain (its own capacity, or others on the
// same key). A replay of a window whose provider failed 2% of the time
// fails about 2% of the time too, so retries, backoff and dead letters are
// in the comparison.
//
// Thread-safety: plain values; pure functions.
#pragma once

#include "simulate/figures.h"

namespace sluice::simulate {

struct FailureMix {
    double serverError = 0;  // each in [0, 1], together at most 1
    double rateLimited = 0;
    double timeout = 0;

    bool any() const noexcept { return serverError > 0 || rateLimited > 0 || timeout > 0; }
};

// The recorded run's shares: each class's attempts over all its attempts.
// `explainedRateLimited` is the share of attempts the simulated provider's
// limits answer 429 by themselves for the same traffic; only 429s beyond it
// are drawn, so none is counted twice.
FailureMix failureMixOf(const RunFigures& recorded, double explainedRateLimited = 0);

}  // namespace sluice::simulate
