// What GET /healthz answers: whether a load balancer should send traffic
// here. It needs no token, so it says no more than that: no provider,
// key or tenant names, only how many providers have no key left to use.
//
// Thread-safety: a pure function.
#pragma once

#include "dispatch/dispatch_types.h"

#include <string>

namespace sluice::gateway {

struct Health {
    int status = 200;
    std::string body;  // JSON
};

// 503 "draining" once the gateway drains; 503 "no_usable_key" when every
// provider's keys are all quarantined or disabled (nothing sent here can be
// served until an operator acts); 200 "degraded" when some providers have
// none, with their count; 200 "serving" otherwise. A key cooling down after
// a 429 is usable: requests wait for it.
Health healthOf(const DispatcherStats& stats, bool draining);

}  // namespace sluice::gateway
