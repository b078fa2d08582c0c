// The dispatcher's side of an answer: settle the reservation, learn from
// headers and 429s, and decide (through FailurePolicy) what comes next.
// Part of Dispatcher::Impl (dispatch_loop.h); the loop itself is in
// dispatch_loop.cpp.
#include "dispatch/dispatch_loop.h"

#include "core/timefmt.h"
#include "dispatch/failure_policy.h"
#include "dispatch/limit_learner.h"
#include "dispatch/limit_status.h"
#include "dispatch/response_sink.h"
#include "dispatch/timeline.h"
#include "providers/prompt_estimator.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace sluice {

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

std::optional<std::int64_t> Dispatcher::Impl::settle(const Job& job, ProviderRuntime& pr, Flight& f,
                                   const std::optional<ResponseUsage>& usage)
{
    if (!usage) {
        admission.settle(std::move(f.reservation), job.cost);
        return std::nullopt;
    }
    const std::optional<std::int64_t> spend = config->pricing.microUsd(job.info.model, usage->billed);
    Cost actual{1, usage->inputTokens, usage->outputTokens, spend.value_or(job.cost.spendMicroUsd), 1};
    // What an image or a document cost says nothing about how text
    // tokenizes, nor does a conversation the provider kept: the
    // calibrators learn from prompts of text alone.
    const bool textOnly = job.info.prompt.mediaParts == 0 && job.info.prompt.context == 0;
    if (textOnly && job.info.prompt.method != PromptCountMethod::Exact) {
        if (calibrator != nullptr) {
            // The uncalibrated estimate, or the calibrator would chase its
            // own corrections.
            calibrator->observe(job.info.model, job.info.prompt.ruleOfThumb,
                                reportedPromptTokens(pr.cfg->flavor, *usage), job.info.prompt.language);
        }
        if (proxy != nullptr && job.info.prompt.proxy > 0) {
            proxy->observe(job.info.model, job.info.prompt.proxy, reportedPromptTokens(pr.cfg->flavor, *usage),
                           job.info.prompt.language);
        }
    } else if (textOnly && agreement != nullptr && job.info.endpoint == Endpoint::Completion) {
        // Chat only: the other endpoints' estimates carry no language class.
        agreement->observe(job.info.model, job.info.prompt.counted, reportedPromptTokens(pr.cfg->flavor, *usage),
                           job.info.prompt.language);
    }
    if (pr.cfg->tokenAccounting != TokenAccounting::Actual) {
        // The provider keeps what it charged on arrival, max_tokens × n
        // for the output, unless it was found to give back what the answer
        // did not use (RefundProbe): refunding it otherwise would show
        // headroom the provider does not have. The prompt is what it
        // reported, not our estimate of it (off by up to 4× for code or
        // CJK text).
        const std::int64_t unused = std::max<std::int64_t>(0, job.cost.outputTokens - actual.outputTokens);
        double share = 0.0;
        // Not learned where instances share the budget: a probe's excess
        // may be refused on another instance, which would leave this one
        // sure of refunds it never tested. Nor from an answer that reports
        // no output: a usage without the count, not a refund of all of it.
        if (pr.cfg->tokenAccounting == TokenAccounting::Learn && !config->shared && actual.outputTokens > 0) {
            pr.refunds.answered(job.cost.inputTokens + job.cost.outputTokens, unused, clock.now());
            share = pr.refunds.share();
            pr.unstated.used(actual.inputTokens + actual.outputTokens, clock.now());
            if (job.info.outputUnstated) {
                const std::int64_t n = std::max(1, job.info.n);
                pr.unstated.answered(actual.outputTokens / n, job.cost.outputTokens / n, clock.now());
            }
        }
        // An answer longer than its reservation (one that stated no cap, on
        // a learned hold) was counted at its length.
        const std::int64_t settled = job.cost.outputTokens - std::llround(share * static_cast<double>(unused));
        actual.outputTokens = std::max(actual.outputTokens, settled);
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
        // Stopped before any answer, but sent: the provider counted the
        // request when it arrived (OpenAI charges the prompt and max_tokens
        // then, and a request given up does not give them back), so the
        // estimate stays charged. Refunded, it let the next requests
        // overfill a provider's window: a gateway's held requests given up
        // at their hold time drew 429s (docs/benchmarks.md).
        admission.settle(std::move(f.reservation), job.cost);
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
    if (rr.triage.cls == FailureClass::None && r.status != 0) {
        note(job, TimelineEvent::Kind::Response, timeline::responseFacts(r.status, now - f.sentAt));
    } else {
        note(job, TimelineEvent::Kind::Response,
             timeline::response(r.status, rr.triage.cls, rr.triage.message, now - f.sentAt));
    }
}

void Dispatcher::Impl::learnFromHeaders(const Job& job, ProviderRuntime& pr, KeyRuntime& kr, ModelState& ms,
                                        const RateLimitHeaders& headers, TimePoint sentAt)
{
    if (headers.tokens.remaining || headers.outputTokens.remaining) {
        pr.refunds.tokenHeadersSeen();
    }
    const auto announcedBefore = ms.limits.announced;
    correctFromHeaders(admission, *pr.cfg, ms.scope, ms.limits, headers, sentAt);
    if (ms.limits.announced != announcedBefore) {
        tellPeersLearned(pr, kr, job.info.model, headers);
    }
}

void Dispatcher::Impl::onTransferDone(DispatchId id, http::HttpResult&& r)
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
    if (job.info.storedObject) {
        // A stored response read back carries the usage it had when it was
        // made: counted then, not again.
        rr.storedUsage = std::exchange(rr.usage, std::nullopt);
    }
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
        // Instances sharing the budget keep a 429's slot counted
        // (Admission::settleRateLimited says why).
        if (rr.triage.cls == FailureClass::RateLimited) {
            admission.settleRateLimited(std::move(f.reservation));
        } else {
            // A read of a stored response spends no request, refused or not.
            admission.settle(std::move(f.reservation), job.info.storedObject ? job.cost : Cost{1, 0, 0, 0, 1});
        }
    }
    if (r.status != 0) {
        // Any answer means the provider is there.
        pr.unreachable = false;
        pr.consecutiveUnreachable = 0;
    }
    if (r.status != 0 && rr.headers.any()) {
        learnFromHeaders(job, pr, kr, ms, rr.headers, f.sentAt);
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
    out.storedUsage = std::move(rr.storedUsage);
    out.spendMicroUsd = report.spendMicroUsd;
    out.body = std::move(rr.body);
    out.responseId = std::move(rr.responseId);
    complete(job, std::move(out), now);
}

void Dispatcher::Impl::noteTokenRefusal(ProviderRuntime& pr, const std::string& limitName, TimePoint now)
{
    if (!limitName.empty() && limitName.find("tokens") == std::string::npos) {
        return;
    }
    // A smaller hold being tried answers for its own 429s: they say
    // nothing of the refunds already learned.
    if (pr.unstated.answersFor429s(now)) {
        pr.unstated.rateLimited(now);
        return;
    }
    pr.refunds.rateLimited(now);
    pr.unstated.rateLimited(now);
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
    FailureAction a =
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
        noteTokenRefusal(pr, rr.triage.limitName, now);
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
             limitsNote(pr, kr, job.info.model, ms, admission, idleRamp, now, calibrator, proxy));
    }
    if (a.coolKeyUntil) {
        ms.coolingUntil = *a.coolKeyUntil;
        note(job, TimelineEvent::Kind::KeyCooled,
             timeline::keyCooled(pr.cfg->name, kr.cfg->name, job.info.model, clock.toWall(ms.coolingUntil), a.what));
        tellPeersCooled(pr, kr, job.info.model, ms.coolingUntil);
    }
    if (a.quarantineKey) {
        quarantineKey(job, pr, kr, a);
    }
    if (a.backOffProviderUntil) {
        pr.backoffUntil = *a.backOffProviderUntil;
    }
    if (a.denyKeyModelUntil) {
        denyKeyModel(job, pr, kr, ms, a, now);
    }
    if (job.giveUpWhenQueued && a.next != FailureAction::Next::DeadLetter) {
        finish(job, JobResult::Cancelled, FailureClass::Cancelled, "given up: a retry would wait past its time", now);
        return false;
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

void Dispatcher::Impl::quarantineKey(Job& job, ProviderRuntime& pr, KeyRuntime& kr, const FailureAction& a)
{
    note(job, TimelineEvent::Kind::KeyQuarantined, "key " + pr.cfg->name + "/" + kr.cfg->name + ": " + a.what);
    // Requests already in flight on the key fail the same way; the alarm is
    // raised once.
    if (pool.quarantine(kr, a.what)) {
        listener.onKeyProblem(pr.cfg->name, kr.cfg->name, a.what);
        tellPeersQuarantined(pr, kr, a.what);
    }
}

// The provider refused the key this model (403): the pair rests, and the
// job goes on another key that may use it, or, when none may, ends with
// the provider's answer (its client's to see).
void Dispatcher::Impl::denyKeyModel(Job& job, ProviderRuntime& pr, KeyRuntime& kr, ModelState& ms, FailureAction& a,
                                    TimePoint now)
{
    ms.deniedUntil = *a.denyKeyModelUntil;
    ms.deniedReason = a.what;
    // In the job's timeline, not the key alarm (onKeyProblem): that one
    // says the key is quarantined, and this key is not.
    note(job, TimelineEvent::Kind::KeyQuarantined,
         "key " + pr.cfg->name + "/" + kr.cfg->name + " may not use model " + job.info.model + " until " +
             formatRfc3339(clock.toWall(ms.deniedUntil), 3) + ": " + a.what);
    if (!pool.mayUse(pr, job.info.model, now, job.spec.key)) {
        a.next = FailureAction::Next::DeadLetter;
        a.cls = FailureClass::PermissionDenied;
        a.reason = a.what;
    }
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

}  // namespace sluice
