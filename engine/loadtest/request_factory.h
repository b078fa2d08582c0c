// RequestFactory: turns a workload's mix, pipeline stages and replay entries
// into the jobs a run submits. Each request is drawn from a generator seeded
// by (workload seed, arrival, stage, call), so what a run sends does not
// depend on timing, and an estimate sees exactly the requests the run will
// make. Also binds a workload to a configuration (each model's API flavour,
// every request routable) and estimates tokens and cost before a real run.
//
// Thread-safety: const members from any thread; bindToConfig and
// estimateWorkload are free functions over values.
#pragma once

#include "config/config.h"
#include "loadtest/workload.h"

#include <functional>
#include <string>
#include <vector>

namespace sluice::loadtest {

// One request's draw: what it asks for, before its text is built.
struct RequestDraw {
    std::string model;
    ApiFlavor flavor = ApiFlavor::OpenAI;
    std::string provider;
    std::int64_t promptTokens = 0;
    std::int64_t maxTokens = 0;
    bool stream = false;
};

class RequestFactory {
public:
    // `workload` must be bound (bindToConfig) and outlive the factory.
    explicit RequestFactory(const Workload& workload) : m_workload(workload) {}

    // The tenant an arrival (and all of its pipeline's calls) belongs to;
    // an empty name is the config's default tenant.
    TenantChoice tenant(std::uint64_t arrival) const;
    RequestDraw draw(const RequestMix& mix, std::uint64_t arrival, std::size_t stage, int call) const;
    JobSpec build(const RequestDraw& draw, std::string customId, const TenantChoice& tenant) const;

    // A plain mix's request for an arrival, or a pipeline stage's call.
    JobSpec single(std::uint64_t arrival) const;
    JobSpec stageCall(std::uint64_t arrival, std::size_t stage, int call) const;
    // The replay entry an arrival plays (arrival-timed replays loop over the file).
    const ReplayEntry& replayEntry(std::uint64_t arrival) const;
    JobSpec replayCall(std::uint64_t arrival) const;

    // The id a call is submitted under: "r12", "p12.section.3".
    std::string callId(std::uint64_t arrival, std::size_t stage, int call) const;

private:
    const Workload& m_workload;
};

// Fills in each model's API flavour: the provider in `config` that lists the
// model, or the only flavour that serves any. Throws InputError naming the
// workload file and line of each model it cannot place.
void resolveFlavors(Workload& workload, const Config& config);

// resolveFlavors, then checks that every request the workload can make
// would run, with `validate` (a target's validate). Throws InputError
// listing every problem with the workload (or replay) file and line.
void bindToConfig(Workload& workload, const Config& config,
                  const std::function<std::string(const JobSpec&)>& validate);

struct WorkloadEstimate {
    std::uint64_t arrivals = 0;
    std::uint64_t requests = 0;        // first attempts; retries are not foreseen
    std::int64_t inputTokens = 0;      // estimated as Sluice estimates them
    std::int64_t maxOutputTokens = 0;  // max_tokens: an upper bound
    std::int64_t costMicroUsd = 0;     // of the priced models, at most
    std::vector<std::string> unpricedModels;
};

// What a bound workload will send, from its own schedule and draws.
WorkloadEstimate estimateWorkload(const Workload& workload, const Config& config);

}  // namespace sluice::loadtest
