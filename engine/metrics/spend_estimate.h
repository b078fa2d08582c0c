// SpendEstimate: what queued work would cost, summed from each job's
// reservation (the prompt estimate plus max_tokens × n, at the model's
// price), so an upper bound on what it will really cost. Jobs of models
// without a price are counted apart and named, never added as free.
//
// Thread-safety: a plain value.
#pragma once

#include "dispatch/dispatch_types.h"

#include <cstdint>
#include <map>
#include <string>

namespace sluice::metrics {

struct SpendEstimate {
    std::int64_t jobs = 0;
    std::int64_t microUsd = 0;  // priced jobs only
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    std::map<std::string, std::int64_t> unpricedModels;  // "provider/model" → jobs

    void add(const JobEstimate& e)
    {
        ++jobs;
        inputTokens += e.cost.inputTokens;
        outputTokens += e.cost.outputTokens;
        if (e.priced) {
            microUsd += e.cost.spendMicroUsd;
        } else {
            ++unpricedModels[e.provider + "/" + e.model];
        }
    }
    std::int64_t unpricedJobs() const noexcept
    {
        std::int64_t n = 0;
        for (const auto& entry : unpricedModels) {
            n += entry.second;
        }
        return n;
    }
};

}  // namespace sluice::metrics
