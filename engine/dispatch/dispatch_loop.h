// Dispatcher::Impl, the dispatcher's state and loop, shared by the files
// that define it: dispatch_loop.cpp (lanes, admission, send, deliver,
// publish), dispatch_responses.cpp (settle an answer, learn from it, decide
// what follows), peer_signals.cpp and dispatcher.cpp (the public face and
// the commands it posts). Private to engine/dispatch: nothing else includes it.
//
// Thread-safety: the members under "shared with callers" are guarded by
// `mutex`; everything else belongs to the dispatcher thread.
#pragma once

#include "dispatch/backoff.h"
#include "dispatch/dispatcher.h"
#include "dispatch/failure_policy.h"
#include "dispatch/fair_queue.h"
#include "dispatch/flight.h"
#include "dispatch/idle_ramp.h"
#include "dispatch/job_prep.h"
#include "dispatch/key_pool.h"
#include "dispatch/response_reader.h"
#include "dispatch/transport.h"
#include "http/http_client.h"

#include <functional>
#include <map>
#include <queue>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <variant>

namespace sluice {

struct Dispatcher::Impl {
    // Jobs for one provider and model, and for one key of it when pinned
    // (JobSpec::key): a pinned job waits for its key alone, in a lane of its
    // own, so it holds up no request that any key may serve.
    struct Lane {
        std::size_t provider = 0;
        std::string model;
        std::string key;  // empty: any key
        FairQueue queue;
        TimePoint blockedUntil{};
        bool waitsForRelease = false;
        std::string waitingFor;
    };
    enum class State : std::uint8_t { Queued, Retrying, InFlight };
    // Why an in-flight transfer was stopped from our side.
    enum class Abort : std::uint8_t { None, Cancelled, Deadline, Stopping };
    struct Job {
        DispatchId id = 0;
        JobSpec spec;
        RequestInfo info;
        std::string bodyText;
        Cost cost;
        std::size_t provider = 0;
        std::size_t lane = 0;
        std::string tenant;
        int priority = 0;
        double weight = 1;
        double size = 1;
        State state = State::Queued;
        int attempts = 0;            // attempts that count against max_attempts
        int rateLimitRetries = 0;
        // Its sink has seen onHead: the response is on its way to a client,
        // so the job can no longer be retried.
        bool headShown = false;
        Abort abort = Abort::None;
        // cancelQueued while it was with the provider: were that attempt to
        // fail, a retry would wait again past the time it was given.
        bool giveUpWhenQueued = false;
        std::string lastWaitNote;
        std::vector<AttemptRecord> attemptLog;
        std::vector<TimelineEvent> timeline;
        std::optional<Flight> flight;
    };
    // Behind a pointer: a command is moved into the queue, out of it and
    // through the queue's growth, and a PreparedJob's strings are many.
    struct Submit {
        std::unique_ptr<PreparedJob> job;
    };
    struct Cancel {
        std::string customId;
        bool queuedOnly = false;  // a job already sent runs to its end
    };
    struct Pause {
        bool paused;
    };
    struct KeyEnabled {
        std::string provider;
        std::string key;
        bool enabled;
    };
    struct AddProvider {};
    struct RemoveProvider {
        std::string provider;
    };
    struct AddKey {
        std::string provider;
        KeyConfig key;
    };
    struct RemoveKey {
        std::string provider;
        std::string key;
    };
    struct SetLimits {
        LimitTarget target;
        std::vector<LimitSpec> limits;
    };
    struct Command {
        std::variant<Submit, Cancel, Pause, KeyEnabled, AddProvider, RemoveProvider, AddKey, RemoveKey, SetLimits,
                     PeerSignal>
            what;
        // The configuration as an edit left it (null: not an edit).
        std::shared_ptr<const Config> config;
    };
    Impl(std::shared_ptr<const Config> cfg, Clock& clk, Admission& adm, DispatchListener& lst,
         const DispatcherOptions& opt);

    // ---- shared with callers (guarded by mutex) ----
    std::mutex mutex;
    std::condition_variable idleCv;
    std::vector<Command> commands;
    // Queues a command from any thread, waking the loop when the queue was
    // empty.
    void enqueue(Command command);
    DispatcherStats published;
    std::uint64_t submittedTotal = 0;
    std::uint64_t finishedTotal = 0;
    std::atomic<bool> stopping{false};

    // ---- dispatcher thread ----
    std::vector<Command> spareCommands;  // the queue's storage between drains (drainCommands)
    // The configuration as last edited; providers and keys live in `pool`.
    std::shared_ptr<const Config> config;
    Clock& clock;
    Admission& admission;
    // Learns reported / estimated prompt tokens per model from responses;
    // owned by the Dispatcher, set once before the thread starts.
    tokenize::TokenCalibrator* calibrator = nullptr;
    tokenize::TokenCalibrator* agreement = nullptr;  // exact counts against the provider's (PromptEstimator)
    tokenize::ProxyCalibrator* proxy = nullptr;      // o200k_base counts of the others (PromptEstimator)
    DispatchListener& listener;
    DispatcherOptions options;
    KeyPool pool;
    std::unique_ptr<Transport> ownTransport;  // when options name none
    Transport& http;
    Backoff backoff;
    IdleRamp idleRamp;
    std::thread thread;
    ClockSubscription clockSubscription;
    std::vector<Lane> lanes;
    // Ordered as the tuples of copies were; compared as views, so a lane is
    // found without copying its model and key (every submission looks).
    struct LaneKeyLess {
        using is_transparent = void;
        using View = std::tuple<std::size_t, std::string_view, std::string_view>;
        static View view(const auto& k) { return View(std::get<0>(k), std::get<1>(k), std::get<2>(k)); }
        bool operator()(const auto& a, const auto& b) const { return view(a) < view(b); }
    };
    std::map<std::tuple<std::size_t, std::string, std::string>, std::size_t, LaneKeyLess> laneIndex;
    std::unordered_map<DispatchId, Job> jobs;
    std::unordered_map<std::string, DispatchId> byCustomId;
    std::priority_queue<std::pair<TimePoint, DispatchId>, std::vector<std::pair<TimePoint, DispatchId>>, std::greater<>> retries;
    DispatchId nextId = 1;
    bool paused = false;
    DispatcherStats counters;
    TimePoint lastStatusPublish{};
    TimePoint lastCountersPublish{};
    // Every submitted job's deadline, earliest first, so the loop wakes at
    // the next one instead of scanning all jobs on a timer. An entry whose
    // job has already ended stays until its time comes and is skipped then
    // (job ids are never reused).
    std::priority_queue<std::pair<TimePoint, DispatchId>, std::vector<std::pair<TimePoint, DispatchId>>, std::greater<>> deadlines;

    // takeUpHandedWork, made once: poll is given it every turn.
    std::function<void()> handedWork;

    std::size_t laneFor(std::size_t provider, const std::string& model, const std::string& key);

    // ------------------------------------------------------------ the loop

    void run();
    // Inside the transport's poll, between two handlers of a shared event
    // loop after one handed work over (Transport::pollWithHandoffs' `between`): the
    // commands queued meanwhile applied and the lanes scheduled, so a job a
    // gateway request submitted goes upstream at once, not after the rest
    // of the loop's batch or a turn of this loop of its own. Retries and
    // deadlines wait for the next turn.
    void takeUpHandedWork();
    void shutDown();

    // Forgets a job without reporting it to the listener; its sink, if any,
    // is still told that the job ended.
    void dropUnreported(Job& job, const std::string& reason);
    Duration nextWake(TimePoint now) const;
    void drainCommands(TimePoint now);
    void wakeAllLanes(TimePoint now);
    void apply(Submit& s, TimePoint now);
    void apply(Cancel& c, TimePoint now);
    void apply(Pause& p, TimePoint now);
    void apply(KeyEnabled& k, TimePoint) { pool.setKeyEnabled(k.provider, k.key, k.enabled); }

    void apply(AddProvider&, TimePoint) {}

    void apply(RemoveProvider& r, TimePoint now);
    void apply(AddKey& a, TimePoint);
    void apply(RemoveKey& r, TimePoint);
    void apply(SetLimits& s, TimePoint) { pool.setLimits(s.target, s.limits); }
    // peer_signals.cpp: a peer's signal applied here, and this instance's
    // own findings told to DispatcherOptions::peerSignals.
    void apply(PeerSignal& s, TimePoint now);
    void tellPeersCooled(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model, TimePoint until);
    void tellPeersQuarantined(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& reason);
    void tellPeersLearned(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                          const RateLimitHeaders& h);

    // --------------------------------------------------------- scheduling

    // Blocks the lane on `choice`, noting why on the job at its head.
    void waitOn(Lane& lane, Job& job, const KeyChoice& choice);
    // A request of `pr` waits for `binding`: a token limit's tells its
    // refund and unstated-output probes that the limit binds.
    static void noteBinding(ProviderRuntime& pr, const Binding& binding, TimePoint now);
    // A 429 for a rate limit named `limitName` (empty: not named): one that
    // may be a token limit's tells the refund and unstated-output probes.
    static void noteTokenRefusal(ProviderRuntime& pr, const std::string& limitName, TimePoint now);
    // The job's cost, with the output it reserves: what it states, or for
    // one that states none, the model's default or what UnstatedOutputProbe
    // learned (only where unused output is settled as given back).
    const Cost& withOutputToReserve(const ProviderRuntime& pr, Job& job) const;
    // Tells the listener of each provider's refund or unstated-output probe
    // that moved on (RefundProbe, UnstatedOutputProbe), as statuses are
    // published.
    void tellRefundsLearned();
    // When the provider ramps up after idle and this model's ramp holds
    // the next request back: when it may go (the lane waits until then).
    std::optional<TimePoint> heldByIdleRamp(ProviderRuntime& pr, const KeyChoice& choice,
                                            const std::string& model, TimePoint now);
    void scheduleLane(Lane& lane, TimePoint now);
    // Every lane, unless paused.
    void scheduleLanes(TimePoint now);
    void fireRetries(TimePoint now);
    // Ends (or aborts, when in flight) every job whose deadline is due.
    void sweepDeadlines(TimePoint now);

    // -------------------------------------------------------------- sending

    void showHead(Job& job, long status, const http::HeaderMap& headers);
    http::TransferHandlers handlersFor(const Job& job);
    void send(Job& job, std::size_t keyIndex, Reservation reservation, TimePoint now);

    // --------------------------------------------------------- responses

    static std::string requestIdOf(const http::HeaderMap& headers);
    AttemptReport attemptReport(const Job& job, const ProviderRuntime& pr, const KeyRuntime& kr, const Flight& f,
                                TimePoint now) const;

    // Settles an answered attempt to the usage reported, or to the estimate
    // when none was; returns the spend when the model is priced.
    // What an answer's rate-limit headers say: corrections, learned limits,
    // and that the provider's token accounting needs no probe.
    void learnFromHeaders(const Job& job, ProviderRuntime& pr, KeyRuntime& kr, ModelState& ms,
                          const RateLimitHeaders& headers, TimePoint sentAt);
    std::optional<std::int64_t> settle(const Job& job, ProviderRuntime& pr, Flight& f,
                                       const std::optional<ResponseUsage>& usage);

    // Any completion frees concurrency: lanes waiting for a release retry.
    void releaseWaiters(TimePoint now);

    // A transfer we stopped (cancel, deadline, shutdown).
    void onAborted(Job& job, Flight& f, ModelState& ms, const http::HttpResult& r, TimePoint now);
    void recordAttempt(Job& job, const Flight& f, const http::HttpResult& r, const ResponseRead& rr, TimePoint now);
    void onTransferDone(DispatchId id, http::HttpResult&& r);
    void onSuccess(Job& job, ProviderRuntime& pr, ModelState& ms, const AttemptReport& report, http::HttpResult& r,
                   ResponseRead&& rr, TimePoint now);

    // Carries out FailurePolicy's decision. Returns whether the job will be
    // tried again.
    bool onFailure(Job& job, const Flight& f, ModelState& ms, ResponseRead& rr, const http::HttpResult& r,
                   TimePoint now);
    // The provider could not be reached: say so once per outage.
    void markUnreachable(Job& job, ProviderRuntime& pr, const FailureAction& a, TimePoint now);
    void quarantineKey(Job& job, ProviderRuntime& pr, KeyRuntime& kr, const FailureAction& a);
    void denyKeyModel(Job& job, ProviderRuntime& pr, KeyRuntime& kr, ModelState& ms, FailureAction& a, TimePoint now);
    void requeue(Job& job, TimePoint now);
    void retryAt(Job& job, TimePoint when, TimePoint now);

    // ------------------------------------------------------------ endings

    JobOutcome baseOutcome(const Job& job, const std::string& key) const;
    void complete(Job& job, JobOutcome&& out, TimePoint now);

    // Ends a job that never got (or no longer has) a response to report.
    void finish(Job& job, JobResult result, FailureClass cls, const std::string& reason, TimePoint now);
    void deliver(Job& job, JobOutcome&& out, TimePoint);
    void note(Job& job, TimelineEvent::Kind kind, std::string detail, std::optional<WallTime> at = std::nullopt);
    void note(Job& job, TimelineEvent::Kind kind, TimelineEvent::Facts facts);
    void reserveTimeline(Job& job);

    // ------------------------------------------------------------- status

    std::vector<LaneStatus> laneStatuses(TimePoint now) const;
    void publish(TimePoint now);
};

}  // namespace sluice
