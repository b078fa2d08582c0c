// Dispatcher: the engine's core loop. It takes jobs, admits each against
// every limit on its path (global → provider → key → model) on the key with
// the most headroom, sends it with libcurl's multi interface, reads what the
// provider says (usage, rate-limit headers, errors), triages failures, and
// retries, cools down, quarantines or dead-letters accordingly.
//
// Thread-safety: one internal thread does all the work. Every public member
// may be called from any thread; none waits on the network. The listener's
// callbacks run on the dispatcher thread and must not block.
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/job.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice {

// An attempt going out, for metrics (requests sent, in flight). The names
// are valid during the callback only.
struct SendReport {
    std::string_view provider;
    std::string_view key;  // the key's config label
    std::string_view model;
    std::string_view tenant;
    TimePoint sentAt{};
    bool retry = false;  // the job failed an attempt before: this send is a retry
};

// What a finished attempt looked like, for metrics. Every SendReport is
// followed by exactly one AttemptReport, also for an attempt abandoned in
// flight (cancelled, past its deadline, or the dispatcher stopping).
struct AttemptReport {
    std::string provider;
    std::string key;
    std::string model;
    std::string tenant;
    TimePoint sentAt{};
    TimePoint finishedAt{};
    std::optional<Duration> timeToFirstToken;
    long status = 0;
    FailureClass cls = FailureClass::None;
    bool willRetry = false;
    std::int64_t estimatedInputTokens = 0;
    std::int64_t estimatedOutputTokens = 0;
    std::optional<ResponseUsage> usage;
    std::optional<std::int64_t> spendMicroUsd;
};

class DispatchListener {
public:
    virtual ~DispatchListener() = default;
    virtual void onFinished(JobOutcome&& outcome) = 0;
    virtual void onSent(const SendReport&) {}
    virtual void onAttempt(const AttemptReport&) {}
    // A key was quarantined (quota, auth) or disabled: say so loudly.
    virtual void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
    {
        (void)provider;
        (void)key;
        (void)reason;
    }
};

struct DispatcherOptions {
    std::uint64_t seed = 0;  // jitter; 0 picks one at random
    // Global in-flight cap when the config sets no concurrency at all, so a
    // million queued jobs do not become a million connections.
    std::int64_t defaultGlobalConcurrency = 512;
};

struct KeyStatus {
    enum class State : std::uint8_t { Ok, CoolingDown, Quarantined, Disabled };
    std::string provider;
    std::string key;
    std::string fingerprint;  // identifies the key without revealing it
    State state = State::Ok;
    std::string reason;
    TimePoint until{};  // CoolingDown: the latest model cool-down end
};

struct LaneStatus {
    std::string provider;
    std::string model;
    std::size_t queued = 0;
    bool blocked = false;
    TimePoint until{};
    bool waitsForRelease = false;
    std::string waitingFor;  // "tpm of key:prod-1/gpt-4o until …"
};

// Which scope a limit change is for: the global scope (all empty), a
// provider, a key, a model on one key, or a model on every key of a provider
// (key empty), which keys added later inherit too.
struct LimitTarget {
    std::string provider;
    std::string key;
    std::string model;
};

struct DispatcherStats {
    std::uint64_t submitted = 0;
    std::uint64_t queued = 0;     // waiting for admission or a retry
    std::uint64_t inFlight = 0;
    std::uint64_t completed = 0;
    std::uint64_t deadLettered = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t attempts = 0;   // HTTP requests sent
    std::uint64_t retries = 0;
    std::array<std::uint64_t, kFailureClassCount> failures{};  // failed attempts by class
    std::int64_t inputTokens = 0;   // actual
    std::int64_t outputTokens = 0;
    std::int64_t estimatedInputTokens = 0;   // what completed requests reserved
    std::int64_t estimatedOutputTokens = 0;
    std::int64_t spendMicroUsd = 0;
    std::uint64_t unpricedResponses = 0;
    bool paused = false;
    std::vector<KeyStatus> keys;
    std::vector<LaneStatus> lanes;

    std::uint64_t finished() const noexcept { return completed + deadLettered + cancelled; }
};

// What a job would reserve if it ran now: its estimate, and whether its
// model has a price (an unpriced model's spend is unknown, not zero).
struct JobEstimate {
    std::string provider;
    std::string model;
    Cost cost;
    bool priced = false;
};

class Dispatcher {
public:
    Dispatcher(Config config, Clock& clock, Admission& admission, DispatchListener& listener,
               DispatcherOptions options = {});
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void start();
    // Stops the thread. In-flight requests are aborted and refunded; queued
    // jobs are dropped unreported (a durable queue still has them).
    void stop();

    // Checks that the job can run (known provider and model, a well-formed
    // body) and queues it. Throws InputError naming the problem.
    void submit(JobSpec job);
    // The same checks without queueing: empty when the job could run,
    // otherwise what is wrong ("body.model: …").
    std::string validate(const JobSpec& job) const;
    // The reservation the job would make. Throws InputError like submit.
    JobEstimate estimate(const JobSpec& job) const;
    void cancel(const std::string& customId);
    void pause();
    void resume();
    // Enabling a key also lifts its quarantine.
    void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled);

    // Changes while traffic flows. Each throws InputError naming the problem
    // (unknown or duplicate provider or key, invalid limits) and changes
    // nothing then; otherwise it applies within one loop of the dispatcher.
    void addProvider(ProviderConfig provider);
    // Its queued jobs are dead-lettered (no_usable_key); requests in flight
    // finish.
    void removeProvider(const std::string& provider);
    void addKey(const std::string& provider, KeyConfig key);
    void removeKey(const std::string& provider, const std::string& key);
    // Replaces the target scope's limits, keeping usage already counted
    // (Admission::setLimits). A model's limits set here are no longer
    // overwritten by what the provider's headers announce.
    void setLimits(const LimitTarget& target, std::vector<LimitSpec> limits);

    DispatcherStats stats() const;
    // Blocks until every submitted job has finished, or the timeout passes.
    bool waitIdle(Duration timeout);

    // The configuration as changed so far (keys included, values secret).
    std::shared_ptr<const Config> config() const;

private:
    struct Prepared;
    Prepared prepare(JobSpec job) const;
    template <typename Command>
    void post(Command command);
    // Copy-on-write: applies `change` to a copy of the configuration and
    // publishes it.
    void updateConfig(const std::function<void(Config&)>& change);

    struct Impl;
    mutable std::mutex m_configMutex;
    std::shared_ptr<const Config> m_config;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace sluice
