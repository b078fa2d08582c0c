#include "simulate/failure_mix.h"

#include <algorithm>

namespace sluice::simulate {

FailureMix failureMixOf(const RunFigures& recorded, double explainedRateLimited)
{
    FailureMix mix;
    if (recorded.attempts <= 0) {
        return mix;
    }
    const auto share = [&](std::int64_t n) {
        return std::clamp(static_cast<double>(n) / static_cast<double>(recorded.attempts), 0.0, 1.0);
    };
    mix.serverError = share(recorded.serverErrors);
    mix.timeout = share(recorded.timeouts);
    mix.rateLimited = std::max(0.0, share(recorded.rateLimited) - explainedRateLimited);
    // A record cannot fail more than every attempt; keep the sum a probability.
    const double sum = mix.serverError + mix.timeout + mix.rateLimited;
    if (sum > 1.0) {
        mix.serverError /= sum;
        mix.timeout /= sum;
        mix.rateLimited /= sum;
    }
    return mix;
}

}  // namespace sluice::simulate
