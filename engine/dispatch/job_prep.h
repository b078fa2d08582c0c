// JobPrep: a submitted job made ready to send, on the caller's thread:
// routed to a provider by its model, analysed (stream, prompt estimate,
// output reservation), its body serialised once, and its reservation
// priced (prepareJob throws InputError naming what is wrong: "body.model:
// …"); and, when it is admitted, the HTTP request for it on one key.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include "admission/limits.h"
#include "config/config.h"
#include "dispatch/job.h"
#include "http/http_client.h"
#include "providers/protocol.h"

#include <cstddef>
#include <string>

namespace sluice {

struct PreparedJob {
    JobSpec job;  // its body document freed: bodyText is what is sent
    RequestInfo info;
    std::string bodyText;
    Cost cost;
    std::size_t provider = 0;  // index into Config::providers
};

// `estimator` counts the prompt (exactly where it can); null: the rule of thumb.
PreparedJob prepareJob(const Config& config, JobSpec job, const PromptEstimator* estimator = nullptr);

// The request for a prepared job on `key` of `provider`; a deadline
// shortens the total timeout.
http::HttpRequest buildRequest(const ProviderConfig& provider, const KeyConfig& key, const RequestInfo& info,
                               const std::string& bodyText, std::optional<TimePoint> deadline, TimePoint now);

}  // namespace sluice
