// LoadTarget: what a load test sends its requests through. Sluice's own
// Dispatcher is one target; the naive fixed-concurrency client (the baseline
// Sluice is compared against) is another; tests use a scripted one. Each
// reports every finished request to the DispatchListener it was built with,
// in the dispatcher's terms (JobOutcome with attempts and timeline), so one
// runner measures them all the same way.
//
// Thread-safety: every member from any thread; listener callbacks come from
// the target's own thread and must not block.
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"

#include <functional>
#include <memory>
#include <string>

namespace sluice::loadtest {

class LoadTarget {
public:
    virtual ~LoadTarget() = default;

    virtual void start() = 0;
    // Stops the target's thread; requests still queued are dropped unreported.
    virtual void stop() = 0;
    // Empty when the job could run, else what is wrong with it.
    virtual std::string validate(const JobSpec& job) const = 0;
    // Throws InputError when the job cannot run.
    virtual void submit(JobSpec job) = 0;
    // A queued job finishes at once as Cancelled; one in flight is aborted.
    virtual void cancel(const std::string& customId) = 0;
    // Sends nothing new; requests in flight finish. stats().paused says when
    // the target has taken it in.
    virtual void pause() = 0;
    virtual DispatcherStats stats() const = 0;
    // The dispatcher behind the target, for parts that steer it (adaptive
    // concurrency); null when there is none (the naive client).
    virtual Dispatcher* dispatcher() { return nullptr; }
};

// Builds a target that reports to `listener`.
using TargetFactory = std::function<std::unique_ptr<LoadTarget>(DispatchListener& listener)>;

// Sluice: an Admission and a Dispatcher over `config`. `clock` must outlive
// the targets the factory makes.
TargetFactory sluiceTarget(const Config& config, Clock& clock, DispatcherOptions options = {});

}  // namespace sluice::loadtest
