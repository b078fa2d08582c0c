// Replay: "what if?" for a proposed configuration. It sends a recorded
// window of traffic again, each request at its recorded moment, through a
// real Dispatcher and Admission configured as proposed, to a SimTransport
// that enforces the provider's limits, all on a ManualClock that jumps from
// one event to the next (an hour in seconds). The result puts the
// simulated run beside what was recorded.
//
// Thread-safety: replay() runs on the calling thread (and a dispatcher
// thread of its own) and touches nothing shared; progress is called on the
// calling thread; `cancel` may be set from any thread.
#pragma once

#include "config/config.h"
#include "simulate/figures.h"
#include "simulate/recorded_traffic.h"

#include <atomic>
#include <cstdint>
#include <functional>

namespace sluice::simulate {

struct ReplayOptions {
    std::uint64_t seed = 1;
    // Called about ten times a second of real time with how far simulated
    // time has come through the window (0..1, may pass 1 while a backlog
    // drains).
    std::function<void(double fraction, Duration simulated)> progress;
    const std::atomic<bool>* cancel = nullptr;  // set: stop soon, result marked cancelled
};

// `current` is the configuration the traffic ran under: its limits are the
// provider's (provider_model.h). `proposed` is what to try. Both must come
// from loadSimConfig (stand-in keys). Throws InputError when the proposed
// configuration cannot run the traffic at all (no provider for a model is
// not that: those requests count as failed).
Comparison replay(const RecordedTraffic& traffic, const Config& current, const Config& proposed,
                  const ReplayOptions& options = {});

}  // namespace sluice::simulate
