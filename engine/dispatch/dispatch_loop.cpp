// The dispatcher's loop: lanes, admission, send, settle, deliver, publish.
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

std::size_t Dispatcher::Impl::laneFor(std::size_t provider, const std::string& model)
{
    const auto key = std::make_pair(provider, model);
    if (const auto it = laneIndex.find(key); it != laneIndex.end()) {
        return it->second;
    }
    Lane lane;
    lane.provider = provider;
    lane.model = model;
    lanes.push_back(std::move(lane));
    laneIndex.emplace(key, lanes.size() - 1);
    return lanes.size() - 1;
}

void Dispatcher::Impl::run()
{
    while (!stopping.load()) {
        const TimePoint now = clock.now();
        drainCommands(now);
        fireRetries(now);
        sweepDeadlines(now);
        if (!paused) {
            for (std::size_t i = 0; i < lanes.size(); ++i) {
                scheduleLane(lanes[i], now);
            }
        }
        publish(now);
        http.poll(nextWake(now));
        // Completions just reported to the listener show in stats at once.
        publish(clock.now());
    }
    shutDown();
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
    std::vector<JobId> relayed;
    for (auto& [id, job] : jobs) {
        if (job.spec.sink) {
            relayed.push_back(id);
        }
    }
    for (JobId id : relayed) {
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
            if (!kr.disabled && !kr.removed && !kr.quarantined) {
                const ModelState& ms = pool.modelState(pr, kr, lane.model);
                note(job, TimelineEvent::Kind::Limits,
                     limitsNote(pr, kr, lane.model, ms, admission, idleRamp, clock.now(), calibrator));
            }
        }
    }
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
        const KeyChoice choice = pool.choose(pr, lane.model, job.cost, now);
        if (choice.kind == KeyChoice::Kind::NoUsableKey) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::NoUsableKey,
                   "every key of provider " + pr.cfg->name + " is quarantined or disabled", now);
            continue;
        }
        if (choice.kind == KeyChoice::Kind::Never) {
            lane.queue.pop();
            finish(job, JobResult::DeadLettered, FailureClass::RequestTooLarge,
                   "too large for " + choice.why, now);
            continue;
        }
        if (choice.kind == KeyChoice::Kind::Wait) {
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
        const JobId id = retries.top().second;
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
        std::vector<std::pair<TimePoint, JobId>> live;
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
    job.headShown = true;
    std::vector<std::pair<std::string, std::string>> list(headers.begin(), headers.end());
    job.spec.sink->onHead(status, list);
}

http::TransferHandlers Dispatcher::Impl::handlersFor(const Job& job)
{
    const JobId id = job.id;
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
    // counts it when it arrives, after any connection set-up.
    handlers.onSending = [this, id] {
        if (auto it = jobs.find(id); it != jobs.end() && it->second.flight) {
            admission.departed(it->second.flight->reservation, clock.now());
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
    f.transfer = http.start(buildRequest(*pr.cfg, *kr.cfg, job.info, job.bodyText, job.spec.deadline, now,
                                         pr.commonHeaders.lines(pr.cfg, job.info.stream)),
                            handlersFor(job));
    ++counters.attempts;
    --counters.queued;
    ++counters.inFlight;
    listener.onSent(SendReport{pr.cfg->name, kr.cfg->name, job.info.model, job.tenant, now, !job.attemptLog.empty()});
    note(job, TimelineEvent::Kind::Sent, timeline::sent(pr.cfg->name, kr.cfg->name, job.attemptLog.size() + 1));
}

std::string Dispatcher::Impl::requestIdOf(const http::HeaderMap& headers)
{
    for (const char* name : {"x-request-id", "request-id"}) {
        if (const auto it = headers.find(name); it != headers.end()) {
            return it->second;
        }
    }
    return {};
}

AttemptReport Dispatcher::Impl::attemptReport(const Job& job, const ProviderRuntime& pr, const KeyRuntime& kr, const Flight& f,
                            TimePoint now) const
{
    AttemptReport report;
    report.provider = pr.cfg->name;
    report.key = kr.cfg->name;
    report.model = job.info.model;
    report.tenant = job.tenant;
    report.sentAt = f.sentAt;
    report.finishedAt = now;
    if (f.firstToken) {
        report.timeToFirstToken = *f.firstToken - f.sentAt;
    }
    report.estimatedInputTokens = job.cost.inputTokens;
    report.estimatedOutputTokens = job.cost.outputTokens;
    return report;
}

std::optional<std::int64_t> Dispatcher::Impl::settle(const Job& job, const ProviderRuntime& pr, Flight& f,
                                   const std::optional<ResponseUsage>& usage)
{
    if (!usage) {
        admission.settle(std::move(f.reservation), job.cost);
        return std::nullopt;
    }
    const std::optional<std::int64_t> spend = config->pricing.microUsd(job.info.model, usage->billed);
    Cost actual{1, usage->inputTokens, usage->outputTokens, spend.value_or(job.cost.spendMicroUsd), 1};
    if (calibrator != nullptr && job.info.prompt.method != PromptCountMethod::Exact) {
        // The uncalibrated estimate, or the calibrator would chase its own
        // corrections.
        calibrator->observe(job.info.model, job.info.prompt.ruleOfThumb, reportedPromptTokens(pr.cfg->flavor, *usage),
                            job.info.prompt.language);
    }
    if (pr.cfg->tokenAccounting == TokenAccounting::Estimate) {
        // The provider keeps what it charged on arrival, max_tokens × n
        // for the output: refunding the unused output would show headroom
        // the provider does not have. The prompt is what it reported, not
        // our estimate of it (off by up to 4× for code or CJK text).
        actual.outputTokens = job.cost.outputTokens;
    }
    admission.settle(std::move(f.reservation), actual);
    return spend;
}

void Dispatcher::Impl::releaseWaiters(TimePoint now)
{
    for (Lane& lane : lanes) {
        if (lane.waitsForRelease) {
            lane.blockedUntil = now;
            lane.waitsForRelease = false;
        }
    }
}

void Dispatcher::Impl::onAborted(Job& job, Flight& f, ModelState& ms, const http::HttpResult& r, TimePoint now)
{
    ProviderRuntime& pr = pool.provider(job.provider);
    if (ms.probe == ModelState::Probe::InFlight) {
        ms.probe = ModelState::Probe::Needed;
    }
    if (r.status != 0) {
        // The provider had begun to answer and counts the request:
        // settle to what it reported so far, or to the estimate.
        settle(job, pr, f, f.stream ? f.stream->usage() : std::nullopt);
    } else {
        // Stopped before any answer: nothing was used that we know of,
        // so the whole reservation goes back.
        admission.cancel(std::move(f.reservation));
    }
    AttemptReport abandoned = attemptReport(job, pr, pr.keys[f.key], f, now);
    abandoned.cls = job.abort == Abort::Deadline ? FailureClass::DeadlineExceeded : FailureClass::Cancelled;
    listener.onAttempt(abandoned);
    switch (job.abort) {
    case Abort::Cancelled: finish(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled in flight", now); break;
    case Abort::Deadline:
        finish(job, JobResult::DeadLettered, FailureClass::DeadlineExceeded, "deadline passed in flight", now);
        break;
    default:
        // Shutting down: the job is not finished, so it is not reported;
        // a durable queue hands it out again.
        dropUnreported(job, "the dispatcher stopped");
        break;
    }
}

void Dispatcher::Impl::recordAttempt(Job& job, const Flight& f, const http::HttpResult& r, const ResponseRead& rr, TimePoint now)
{
    const ProviderRuntime& pr = pool.provider(job.provider);
    AttemptRecord attempt;
    attempt.at = clock.toWall(f.sentAt);
    attempt.provider = pr.cfg->name;
    attempt.key = pr.keys[f.key].cfg->name;
    attempt.status = r.status;
    attempt.cls = rr.triage.cls;
    attempt.message = rr.triage.message;
    attempt.latency = now - f.sentAt;
    job.attemptLog.push_back(std::move(attempt));
    if (f.firstToken) {
        note(job, TimelineEvent::Kind::FirstToken, "after " + formatDelay(*f.firstToken - f.sentAt),
             clock.toWall(*f.firstToken));
    }
    note(job, TimelineEvent::Kind::Response,
         timeline::response(r.status, rr.triage.cls, rr.triage.message, now - f.sentAt));
}

void Dispatcher::Impl::onTransferDone(JobId id, http::HttpResult&& r)
{
    const auto it = jobs.find(id);
    if (it == jobs.end() || !it->second.flight) {
        return;
    }
    Job& job = it->second;
    Flight f = std::move(*job.flight);
    job.flight.reset();
    --counters.inFlight;
    const TimePoint now = clock.now();
    ProviderRuntime& pr = pool.provider(job.provider);
    KeyRuntime& kr = pr.keys[f.key];
    ModelState& ms = pool.modelState(pr, kr, job.info.model);
    releaseWaiters(now);
    pr.probing = false;
    if (job.abort != Abort::None) {
        onAborted(job, f, ms, r, now);
        return;
    }
    ResponseRead rr = f.read(r, job.spec.sink != nullptr, pr.cfg->flavor,
                             job.spec.deadline && now >= *job.spec.deadline, clock.wallNow());
    // Settle before correcting: a refund must not undo what the provider
    // told us.
    std::optional<std::int64_t> spend;
    if (rr.success()) {
        spend = settle(job, pr, f, rr.usage);
    } else if (r.status == 0) {
        // No answer at all (the provider may still have counted it):
        // keep the estimate.
        admission.settle(std::move(f.reservation), job.cost);
    } else {
        // A refused request: the provider's hint (enforced as the key's
        // cool-down) says when it has room, so a near miss costs that,
        // not a further request's refill time in our ledger; headers
        // that say the provider counted it correct the ledger below.
        const std::int64_t counted = rr.triage.cls == FailureClass::RateLimited ? 0 : 1;
        admission.settle(std::move(f.reservation), Cost{counted, 0, 0, 0, 1});
    }
    if (r.status != 0) {
        // Any answer means the provider is there.
        pr.unreachable = false;
        pr.consecutiveUnreachable = 0;
    }
    if (r.status != 0 && rr.headers.any()) {
        const auto announcedBefore = ms.limits.announced;
        correctFromHeaders(admission, *pr.cfg, ms.scope, ms.limits, rr.headers, f.sentAt);
        if (ms.limits.announced != announcedBefore) {
            tellPeersLearned(pr, kr, job.info.model, rr.headers);
        }
    }
    if (ms.probe == ModelState::Probe::InFlight) {
        // Any answer ends the probe, headers or not; no answer means try
        // another probe.
        ms.probe = r.status != 0 ? ModelState::Probe::Done : ModelState::Probe::Needed;
    }
    recordAttempt(job, f, r, rr, now);
    AttemptReport report = attemptReport(job, pr, kr, f, now);
    report.status = r.status;
    report.cls = rr.triage.cls;
    report.usage = rr.usage;
    report.spendMicroUsd = spend;
    if (rr.success()) {
        onSuccess(job, pr, ms, report, r, std::move(rr), now);
        return;
    }
    ++counters.failures[static_cast<std::size_t>(rr.triage.cls)];
    report.willRetry = onFailure(job, f, ms, rr, r, now);
    listener.onAttempt(report);
}

void Dispatcher::Impl::onSuccess(Job& job, ProviderRuntime& pr, ModelState& ms, const AttemptReport& report, http::HttpResult& r,
               ResponseRead&& rr, TimePoint now)
{
    pr.consecutiveOverloads = 0;
    ms.consecutive429 = 0;
    listener.onAttempt(report);
    counters.inputTokens += rr.usage ? rr.usage->inputTokens : 0;
    counters.outputTokens += rr.usage ? rr.usage->outputTokens : 0;
    counters.estimatedInputTokens += job.cost.inputTokens;
    counters.estimatedOutputTokens += job.cost.outputTokens;
    if (report.spendMicroUsd) {
        counters.spendMicroUsd += *report.spendMicroUsd;
    } else {
        ++counters.unpricedResponses;
    }
    JobOutcome out = baseOutcome(job, report.key);
    out.status = r.status;
    out.requestId = requestIdOf(r.headers);
    out.usage = rr.usage;
    out.spendMicroUsd = report.spendMicroUsd;
    out.body = std::move(rr.body);
    complete(job, std::move(out), now);
}

bool Dispatcher::Impl::onFailure(Job& job, const Flight& f, ModelState& ms, ResponseRead& rr, const http::HttpResult& r,
               TimePoint now)
{
    ProviderRuntime& pr = pool.provider(job.provider);
    KeyRuntime& kr = pr.keys[f.key];
    FailureInput in;
    in.triage = rr.triage;
    in.unreachable = rr.unreachable;
    in.bucketReset = bucketResetHint(rr.headers);
    in.history = FailureHistory{job.attempts, job.rateLimitRetries, ms.consecutive429, pr.consecutiveOverloads,
                                pr.consecutiveUnreachable, job.headShown};
    in.now = now;
    in.keyCoolingUntil = ms.coolingUntil;
    in.providerBackoffUntil = pr.backoffUntil;
    const FailureAction a =
        decideFailure(in, config->retry, [this](Duration ceiling) { return backoff.jitter(ceiling); });
    job.attempts = a.history.attempts;
    job.rateLimitRetries = a.history.rateLimitRetries;
    ms.consecutive429 = a.history.keyRateLimitStreak;
    pr.consecutiveOverloads = a.history.providerOverloadStreak;
    pr.consecutiveUnreachable = a.history.providerUnreachableStreak;
    if (a.providerUnreachable) {
        markUnreachable(job, pr, a, now);
    }
    // Any 429 for a rate limit came at a pace our ledger allowed: the
    // provider counts stricter than we model (a near miss: arrivals closer
    // together than they left; a longer wait: a smaller burst, or a window
    // that remembers one), so widen the margin and narrow the burst. Quiet
    // periods undo both.
    if (a.nearMiss || rr.triage.cls == FailureClass::RateLimited) {
        admission.widenMargin(ms.scope);
        learnFrom429(admission, ms.scope, ms.limits, a.rateLimitHint, a.nearMiss, now);
        // Refused while ramping up after idle: the provider's acceleration
        // limit is slower than our ramp; flatten the next ones.
        if (pr.cfg->rampAfterIdle && idleRamp.onRateLimited(ms.scope, *pr.cfg->rampAfterIdle, f.sentAt)) {
            note(job, TimelineEvent::Kind::Waiting,
                 "refused while ramping up after idle: " + pr.cfg->name + "/" + job.info.model +
                     " ramps up more gently from now on");
        }
        // What the 429 taught (narrower burst, even pacing, a wider margin),
        // for --explain.
        note(job, TimelineEvent::Kind::Limits,
             limitsNote(pr, kr, job.info.model, ms, admission, idleRamp, now, calibrator));
    }
    if (a.coolKeyUntil) {
        ms.coolingUntil = *a.coolKeyUntil;
        note(job, TimelineEvent::Kind::KeyCooled,
             timeline::keyCooled(pr.cfg->name, kr.cfg->name, job.info.model, clock.toWall(ms.coolingUntil), a.what));
        tellPeersCooled(pr, kr, job.info.model, ms.coolingUntil);
    }
    if (a.quarantineKey) {
        note(job, TimelineEvent::Kind::KeyQuarantined, "key " + pr.cfg->name + "/" + kr.cfg->name + ": " + a.what);
        // Requests already in flight on the key fail the same way; the
        // alarm is raised once.
        if (pool.quarantine(kr, a.what)) {
            listener.onKeyProblem(pr.cfg->name, kr.cfg->name, a.what);
            tellPeersQuarantined(pr, kr, a.what);
        }
    }
    if (a.backOffProviderUntil) {
        pr.backoffUntil = *a.backOffProviderUntil;
    }
    switch (a.next) {
    case FailureAction::Next::Requeue: requeue(job, now); return true;
    case FailureAction::Next::RetryAt: retryAt(job, a.retryAt, now); return true;
    case FailureAction::Next::DeadLetter: break;
    }
    JobOutcome out = baseOutcome(job, kr.cfg->name);
    out.result = JobResult::DeadLettered;
    out.cls = a.cls;
    out.reason = a.reason;
    out.status = r.status;
    out.requestId = requestIdOf(r.headers);
    out.body = std::move(rr.body);
    deliver(job, std::move(out), now);
    return false;
}

void Dispatcher::Impl::markUnreachable(Job& job, ProviderRuntime& pr, const FailureAction& a, TimePoint now)
{
    note(job, TimelineEvent::Kind::Waiting,
         "for provider " + pr.cfg->name + ", unreachable (" + a.what + "), until " +
             formatRfc3339(clock.toWall(*a.backOffProviderUntil), 3) + " (in " +
             formatDelay(*a.backOffProviderUntil - now) + ")");
    if (!pr.unreachable) {
        // Requests already in flight fail the same way; the alarm is
        // raised once per outage.
        pr.unreachable = true;
        pr.unreachableReason = a.what;
        listener.onProviderProblem(pr.cfg->name, a.what);
    }
}

void Dispatcher::Impl::requeue(Job& job, TimePoint now)
{
    job.state = State::Queued;
    ++counters.queued;
    Lane& lane = lanes[job.lane];
    lane.queue.pushFront(job.id, job.priority, job.tenant, job.weight, job.size);
    lane.blockedUntil = std::min(lane.blockedUntil, now);
}

void Dispatcher::Impl::retryAt(Job& job, TimePoint when, TimePoint now)
{
    job.state = State::Retrying;
    ++counters.queued;
    ++counters.retries;
    retries.emplace(when, job.id);
    note(job, TimelineEvent::Kind::RetryScheduled,
         timeline::retryScheduled(job.attempts + 1, clock.toWall(when), when - now));
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
    note(job, TimelineEvent::Kind::Completed, timeline::completed(out.usage));
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

void Dispatcher::Impl::note(Job& job, TimelineEvent::Kind kind, std::string detail, std::optional<WallTime> at)
{
    job.timeline.push_back(TimelineEvent{at.value_or(clock.wallNow()), kind, std::move(detail)});
}

std::vector<LaneStatus> Dispatcher::Impl::laneStatuses(TimePoint now) const
{
    std::vector<LaneStatus> out;
    for (const Lane& lane : lanes) {
        LaneStatus ls;
        ls.provider = pool.providers()[lane.provider].cfg->name;
        ls.model = lane.model;
        ls.queued = lane.queue.size();
        ls.blocked = !lane.queue.empty() && (lane.waitsForRelease || lane.blockedUntil > now);
        ls.until = lane.blockedUntil;
        ls.waitsForRelease = lane.waitsForRelease;
        ls.waitingFor = lane.waitingFor;
        out.push_back(std::move(ls));
    }
    return out;
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
        calibration = calibrationStatus(calibrator);
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
