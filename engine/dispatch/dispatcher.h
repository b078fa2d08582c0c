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
#include "dispatch/dispatch_types.h"
#include "dispatch/job.h"
#include "dispatch/job_prep.h"
#include "dispatch/peer_signal.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice {

class Transport;

class PromptEstimator;
namespace tokenize {
class Encodings;
class ProxyCalibrator;
class TokenCalibrator;
}  // namespace tokenize

struct DispatcherOptions {
    std::uint64_t seed = 0;  // jitter; 0 picks one at random
    // Global in-flight cap when the config sets no concurrency at all, so a
    // million queued jobs do not become a million connections.
    std::int64_t defaultGlobalConcurrency = 512;
    // Where requests go; null: a ClientTransport of its own (Sluice's HTTP/1.1
    // client, or libcurl: http::upstreamKindFromEnvironment). Must
    // outlive the dispatcher. Tests pass a scripted one.
    Transport* transport = nullptr;
    // Told of every cool-down, quarantine and learned limit this instance
    // finds out by itself, so its peers can act on them; null: nobody.
    // Must outlive the dispatcher.
    PeerSignalObserver* peerSignals = nullptr;
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
    // otherwise what is wrong ("body.model: …"). The prompt is not counted
    // with a tokenizer here (submit does that).
    std::string validate(const JobSpec& job) const;
    // The reservation the job would make. Throws InputError like submit.
    JobEstimate estimate(const JobSpec& job) const;
    // estimate() that keeps its work: a producer that needs the cost before
    // it decides to send (the gateway's tenant gate) then hands the result
    // to submitPrepared, so the job is routed, analysed (its prompt
    // tokenized) and serialised once rather than twice. A job prepared under
    // a configuration since replaced is prepared again. Throws InputError.
    struct Prepared {
        // Never null from prepare(). Behind a pointer, so handing the job
        // from the gateway's gate to the dispatcher's queue moves nothing
        // of it (moves of it were ~5% of a short request's instructions).
        std::unique_ptr<PreparedJob> job;
        std::shared_ptr<const Config> config;  // what it was prepared under
    };
    Prepared prepare(JobSpec&& job) const;
    Prepared prepare(const JobSpec& job) const { return prepare(JobSpec(job)); }
    void submitPrepared(Prepared prepared);
    void cancel(const std::string& customId);
    // Cancels the job only while it waits in its queue (for admission or
    // for a retry); one already with the provider runs to its end (the
    // provider counted it when it arrived), and is given up should that
    // attempt fail rather than wait again for a retry.
    void cancelQueued(const std::string& customId);
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
    // What a peer instance found out about a key this one holds too (a
    // cool-down, a quarantine, learned limits), applied within one loop of
    // the dispatcher; names this instance does not know are ignored. Never
    // told back to the observer.
    void applyPeerSignal(PeerSignal signal);

    DispatcherStats stats() const;
    // Blocks until every submitted job has finished, or the timeout passes.
    bool waitIdle(Duration timeout);

    // The configuration as changed so far (keys included, values secret).
    std::shared_ptr<const Config> config() const;

private:
    template <typename Command>
    void post(Command command);
    // Publishes `next` as the configuration and posts `command` with it, so
    // the dispatcher thread reads the change rather than writing it again.
    // The caller holds m_configMutex.
    template <typename Command>
    void postEdit(Config next, Command command);

    struct Impl;
    mutable std::mutex m_configMutex;
    std::shared_ptr<const Config> m_config;
    // Prompt tokens before sending: exact for OpenAI models (their
    // tokenizers, loaded on first use), the rule of thumb scaled by what the
    // calibrator learned from reported usage for others; an exact count
    // follows the provider's agreement with it (see PromptEstimator).
    // Declared before m_impl, which feeds the calibrators, so they outlive it.
    std::unique_ptr<tokenize::Encodings> m_encodings;
    std::unique_ptr<tokenize::TokenCalibrator> m_calibrator;
    std::unique_ptr<tokenize::TokenCalibrator> m_agreement;
    std::unique_ptr<tokenize::ProxyCalibrator> m_proxy;  // o200k_base counts of the others (PromptEstimator)
    std::unique_ptr<PromptEstimator> m_estimator;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace sluice
