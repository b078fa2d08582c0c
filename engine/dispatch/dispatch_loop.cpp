// The dispatcher's loop: lanes, admission, send, deliver, publish (the
// answers are dispatch_responses.cpp's).
// What a key may take is KeyPool's, what headers teach LimitLearner's, what
// an answer means ResponseReader's, and what a failure leads to
// FailurePolicy's; this file acts on their answers.
#include "dispatch/dispatch_loop.h"

#include "core/timefmt.h"
#include "dispatch/failure_policy.h"
#include "dispatch/limit_learner.h"
#include "dispatch/limit_status.h"
#include "dispatch/response_sink.h"
#include "dispatch/timeline.h"
#include "providers/prompt_estimator.h"
#include "tokenize/token_calibrator.h"

#include <algorithm>

namespace sluice {

std::size_t Dispatcher::Impl::laneFor(std::size_t provider, const std::string& model, const std::string& key)
{
    // Looked up by views: every submission finds its lane here.
    if (const auto it = laneIndex.find(LaneKeyLess::View(provider, model, key)); it != laneIndex.end()) {
        return it->second;
    }
    Lane lane;
    lane.provider = provider;
    lane.model = model;
    lane.key = key;
    lanes.push_back(std::move(lane));
    laneIndex.emplace(std::make_tuple(provider, model, key), lanes.size() - 1);
    return lanes.size() - 1;
}

void Dispatcher::Impl::run()
{
    while (!stopping.load()) {
        const TimePoint now = clock.now();
        drainCommands(now);
        fireRetries(now);
        sweepDeadlines(now);
        scheduleLanes(now);
        publish(now);
        http.pollWithHandoffs(nextWake(now), handedWork);
        // Completions just reported to the listener show in stats at once.
        publish(clock.now());
    }
    shutDown();
}

void Dispatcher::Impl::takeUpHandedWork()
{
    const TimePoint now = clock.now();
    drainCommands(now);
    scheduleLanes(now);
}

void Dispatcher::Impl::scheduleLanes(TimePoint now)
{
    if (paused) {
        return;
    }
    for (std::size_t i = 0; i < lanes.size(); ++i) {
        scheduleLane(lanes[i], now);
    }
}

void Dispatcher::Impl::shutDown()
{
    // Abort what is in flight; each abort refunds its reservation.
    std::vector<Transport::TransferId> open;
    for (auto& [id, job] : jobs) {
        if (job.flight) {
            job.abort = Abort::Stopping;
            open.push_back(job.flight->transfer);
        }
    }
    for (auto t : open) {
        http.abort(t);
    }
    // A job whose response goes to a waiting client is told it ends
    // here; other queued jobs stay unreported (a durable queue has them).
    std::vector<DispatchId> relayed;
    for (auto& [id, job] : jobs) {
        if (job.spec.sink) {
            relayed.push_back(id);
        }
    }
    for (DispatchId id : relayed) {
        Job& job = jobs.at(id);
        lanes[job.lane].queue.remove(id);
        dropUnreported(job, "the dispatcher stopped");
    }
}

void Dispatcher::Impl::dropUnreported(Job& job, const std::string& reason)
{
    if (job.spec.sink) {
        JobOutcome out;
        out.customId = job.spec.customId;
        out.result = JobResult::Cancelled;
        out.cls = FailureClass::Cancelled;
        out.reason = reason;
        out.model = job.info.model;
        out.provider = pool.provider(job.provider).cfg->name;
        out.attempts = std::move(job.attemptLog);
        out.timeline = std::move(job.timeline);
        job.spec.sink->onEnd(out);
    }
    byCustomId.erase(job.spec.customId);
    jobs.erase(job.id);
}

Duration Dispatcher::Impl::nextWake(TimePoint now) const
{
    TimePoint wake = now + std::chrono::milliseconds(250);
    if (!retries.empty()) {
        wake = std::min(wake, retries.top().first);
    }
    if (!deadlines.empty()) {
        wake = std::min(wake, deadlines.top().first);
    }
    if (!paused) {
        for (const Lane& lane : lanes) {
            if (!lane.queue.empty() && !lane.waitsForRelease) {
                wake = std::min(wake, lane.blockedUntil);
            }
        }
    }
    return std::max(Duration::zero(), wake - now);
}

void Dispatcher::Impl::waitOn(Lane& lane, Job& job, const KeyChoice& choice)
{
    lane.blockedUntil = choice.waitsForRelease ? TimePoint::max() : choice.until;
    lane.waitsForRelease = choice.waitsForRelease;
    lane.waitingFor = choice.why;
    std::string noteText = timeline::waiting(choice.why, choice.waitsForRelease,
                                             choice.waitsForRelease ? WallTime{} : clock.toWall(choice.until));
    if (noteText != job.lastWaitNote) {
        const bool firstWait = job.lastWaitNote.empty();
        job.lastWaitNote = noteText;
        note(job, TimelineEvent::Kind::Waiting, std::move(noteText));
        // Where the limits it waits for came from, once per job: on every
        // key it may go on (the wait names the one that binds).
        ProviderRuntime& pr = pool.provider(lane.provider);
        for (std::size_t k = 0; firstWait && k < pr.keys.size(); ++k) {
            KeyRuntime& kr = pr.keys[k];
            if (!kr.disabled && !kr.removed && !kr.quarantined && (lane.key.empty() || kr.cfg->name == lane.key)) {
                const ModelState& ms = pool.modelState(pr, kr, lane.model);
                note(job, TimelineEvent::Kind::Limits,
                     limitsNote(pr, kr, lane.model, ms, admission, idleRamp, clock.now(), calibrator, proxy));
            }
        }
    }
}

void Dispatcher::Impl::noteBinding(ProviderRuntime& pr, const Binding& binding, TimePoint now)
{
    // A per-day limit waits for hours: what it would win is not worth a
    // probe's 429s.
    if (binding.window == Window::Rolling && binding.period <= std::chrono::minutes(1) &&
        (binding.measure == Measure::TotalTokens || binding.measure == Measure::OutputTokens)) {
        pr.refunds.waitedOnTokens(now);
        // Decided only where a provider is learned (TokenAccounting::Learn,
        // a budget of its own): settlement is then to the output produced,
        // and a smaller hold is worth trying. Not while the refund probe
        // decides: a 429 the smaller hold draws would read as a charge kept.
        const double seconds = std::chrono::duration<double>(binding.period).count();
        pr.unstated.waitedOnTokens(pr.refunds.stage() == RefundProbe::Stage::Refunds,
                                   seconds > 0 ? static_cast<double>(binding.limit) / seconds : 0.0, now);
    }
}

const Cost& Dispatcher::Impl::withOutputToReserve(const ProviderRuntime& pr, Job& job) const
{
    const RequestInfo& info = job.info;
    if (!info.outputUnstated) {
        return job.cost;
    }
    // Decided as the job comes up, not when it was queued: the hold moves
    // while it waits.
    const bool settledToProduced = pr.cfg->tokenAccounting == TokenAccounting::Learn && !config->shared &&
                                   pr.refunds.stage() == RefundProbe::Stage::Refunds;
    job.cost.outputTokens =
        (settledToProduced ? pr.unstated.hold(info.maxOutputTokens) : info.maxOutputTokens) * info.n;
    return job.cost;
}

void Dispatcher::Impl::scheduleLane(Lane& lane, TimePoint now)
{
    if (lane.queue.empty() || (lane.blockedUntil > now)) {
        return;
    }
    ProviderRuntime& pr = pool.provider(lane.provider);
    if (pr.backoffUntil > now) {
        lane.blockedUntil = pr.backoffUntil;
        lane.waitsForRelease = false;
        lane.waitingFor = "provider " + pr.cfg->name +
                          (pr.unreachable ? " unreachable (" + pr.unreachableReason + ")" : " backing off after overload");
        return;
    }
    if (pr.unreachable && pr.probing) {
        // One request at a time finds out whether it is back.
        lane.blockedUntil = TimePoint::max();
        lane.waitsForRelease = true;
        lane.waitingFor = "provider " + pr.cfg->name + " unreachable: a request is checking whether it is back";
        return;
    }
    lane.waitsForRelease = false;
    lane.waitingFor.clear();
    while (auto id = lane.queue.peek()) {
        Job& job = jobs.at(*id);
        if (job.spec.deadline && now >= *job.spec.deadline) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::DeadlineExceeded, "deadline passed while queued", now);
            continue;
        }
        const KeyChoice choice = pool.choose(pr, lane.model, withOutputToReserve(pr, job), now, lane.key);
        if (choice.kind == KeyChoice::Kind::NoUsableKey && choice.denied) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::PermissionDenied, choice.why, now);
            continue;
        }
        if (choice.kind == KeyChoice::Kind::NoUsableKey) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::NoUsableKey,
                   lane.key.empty() ? "every key of provider " + pr.cfg->name + " is quarantined or disabled"
                                    : "key " + lane.key + " of provider " + pr.cfg->name +
                                          ", the one the request must go on, is quarantined, disabled or removed",
                   now);
            continue;
        }
        if (choice.kind == KeyChoice::Kind::Never) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::RequestTooLarge,
                   "too large for " + choice.why, now);
            continue;
        }
        if (choice.kind == KeyChoice::Kind::Wait) {
            noteBinding(pr, choice.binding, now);
            waitOn(lane, job, choice);
            return;
        }
        if (const auto held = heldByIdleRamp(pr, choice, lane.model, now)) {
            lane.blockedUntil = *held;
            lane.waitsForRelease = false;
            const ModelState& ms = pool.modelState(pr, pr.keys[choice.key], lane.model);
            lane.waitingFor = pr.cfg->name + "/" + lane.model + " " +
                              idleRamp.describe(ms.scope, *pr.cfg->rampAfterIdle, now);
            return;
        }
        Decision d = admission.tryAcquireAt(choice.path, job.cost, now);
        if (d.verdict != Verdict::Admit) {
            noteBinding(pr, d.binding, now);
            // A blocking waiter embedded elsewhere holds this scope.
            lane.blockedUntil = d.waitsForRelease ? TimePoint::max() : d.notBefore;
            lane.waitsForRelease = d.waitsForRelease;
            lane.waitingFor = pool.describe(d.binding);
            return;
        }
        lane.queue.pop();
        send(job, choice.key, std::move(d.reservation), now);
        if (pr.unreachable) {
            pr.probing = true;
            return;
        }
    }
    lane.blockedUntil = TimePoint::max();
}

std::optional<TimePoint> Dispatcher::Impl::heldByIdleRamp(ProviderRuntime& pr, const KeyChoice& choice,
                                                          const std::string& model, TimePoint now)
{
    if (!pr.cfg->rampAfterIdle) {
        return std::nullopt;
    }
    const IdleRampSettings& settings = *pr.cfg->rampAfterIdle;
    const ModelState& ms = pool.modelState(pr, pr.keys[choice.key], model);
    if (!idleRamp.ramping(ms.scope, settings, now)) {
        return std::nullopt;
    }
    // The request limit nearest the model: its own, its key's, or the
    // provider's. None known yet: nothing to ramp towards.
    for (int i = choice.path.depth - 1; i >= 0; --i) {
        for (const DimensionState& d : admission.snapshot(choice.path.scopes[static_cast<std::size_t>(i)]).dimensions) {
            if (d.spec.measure != Measure::Requests || d.spec.window != Window::Rolling || d.spec.limit <= 0) {
                continue;
            }
            const double perMinute = static_cast<double>(d.spec.limit) * 60.0 /
                                     std::chrono::duration<double>(d.spec.period).count();
            const TimePoint at = idleRamp.notBefore(ms.scope, settings, perMinute,
                                                    static_cast<double>(d.spec.capacity()), now);
            return at > now ? std::optional<TimePoint>(at) : std::nullopt;
        }
    }
    return std::nullopt;
}

void Dispatcher::Impl::fireRetries(TimePoint now)
{
    while (!retries.empty() && retries.top().first <= now) {
        const DispatchId id = retries.top().second;
        retries.pop();
        const auto it = jobs.find(id);
        if (it == jobs.end() || it->second.state != State::Retrying) {
            continue;
        }
        Job& job = it->second;
        job.state = State::Queued;
        Lane& lane = lanes[job.lane];
        lane.queue.pushFront(job.id, job.priority, job.tenant, job.weight, job.size);
        lane.blockedUntil = std::min(lane.blockedUntil, now);
    }
}

void Dispatcher::Impl::sweepDeadlines(TimePoint now)
{
    // Entries of jobs that ended before their deadline wait for it in the
    // heap; when they far outnumber the live jobs (far-off deadlines on a
    // long batch), drop them so memory follows what is in the dispatcher.
    if (deadlines.size() > 2 * jobs.size() + 1024) {
        std::vector<std::pair<TimePoint, DispatchId>> live;
        live.reserve(jobs.size());
        for (; !deadlines.empty(); deadlines.pop()) {
            if (jobs.contains(deadlines.top().second)) {
                live.push_back(deadlines.top());
            }
        }
        deadlines = decltype(deadlines)(std::greater<>(), std::move(live));
    }
    // A transfer's own timeout is clamped to its job's deadline
    // (buildRequest), so it ends there as an attempt that used its capacity;
    // aborting it here at the same instant would refund that capacity and
    // let more requests out than the limit. Only one still running this
    // much later is aborted.
    constexpr Duration kInFlightGrace = std::chrono::seconds(1);
    while (!deadlines.empty() && deadlines.top().first <= now) {
        const auto [due, id] = deadlines.top();
        deadlines.pop();
        const auto it = jobs.find(id);
        if (it == jobs.end()) {
            continue;
        }
        Job& job = it->second;
        if (job.flight && due < *job.spec.deadline + kInFlightGrace) {
            deadlines.emplace(*job.spec.deadline + kInFlightGrace, id);
            continue;
        }
        if (job.flight) {
            job.abort = Abort::Deadline;
            http.abort(job.flight->transfer);
            continue;
        }
        lanes[job.lane].queue.remove(id);
        finish(job, JobResult::DeadLettered, FailureClass::DeadlineExceeded, "deadline passed", now);
    }
}

void Dispatcher::Impl::showHead(Job& job, long status, const http::HeaderMap& headers)
{
    if (!job.spec.sink || job.headShown || status < 200 || status >= 300) {
        return;
    }
    // A stream reaches its client from its head on, so it is never sent
    // again; a plain answer is passed on whole when it has ended, so one
    // that broke before its end is retried like any failure.
    job.headShown = job.info.stream;
    job.spec.sink->onHead(status, headers);
}

http::TransferHandlers Dispatcher::Impl::handlersFor(const Job& job)
{
    const DispatchId id = job.id;
    http::TransferHandlers handlers;
    if (job.info.stream || job.spec.sink) {
        // The status decides, chunk by chunk, whether the body is events
        // (or a response passed on to a sink) or an error; a plain
        // request without a sink reads it from the result.
        handlers.onHeaders = [this, id](long status, const http::HeaderMap& headers) {
            if (auto it = jobs.find(id); it != jobs.end() && it->second.flight) {
                it->second.flight->status = status;
                showHead(it->second, status, headers);
            }
        };
        handlers.onData = [this, id](std::string_view chunk) {
            const auto it = jobs.find(id);
            return it != jobs.end() && it->second.flight &&
                   it->second.flight->onChunk(chunk, it->second.spec.sink.get(), clock);
        };
    }
    // The ledger counted the request when it was admitted; a provider
    // counts it when it arrives, after any connection set-up, and later
    // still on a connection it has yet to accept.
    handlers.onSending = [this, id](bool newConnection) {
        if (auto it = jobs.find(id); it != jobs.end() && it->second.flight) {
            admission.departed(it->second.flight->reservation, clock.now(), newConnection);
        }
    };
    handlers.onComplete = [this, id](http::HttpResult&& result) { onTransferDone(id, std::move(result)); };
    return handlers;
}

void Dispatcher::Impl::send(Job& job, std::size_t keyIndex, Reservation reservation, TimePoint now)
{
    ProviderRuntime& pr = pool.provider(job.provider);
    KeyRuntime& kr = pr.keys[keyIndex];
    if (auto& ms = pool.modelState(pr, kr, job.info.model); ms.probe == ModelState::Probe::Needed) {
        ms.probe = ModelState::Probe::InFlight;
    }
    if (pr.cfg->rampAfterIdle) {
        idleRamp.onSent(pool.modelState(pr, kr, job.info.model).scope, *pr.cfg->rampAfterIdle, now);
    }
    job.state = State::InFlight;
    job.lastWaitNote.clear();
    job.flight.emplace(Flight{});
    Flight& f = *job.flight;
    f.key = keyIndex;
    f.reservation = std::move(reservation);
    f.sentAt = now;
    if (job.info.stream) {
        f.stream = std::make_unique<StreamAccumulator>(pr.cfg->flavor, job.info.endpoint);
    }
    std::vector<std::string> own;
    auto common = pr.commonHeaders.lines(pr.cfg, job.info.stream, job.spec.headerLines, own);
    f.transfer = http.start(buildRequest(*pr.cfg, *kr.cfg, job.info, job.bodyText, job.spec.deadline, now,
                                         std::move(common), std::move(own)),
                            handlersFor(job));
    ++counters.attempts;
    --counters.queued;
    ++counters.inFlight;
    listener.onSent(SendReport{pr.cfg->name, kr.cfg->name, job.info.model, job.tenant, now, !job.attemptLog.empty()});
    note(job, TimelineEvent::Kind::Sent, timeline::sentFacts(pr.cfg->name, kr.cfg->name, job.attemptLog.size() + 1));
}

JobOutcome Dispatcher::Impl::baseOutcome(const Job& job, const std::string& key) const
{
    JobOutcome out;
    out.customId = job.spec.customId;
    out.provider = pool.providers()[job.provider].cfg->name;
    out.key = key;
    out.model = job.info.model;
    return out;
}

void Dispatcher::Impl::complete(Job& job, JobOutcome&& out, TimePoint now)
{
    out.result = JobResult::Completed;
    note(job, TimelineEvent::Kind::Completed, timeline::completedFacts(out.usage));
    deliver(job, std::move(out), now);
}

void Dispatcher::Impl::finish(Job& job, JobResult result, FailureClass cls, const std::string& reason, TimePoint now)
{
    JobOutcome out = baseOutcome(job, {});
    out.result = result;
    out.cls = cls;
    out.reason = reason;
    if (job.state != State::InFlight) {
        --counters.queued;
    }
    deliver(job, std::move(out), now);
}

void Dispatcher::Impl::deliver(Job& job, JobOutcome&& out, TimePoint)
{
    switch (out.result) {
    case JobResult::Completed: ++counters.completed; break;
    case JobResult::DeadLettered:
        ++counters.deadLettered;
        note(job, TimelineEvent::Kind::DeadLettered, timeline::failure(out.cls, out.reason));
        break;
    case JobResult::Cancelled:
        ++counters.cancelled;
        note(job, TimelineEvent::Kind::Cancelled, out.reason);
        break;
    }
    out.attempts = std::move(job.attemptLog);
    out.timeline = std::move(job.timeline);
    const std::shared_ptr<ResponseSink> sink = std::move(job.spec.sink);
    byCustomId.erase(job.spec.customId);
    jobs.erase(job.id);
    if (sink) {
        sink->onEnd(out);
    }
    listener.onFinished(std::move(out));
    {
        std::lock_guard guard(mutex);
        ++finishedTotal;
    }
    idleCv.notify_all();
}

// Every request notes four events (queued, sent, its response, completed):
// room for them at the first, not three allocations and two moves as the
// list grows one by one.
void Dispatcher::Impl::reserveTimeline(Job& job)
{
    if (job.timeline.capacity() == 0) {
        job.timeline.reserve(4);
    }
}

void Dispatcher::Impl::note(Job& job, TimelineEvent::Kind kind, std::string detail, std::optional<WallTime> at)
{
    reserveTimeline(job);
    job.timeline.push_back(TimelineEvent{at.value_or(clock.wallNow()), kind, std::move(detail)});
}

void Dispatcher::Impl::note(Job& job, TimelineEvent::Kind kind, TimelineEvent::Facts facts)
{
    reserveTimeline(job);
    // Made in place: four of these per request, and moving one moves three strings.
    TimelineEvent& event = job.timeline.emplace_back();
    event.at = clock.wallNow();
    event.kind = kind;
    event.facts.emplace(std::move(facts));
}

std::vector<LaneStatus> Dispatcher::Impl::laneStatuses(TimePoint now) const
{
    std::vector<LaneStatus> out;
    for (const Lane& lane : lanes) {
        LaneStatus ls;
        ls.provider = pool.providers()[lane.provider].cfg->name;
        ls.model = lane.model;
        ls.key = lane.key;
        ls.queued = lane.queue.size();
        ls.blocked = !lane.queue.empty() && (lane.waitsForRelease || lane.blockedUntil > now);
        ls.until = lane.blockedUntil;
        ls.waitsForRelease = lane.waitsForRelease;
        ls.waitingFor = lane.waitingFor;
        out.push_back(std::move(ls));
    }
    return out;
}

void Dispatcher::Impl::tellRefundsLearned()
{
    for (std::size_t i = 0; i < pool.providers().size(); ++i) {
        ProviderRuntime& pr = pool.provider(i);
        const RefundProbe::Stage stage = pr.refunds.stage();
        // Headers say nothing was learned: the ledger follows them.
        if (stage != pr.refundsTold && stage != RefundProbe::Stage::Headers && !pr.removed) {
            listener.onProviderLearned(pr.cfg->name, pr.refunds.describe());
        }
        pr.refundsTold = stage;
        const UnstatedOutputProbe::Stage unstated = pr.unstated.stage();
        if (unstated != pr.unstatedTold && !pr.removed) {
            listener.onProviderLearned(pr.cfg->name, pr.unstated.describe());
        }
        pr.unstatedTold = unstated;
    }
}

void Dispatcher::Impl::publish(TimePoint now)
{
    // Readers poll a few times a second; at thousands of completions a
    // second, copying the counters every loop would be the busiest lock.
    // A clock that has not moved (a test's ManualClock) cannot pace this:
    // then every pass publishes.
    const auto since = [now](TimePoint last) { return now == last ? Duration::max() : now - last; };
    if (since(lastCountersPublish) < std::chrono::milliseconds(5) && now >= lastCountersPublish) {
        return;
    }
    lastCountersPublish = now;
    const bool full = since(lastStatusPublish) >= std::chrono::milliseconds(100);
    std::vector<ProviderStatus> providerStatus;
    std::vector<KeyStatus> keys;
    std::vector<LaneStatus> laneStatus;
    std::vector<ModelLimitStatus> modelLimits;
    std::vector<ModelCalibration> calibration;
    if (full) {
        lastStatusPublish = now;
        providerStatus = pool.providerStatuses(now);
        keys = pool.statuses(now);
        laneStatus = laneStatuses(now);
        modelLimits = modelLimitStatuses(pool, admission, idleRamp, now);
        tellRefundsLearned();
        calibration = calibrationStatus(calibrator, proxy);
    }
    std::lock_guard guard(mutex);
    std::vector<ProviderStatus> oldProviders = std::move(published.providers);
    std::vector<KeyStatus> oldKeys = std::move(published.keys);
    std::vector<LaneStatus> oldLanes = std::move(published.lanes);
    std::vector<ModelLimitStatus> oldModelLimits = std::move(published.modelLimits);
    std::vector<ModelCalibration> oldCalibration = std::move(published.calibration);
    published = counters;
    published.submitted = submittedTotal;
    published.paused = paused;
    published.providers = full ? std::move(providerStatus) : std::move(oldProviders);
    published.keys = full ? std::move(keys) : std::move(oldKeys);
    published.lanes = full ? std::move(laneStatus) : std::move(oldLanes);
    published.modelLimits = full ? std::move(modelLimits) : std::move(oldModelLimits);
    published.calibration = full ? std::move(calibration) : std::move(oldCalibration);
}

}  // namespace sluice
