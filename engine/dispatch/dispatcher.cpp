#include "dispatch/dispatcher.h"

#include "core/json_scan.h"
#include "core/timefmt.h"
#include "dispatch/backoff.h"
#include "dispatch/fair_queue.h"
#include "http/http_client.h"
#include "providers/rate_limit_headers.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <unordered_map>
#include <variant>

namespace sluice {

using nlohmann::json;

std::string_view timelineKindName(TimelineEvent::Kind k) noexcept
{
    switch (k) {
    case TimelineEvent::Kind::Queued: return "queued";
    case TimelineEvent::Kind::Waiting: return "waiting";
    case TimelineEvent::Kind::Sent: return "sent";
    case TimelineEvent::Kind::FirstToken: return "first_token";
    case TimelineEvent::Kind::Response: return "response";
    case TimelineEvent::Kind::RetryScheduled: return "retry_scheduled";
    case TimelineEvent::Kind::KeyCooled: return "key_cooled";
    case TimelineEvent::Kind::KeyQuarantined: return "key_quarantined";
    case TimelineEvent::Kind::Completed: return "completed";
    case TimelineEvent::Kind::DeadLettered: return "dead_lettered";
    case TimelineEvent::Kind::Cancelled: return "cancelled";
    }
    return "event";
}

namespace {

using JobId = std::uint64_t;

constexpr std::size_t kMaxErrorBody = 1u << 20;
// What a 429 costs on top of the provider's own hint: the jitter between
// two requests' trips to it, so the retry does not arrive early again.
constexpr Duration kNearMissMargin = std::chrono::milliseconds(10);
// A 429 whose hint is this short came from arriving early, not from pace.
constexpr Duration kNearMissHint = std::chrono::milliseconds(250);

std::string describeBinding(const Binding& b, const std::vector<std::string>& scopeNames)
{
    std::string scope = b.scope < scopeNames.size() ? scopeNames[b.scope] : "scope " + std::to_string(b.scope);
    if (b.dimension < 0) {
        return scope + " (removed)";
    }
    std::string what(measureName(b.measure));
    if (b.measure != Measure::Concurrency) {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(b.period).count();
        what += secs == 60 ? " per minute" : secs == 86400 ? " per day" : " per " + std::to_string(secs) + " s";
    }
    return what + " of " + scope;
}

std::string formatDelay(Duration d)
{
    return formatGoDuration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

// Notes for the timeline are written for every request, so they are joined
// with one allocation rather than a chain of temporaries.
struct Decimal {
    std::array<char, 24> digits{};
    std::size_t size = 0;
};

Decimal decimal(std::int64_t v)
{
    Decimal d;
    d.size = static_cast<std::size_t>(std::to_chars(d.digits.data(), d.digits.data() + d.digits.size(), v).ptr -
                                      d.digits.data());
    return d;
}

std::string_view piece(std::string_view s)
{
    return s;
}

std::string_view piece(const Decimal& d)
{
    return {d.digits.data(), d.size};
}

template <typename... Pieces>
std::string concat(const Pieces&... pieces)
{
    const std::string_view parts[] = {piece(pieces)...};
    std::size_t size = 0;
    for (std::string_view p : parts) {
        size += p.size();
    }
    std::string out;
    out.reserve(size);
    for (std::string_view p : parts) {
        out.append(p);
    }
    return out;
}

// `spec` with its limit set to `limit`, its burst scaled alike so the
// enforcement granularity (a second's worth, ten seconds' worth) is kept.
LimitSpec rescaled(LimitSpec spec, std::int64_t limit)
{
    if (spec.burst > 0 && spec.limit > 0) {
        const double share = static_cast<double>(limit) / static_cast<double>(spec.limit);
        // Rounded down: a burst too small costs a little pace, one too large a 429.
        spec.burst = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(static_cast<double>(spec.burst) * share)));
    }
    spec.limit = limit;
    return spec;
}

}  // namespace

struct Dispatcher::Impl {
    struct KeyRuntime {
        // Everything kept per key and model, found with one lookup.
        struct ModelState {
            ScopeId scope = kNoScope;
            Path path;
            // Slow start for a model whose limits are neither configured
            // nor yet learned: one request goes first, and its rate-limit
            // headers set the pace for the rest (a blind burst would meet a
            // storm of 429s).
            enum class Probe : std::uint8_t { Needed, InFlight, Done } probe = Probe::Done;
            TimePoint coolingUntil{};
            int consecutive429 = 0;
            std::set<Measure> learned;  // dimensions that came from headers
            // Configured dimensions the provider announced a lower limit
            // for: what the configuration said, kept so that a later,
            // higher announcement restores it and never exceeds it.
            std::map<Measure, LimitSpec> lowered;
            // The limits the headers announced last time: learning runs only
            // when they change.
            std::array<std::int64_t, 4> announced{-1, -1, -1, -1};
        };
        using Probe = ModelState::Probe;

        std::shared_ptr<const KeyConfig> cfg;
        ScopeId scope = kNoScope;
        bool disabled = false;
        bool removed = false;
        bool quarantined = false;
        std::string reason;
        std::map<std::string, ModelState, std::less<>> models;
    };
    struct ProviderRuntime {
        // The provider's settings as they are now (models and their limits
        // change at run time); its keys live in `keys`.
        std::shared_ptr<ProviderConfig> cfg;
        bool removed = false;
        ScopeId scope = kNoScope;
        std::vector<KeyRuntime> keys;
        TimePoint backoffUntil{};
        int consecutiveOverloads = 0;
    };
    struct Lane {
        std::size_t provider = 0;
        std::string model;
        FairQueue queue;
        TimePoint blockedUntil{};
        bool waitsForRelease = false;
        std::string waitingFor;
    };
    struct Flight {
        std::size_t key = 0;
        Reservation reservation;
        http::HttpClient::TransferId transfer = 0;
        TimePoint sentAt{};
        std::optional<TimePoint> firstToken;
        std::unique_ptr<StreamAccumulator> stream;  // streams only: kept out of every job's node
        long status = 0;
        std::string errorBody;
    };
    enum class State : std::uint8_t { Queued, Retrying, InFlight };
    // Why an in-flight transfer was stopped from our side.
    enum class Abort : std::uint8_t { None, Cancelled, Deadline, Stopping };
    struct Job {
        JobId id = 0;
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
        Abort abort = Abort::None;
        std::string lastWaitNote;
        std::vector<AttemptRecord> attemptLog;
        std::vector<TimelineEvent> timeline;
        std::optional<Flight> flight;
    };
    struct Submit {
        JobSpec spec;
        RequestInfo info;
        std::string bodyText;
        Cost cost;
        std::size_t provider;
    };
    struct Cancel {
        std::string customId;
    };
    struct Pause {
        bool paused;
    };
    struct KeyEnabled {
        std::string provider;
        std::string key;
        bool enabled;
    };
    struct AddProvider {
        ProviderConfig provider;
    };
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
    using Command = std::variant<Submit, Cancel, Pause, KeyEnabled, AddProvider, RemoveProvider, AddKey, RemoveKey, SetLimits>;

    Impl(const Config& cfg, Clock& clk, Admission& adm, DispatchListener& lst, const DispatcherOptions& opt)
        : config(cfg),
          clock(clk),
          admission(adm),
          listener(lst),
          options(opt),
          backoff(cfg.retry.baseDelay, cfg.retry.maxDelay, opt.seed != 0 ? opt.seed : std::random_device{}())
    {
        registerScopes();
        clockSubscription = clock.subscribe([this] { http.wakeup(); });
    }

    // ---- shared with callers (guarded by mutex) ----
    std::mutex mutex;
    std::condition_variable idleCv;
    std::vector<Command> commands;
    DispatcherStats published;
    std::uint64_t submittedTotal = 0;
    std::uint64_t finishedTotal = 0;
    std::atomic<bool> stopping{false};

    // ---- dispatcher thread ----
    const Config config;  // as started; providers and keys live in `providers`
    Clock& clock;
    Admission& admission;
    DispatchListener& listener;
    DispatcherOptions options;
    http::HttpClient http;
    Backoff backoff;
    std::thread thread;
    ClockSubscription clockSubscription;
    std::vector<ProviderRuntime> providers;
    std::vector<Lane> lanes;
    std::map<std::pair<std::size_t, std::string>, std::size_t> laneIndex;
    std::unordered_map<JobId, Job> jobs;
    std::unordered_map<std::string, JobId> byCustomId;
    std::priority_queue<std::pair<TimePoint, JobId>, std::vector<std::pair<TimePoint, JobId>>, std::greater<>> retries;
    std::vector<std::string> scopeNames;
    JobId nextId = 1;
    bool paused = false;
    DispatcherStats counters;
    TimePoint lastDeadlineSweep{};
    TimePoint lastStatusPublish{};
    TimePoint lastCountersPublish{};
    std::size_t jobsWithDeadlines = 0;

    // ---------------------------------------------------------------- setup

    void nameScope(ScopeId id, std::string name)
    {
        if (scopeNames.size() <= id) {
            scopeNames.resize(id + 1);
        }
        scopeNames[id] = std::move(name);
    }

    void registerScopes()
    {
        std::vector<LimitSpec> global = config.globalLimits;
        const bool hasConcurrency = std::any_of(global.begin(), global.end(),
                                                [](const LimitSpec& s) { return s.measure == Measure::Concurrency; });
        if (!hasConcurrency) {
            global.push_back(concurrency(options.defaultGlobalConcurrency));
        }
        admission.setLimits(Admission::root(), global);
        nameScope(Admission::root(), "global");
        for (const ProviderConfig& pc : config.providers) {
            addProvider(pc);
        }
    }

    void addProvider(const ProviderConfig& pc)
    {
        ProviderRuntime pr;
        pr.cfg = std::make_shared<ProviderConfig>(pc);
        pr.cfg->keys.clear();
        pr.scope = scopeFor(Admission::root(), pc.name, pc.limits);
        nameScope(pr.scope, "provider " + pc.name);
        providers.push_back(std::move(pr));
        for (const KeyConfig& kc : pc.keys) {
            addKey(providers.back(), kc);
        }
    }

    void addKey(ProviderRuntime& pr, const KeyConfig& kc)
    {
        KeyRuntime kr;
        kr.cfg = std::make_shared<const KeyConfig>(kc);
        kr.disabled = !kc.enabled;
        kr.scope = scopeFor(pr.scope, kc.name, kc.limits);
        nameScope(kr.scope, "key " + pr.cfg->name + "/" + kc.name);
        for (const ModelConfig& mc : pr.cfg->models) {
            modelState(pr, kr, mc.name);
        }
        pr.keys.push_back(std::move(kr));
    }

    ProviderRuntime* findProvider(std::string_view name)
    {
        for (ProviderRuntime& pr : providers) {
            if (pr.cfg->name == name && !pr.removed) {
                return &pr;
            }
        }
        return nullptr;
    }

    KeyRuntime* findKey(ProviderRuntime& pr, std::string_view name)
    {
        for (KeyRuntime& kr : pr.keys) {
            if (kr.cfg->name == name && !kr.removed) {
                return &kr;
            }
        }
        return nullptr;
    }

    ScopeId scopeFor(ScopeId parent, const std::string& name, const std::vector<LimitSpec>& limits)
    {
        if (auto existing = admission.findScope(parent, name)) {
            admission.setLimits(*existing, limits);
            return *existing;
        }
        return admission.addScope(parent, name, limits);
    }

    KeyRuntime::ModelState& modelState(const ProviderRuntime& pr, KeyRuntime& kr, const std::string& model)
    {
        if (const auto it = kr.models.find(model); it != kr.models.end()) {
            return it->second;
        }
        std::vector<LimitSpec> limits;
        if (const auto it = kr.cfg->modelLimits.find(model); it != kr.cfg->modelLimits.end()) {
            limits = it->second;
        } else if (const ModelConfig* mc = pr.cfg->model(model)) {
            limits = mc->limits;
        }
        KeyRuntime::ModelState ms;
        ms.scope = scopeFor(kr.scope, model, limits);
        ms.path = admission.pathTo(ms.scope);
        ms.probe = pr.cfg->learnLimits && limits.empty() ? KeyRuntime::Probe::Needed : KeyRuntime::Probe::Done;
        nameScope(ms.scope, "model " + pr.cfg->name + "/" + kr.cfg->name + "/" + model);
        return kr.models.emplace(model, std::move(ms)).first->second;
    }

    std::size_t laneFor(std::size_t provider, const std::string& model)
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

    // ------------------------------------------------------------ the loop

    void run()
    {
        while (!stopping.load()) {
            const TimePoint now = clock.now();
            drainCommands(now);
            fireRetries(now);
            if (jobsWithDeadlines > 0 && now - lastDeadlineSweep >= std::chrono::seconds(1)) {
                sweepDeadlines(now);
                lastDeadlineSweep = now;
            }
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
        // Stopping: abort what is in flight; each abort refunds its reservation.
        std::vector<http::HttpClient::TransferId> open;
        for (auto& [id, job] : jobs) {
            if (job.flight) {
                job.abort = Abort::Stopping;
                open.push_back(job.flight->transfer);
            }
        }
        for (auto t : open) {
            http.abort(t);
        }
    }

    Duration nextWake(TimePoint now) const
    {
        TimePoint wake = now + std::chrono::milliseconds(250);
        if (!retries.empty()) {
            wake = std::min(wake, retries.top().first);
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

    void drainCommands(TimePoint now)
    {
        std::vector<Command> batch;
        {
            std::lock_guard guard(mutex);
            batch.swap(commands);
        }
        for (Command& c : batch) {
            std::visit([&](auto& cmd) { apply(cmd, now); }, c);
        }
    }

    void apply(Submit& s, TimePoint now)
    {
        Job job;
        job.id = nextId++;
        job.info = std::move(s.info);
        job.bodyText = std::move(s.bodyText);
        job.cost = s.cost;
        job.provider = s.provider;
        job.tenant = s.spec.tenant.empty() ? config.defaults.tenant : s.spec.tenant;
        job.priority = s.spec.priority.value_or(config.defaults.priority);
        job.weight = config.tenantWeight(job.tenant);
        job.size = static_cast<double>(std::max<std::int64_t>(1, job.cost.inputTokens + job.cost.outputTokens));
        if (!s.spec.deadline && config.defaults.deadline) {
            s.spec.deadline = now + *config.defaults.deadline;
        }
        job.spec = std::move(s.spec);
        job.lane = laneFor(job.provider, job.info.model);
        // Queued, sent, response, completed: room for a plain job's history.
        job.timeline.reserve(4);
        note(job, TimelineEvent::Kind::Queued,
             concat("tenant ", job.tenant, ", priority ", decimal(job.priority), ", estimated ",
                    decimal(job.cost.inputTokens), " input + ", decimal(job.cost.outputTokens), " output tokens"));
        byCustomId[job.spec.customId] = job.id;
        jobsWithDeadlines += job.spec.deadline.has_value();
        Lane& lane = lanes[job.lane];
        lane.queue.push(job.id, job.priority, job.tenant, job.weight, job.size);
        lane.blockedUntil = std::min(lane.blockedUntil, now);
        ++counters.queued;
        jobs.emplace(job.id, std::move(job));
    }

    void apply(Cancel& c, TimePoint now)
    {
        const auto it = byCustomId.find(c.customId);
        if (it == byCustomId.end()) {
            return;
        }
        Job& job = jobs.at(it->second);
        if (job.flight) {
            job.abort = Abort::Cancelled;
            http.abort(job.flight->transfer);  // completes through onTransferDone
            return;
        }
        lanes[job.lane].queue.remove(job.id);
        finish(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled", now);
    }

    void apply(Pause& p, TimePoint now)
    {
        paused = p.paused;
        for (Lane& lane : lanes) {
            lane.blockedUntil = std::min(lane.blockedUntil, now);
        }
    }

    void apply(KeyEnabled& k, TimePoint now)
    {
        for (ProviderRuntime& pr : providers) {
            if (pr.cfg->name != k.provider) {
                continue;
            }
            for (KeyRuntime& kr : pr.keys) {
                if (kr.cfg->name == k.key) {
                    kr.disabled = !k.enabled;
                    // Re-enabling also lifts a quarantine: the operator says
                    // the key is good again (quota topped up, key rotated).
                    if (k.enabled) {
                        kr.quarantined = false;
                        kr.reason.clear();
                    }
                }
            }
        }
        wakeAllLanes(now);
    }

    void wakeAllLanes(TimePoint now)
    {
        for (Lane& lane : lanes) {
            lane.blockedUntil = std::min(lane.blockedUntil, now);
        }
    }

    void apply(AddProvider& a, TimePoint now)
    {
        addProvider(a.provider);
        wakeAllLanes(now);
    }

    void apply(RemoveProvider& r, TimePoint now)
    {
        ProviderRuntime* pr = findProvider(r.provider);
        if (pr == nullptr) {
            return;
        }
        pr->removed = true;
        for (KeyRuntime& kr : pr->keys) {
            kr.removed = true;
        }
        // Its queued jobs can no longer go anywhere.
        const std::size_t index = static_cast<std::size_t>(pr - providers.data());
        for (Lane& lane : lanes) {
            if (lane.provider != index) {
                continue;
            }
            while (auto id = lane.queue.peek()) {
                lane.queue.pop();
                finish(jobs.at(*id), JobResult::DeadLettered, FailureClass::NoUsableKey,
                       "provider " + r.provider + " was removed", now);
            }
        }
        admission.removeScope(pr->scope);
    }

    void apply(AddKey& a, TimePoint now)
    {
        if (ProviderRuntime* pr = findProvider(a.provider)) {
            addKey(*pr, a.key);
            wakeAllLanes(now);
        }
    }

    void apply(RemoveKey& r, TimePoint now)
    {
        ProviderRuntime* pr = findProvider(r.provider);
        KeyRuntime* kr = pr != nullptr ? findKey(*pr, r.key) : nullptr;
        if (kr == nullptr) {
            return;
        }
        // Requests in flight on it finish; nothing new is sent on it.
        kr->removed = true;
        admission.removeScope(kr->scope);
        wakeAllLanes(now);
    }

    void apply(SetLimits& s, TimePoint now)
    {
        const LimitTarget& t = s.target;
        if (t.provider.empty()) {
            admission.setLimits(Admission::root(), s.limits);
            wakeAllLanes(now);
            return;
        }
        ProviderRuntime* pr = findProvider(t.provider);
        if (pr == nullptr) {
            return;
        }
        const auto setModel = [&](KeyRuntime& kr) {
            KeyRuntime::ModelState& ms = modelState(*pr, kr, t.model);
            admission.setLimits(ms.scope, s.limits);
            // Set by hand now: headers only lower them from here on.
            ms.learned.clear();
            ms.lowered.clear();
            ms.announced = {-1, -1, -1, -1};
            if (ms.probe != KeyRuntime::Probe::InFlight) {
                ms.probe = KeyRuntime::Probe::Done;
            }
        };
        if (t.key.empty() && t.model.empty()) {
            pr->cfg->limits = s.limits;
            admission.setLimits(pr->scope, s.limits);
        } else if (t.key.empty()) {
            // Every key's model scope, and keys added later.
            ModelConfig* mc = nullptr;
            for (ModelConfig& m : pr->cfg->models) {
                mc = m.name == t.model ? &m : mc;
            }
            if (mc == nullptr) {
                pr->cfg->models.push_back(ModelConfig{t.model, {}, 4096});
                mc = &pr->cfg->models.back();
            }
            mc->limits = s.limits;
            for (KeyRuntime& kr : pr->keys) {
                if (!kr.removed) {
                    setModel(kr);
                }
            }
        } else if (KeyRuntime* kr = findKey(*pr, t.key)) {
            if (t.model.empty()) {
                admission.setLimits(kr->scope, s.limits);
            } else {
                setModel(*kr);
            }
        }
        wakeAllLanes(now);
    }

    // --------------------------------------------------------- scheduling

    struct KeyChoice {
        enum class Kind : std::uint8_t { Admit, Wait, Never, NoUsableKey } kind = Kind::NoUsableKey;
        std::size_t key = 0;
        Path path;
        TimePoint until = TimePoint::max();
        bool waitsForRelease = false;
        std::string why;
    };

    KeyChoice chooseKey(ProviderRuntime& pr, const std::string& model, const Cost& cost, TimePoint now)
    {
        KeyChoice choice;
        bool usable = false;
        bool allNever = true;
        double bestHeadroom = -1;
        for (std::size_t k = 0; k < pr.keys.size(); ++k) {
            KeyRuntime& kr = pr.keys[k];
            if (kr.disabled || kr.removed || kr.quarantined) {
                continue;
            }
            usable = true;
            KeyRuntime::ModelState& ms = modelState(pr, kr, model);
            if (ms.coolingUntil > now) {
                allNever = false;
                if (ms.coolingUntil < choice.until) {
                    choice.until = ms.coolingUntil;
                    choice.why = "key " + kr.cfg->name + " cooling down after a 429";
                }
                continue;
            }
            const Path& path = ms.path;
            if (ms.probe == KeyRuntime::Probe::InFlight) {
                allNever = false;
                choice.waitsForRelease = true;
                if (choice.why.empty()) {
                    choice.why = "the first response from key " + kr.cfg->name + " (learning its limits)";
                }
                continue;
            }
            const Check check = admission.check(path, cost);
            if (check.verdict == Verdict::Admit) {
                allNever = false;
                if (check.headroom > bestHeadroom) {
                    bestHeadroom = check.headroom;
                    choice.kind = KeyChoice::Kind::Admit;
                    choice.key = k;
                    choice.path = path;
                }
                continue;
            }
            if (check.verdict == Verdict::Never) {
                if (choice.why.empty() || allNever) {
                    choice.why = describeBinding(check.binding, scopeNames);
                }
                continue;
            }
            allNever = false;
            if (check.waitsForRelease) {
                choice.waitsForRelease = true;
                if (choice.until == TimePoint::max()) {
                    choice.why = describeBinding(check.releaseBinding, scopeNames);
                }
            } else if (check.notBefore < choice.until) {
                choice.until = check.notBefore;
                choice.why = describeBinding(check.binding, scopeNames);
            }
        }
        if (choice.kind == KeyChoice::Kind::Admit) {
            return choice;
        }
        if (!usable) {
            choice.kind = KeyChoice::Kind::NoUsableKey;
        } else if (allNever) {
            choice.kind = KeyChoice::Kind::Never;
        } else {
            choice.kind = KeyChoice::Kind::Wait;
            // A time-bound wait wins over a release wait when both exist.
            if (choice.until != TimePoint::max()) {
                choice.waitsForRelease = false;
            }
        }
        return choice;
    }

    void scheduleLane(Lane& lane, TimePoint now)
    {
        if (lane.queue.empty() || (lane.blockedUntil > now)) {
            return;
        }
        ProviderRuntime& pr = providers[lane.provider];
        if (pr.backoffUntil > now) {
            lane.blockedUntil = pr.backoffUntil;
            lane.waitsForRelease = false;
            lane.waitingFor = "provider " + pr.cfg->name + " backing off after overload";
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
            KeyChoice choice = chooseKey(pr, lane.model, job.cost, now);
            if (choice.kind == KeyChoice::Kind::NoUsableKey) {
                lane.queue.pop();
                finish(job, JobResult::DeadLettered, FailureClass::NoUsableKey,
                       "every key of provider " + pr.cfg->name + " is quarantined or disabled", now);
                continue;
            }
            if (choice.kind == KeyChoice::Kind::Never) {
                lane.queue.pop();
                finish(job, JobResult::DeadLettered, FailureClass::RequestTooLarge,
                       "estimated cost exceeds the whole of " + choice.why, now);
                continue;
            }
            if (choice.kind == KeyChoice::Kind::Wait) {
                lane.blockedUntil = choice.waitsForRelease ? TimePoint::max() : choice.until;
                lane.waitsForRelease = choice.waitsForRelease;
                lane.waitingFor = choice.why;
                std::string noteText = "for " + choice.why;
                if (!choice.waitsForRelease) {
                    noteText += " until " + formatRfc3339(clock.toWall(choice.until), 3);
                } else {
                    noteText += " until a request completes";
                }
                if (noteText != job.lastWaitNote) {
                    job.lastWaitNote = noteText;
                    note(job, TimelineEvent::Kind::Waiting, noteText);
                }
                return;
            }
            Decision d = admission.tryAcquireAt(choice.path, job.cost, now);
            if (d.verdict != Verdict::Admit) {
                // A blocking waiter embedded elsewhere holds this scope.
                lane.blockedUntil = d.waitsForRelease ? TimePoint::max() : d.notBefore;
                lane.waitsForRelease = d.waitsForRelease;
                lane.waitingFor = describeBinding(d.binding, scopeNames);
                return;
            }
            lane.queue.pop();
            send(job, choice.key, std::move(d.reservation), now);
        }
        lane.blockedUntil = TimePoint::max();
    }

    void fireRetries(TimePoint now)
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

    void sweepDeadlines(TimePoint now)
    {
        std::vector<JobId> expired;
        for (auto& [id, job] : jobs) {
            if (job.spec.deadline && now >= *job.spec.deadline) {
                expired.push_back(id);
            }
        }
        for (JobId id : expired) {
            Job& job = jobs.at(id);
            if (job.flight) {
                job.abort = Abort::Deadline;
                http.abort(job.flight->transfer);
                continue;
            }
            lanes[job.lane].queue.remove(id);
            finish(job, JobResult::DeadLettered, FailureClass::DeadlineExceeded, "deadline passed", now);
        }
    }

    // -------------------------------------------------------------- sending

    http::HttpRequest buildRequest(const ProviderRuntime& pr, const KeyRuntime& kr, const Job& job, TimePoint now) const
    {
        const ProviderConfig& pc = *pr.cfg;
        http::HttpRequest req;
        req.method = "POST";
        req.url = concat(pc.baseUrl, endpointPath(pc.flavor));
        req.headers.reserve(4 + pc.headers.size());
        req.headers.push_back("Content-Type: application/json");
        req.headers.push_back("User-Agent: sluice/0.1");
        if (job.info.stream) {
            req.headers.push_back("Accept: text/event-stream");
        }
        if (pc.flavor == ApiFlavor::Anthropic) {
            req.headers.push_back("anthropic-version: " + pc.anthropicVersion);
            req.secretHeader = kr.cfg->value.prefixed("x-api-key: ");
        } else {
            req.secretHeader = kr.cfg->value.prefixed("Authorization: Bearer ");
        }
        for (const auto& h : pc.headers) {
            req.headers.push_back(h);
        }
        req.body = job.bodyText;
        req.connectTimeout = pc.connectTimeout;
        req.totalTimeout = pc.totalTimeout;
        if (job.spec.deadline) {
            req.totalTimeout = std::clamp(*job.spec.deadline - now, Duration(std::chrono::milliseconds(1)), req.totalTimeout);
        }
        req.allowHttp2 = pc.http2;
        return req;
    }

    void send(Job& job, std::size_t keyIndex, Reservation reservation, TimePoint now)
    {
        ProviderRuntime& pr = providers[job.provider];
        KeyRuntime& kr = pr.keys[keyIndex];
        if (auto& ms = modelState(pr, kr, job.info.model); ms.probe == KeyRuntime::Probe::Needed) {
            ms.probe = KeyRuntime::Probe::InFlight;
        }
        job.state = State::InFlight;
        job.lastWaitNote.clear();
        job.flight.emplace();
        Flight& f = *job.flight;
        f.key = keyIndex;
        f.reservation = std::move(reservation);
        f.sentAt = now;
        if (job.info.stream) {
            f.stream = std::make_unique<StreamAccumulator>(pr.cfg->flavor);
        }
        const JobId id = job.id;
        http::TransferHandlers handlers;
        if (job.info.stream) {
            // The status decides, chunk by chunk, whether the body is events
            // or an error; a plain request reads it from the result.
            handlers.onHeaders = [this, id](long status, const http::HeaderMap&) {
                if (auto it = jobs.find(id); it != jobs.end() && it->second.flight) {
                    it->second.flight->status = status;
                }
            };
            handlers.onData = [this, id](std::string_view chunk) {
                const auto it = jobs.find(id);
                if (it == jobs.end() || !it->second.flight) {
                    return false;
                }
                Flight& fl = *it->second.flight;
                if (fl.status < 200 || fl.status >= 300) {
                    if (fl.errorBody.size() + chunk.size() <= kMaxErrorBody) {
                        fl.errorBody.append(chunk);
                    }
                    return true;
                }
                const bool ok = fl.stream->feed(chunk);
                if (fl.stream->firstTokenInLastFeed()) {
                    fl.firstToken = clock.now();
                }
                return ok;
            };
        }
        handlers.onComplete = [this, id](http::HttpResult&& result) { onTransferDone(id, std::move(result)); };
        f.transfer = http.start(buildRequest(pr, kr, job, now), std::move(handlers));
        ++counters.attempts;
        --counters.queued;
        ++counters.inFlight;
        listener.onSent(SendReport{pr.cfg->name, kr.cfg->name, job.info.model, job.tenant, now});
        note(job, TimelineEvent::Kind::Sent,
             concat("on key ", pr.cfg->name, "/", kr.cfg->name, " (attempt ",
                    decimal(static_cast<std::int64_t>(job.attemptLog.size() + 1)), ")"));
    }

    // --------------------------------------------------------- responses

    void learnLimits(const ProviderRuntime& pr, KeyRuntime::ModelState& ms, const RateLimitHeaders& h)
    {
        if (!pr.cfg->learnLimits) {
            return;
        }
        const bool anthropic = pr.cfg->flavor == ApiFlavor::Anthropic;
        std::vector<std::pair<Measure, const ProviderView*>> views = {{Measure::Requests, &h.requests}};
        if (anthropic && (h.inputTokens.limit || h.outputTokens.limit)) {
            views.emplace_back(Measure::InputTokens, &h.inputTokens);
            views.emplace_back(Measure::OutputTokens, &h.outputTokens);
        } else {
            views.emplace_back(Measure::TotalTokens, &h.tokens);
        }
        // Most responses announce the same limits as the last one: nothing
        // to learn, and no snapshot to take.
        std::array<std::int64_t, 4> announced{-1, -1, -1, -1};
        for (std::size_t i = 0; i < views.size(); ++i) {
            announced[i] = views[i].second->limit.value_or(-1);
        }
        if (announced == ms.announced) {
            return;
        }
        ms.announced = announced;
        const ScopeState state = admission.snapshot(ms.scope);
        std::vector<LimitSpec> specs;
        for (const auto& d : state.dimensions) {
            specs.push_back(d.spec);
        }
        bool changed = false;
        for (const auto& [measure, view] : views) {
            if (!view->limit || *view->limit <= 0) {
                continue;
            }
            const auto it = std::find_if(specs.begin(), specs.end(), [m = measure](const LimitSpec& s) {
                return s.measure == m && s.window == Window::Rolling && s.period == std::chrono::minutes(1);
            });
            const bool configured = it != specs.end() && ms.learned.count(measure) == 0;
            if (configured) {
                // The provider is the authority on its own limit: one it
                // announces below the configured value binds (a key on a
                // lower tier than the config assumed), or every response
                // would be followed by 429s at the configured pace.
                if (*view->limit < it->limit) {
                    ms.lowered[measure] = *it;
                    *it = rescaled(*it, *view->limit);
                    ms.learned.insert(measure);
                    changed = true;
                }
                continue;
            }
            if (const auto low = ms.lowered.find(measure); low != ms.lowered.end() && it != specs.end()) {
                // Lowered before: follow the announcement up to the
                // configured limit, never above it.
                const LimitSpec next = *view->limit >= low->second.limit ? low->second : rescaled(low->second, *view->limit);
                if (*view->limit >= low->second.limit) {
                    ms.lowered.erase(low);
                    ms.learned.erase(measure);
                }
                if (next.limit != it->limit || next.burst != it->burst) {
                    *it = next;
                    changed = true;
                }
                continue;
            }
            if (it != specs.end() && it->limit == *view->limit) {
                continue;
            }
            const LimitSpec learned = perMinute(measure, *view->limit, burstFor(*view->limit, pr.cfg->learnedGranularity));
            if (it != specs.end()) {
                *it = learned;
            } else {
                specs.push_back(learned);
            }
            ms.learned.insert(measure);
            changed = true;
        }
        if (changed && specs.size() <= static_cast<std::size_t>(Ledger::kMaxDimensions)) {
            admission.setLimits(ms.scope, specs);
        }
    }

    // The headers describe the provider's buckets as the request arrived,
    // about when it was sent; applied as of the answer's arrival instead,
    // they would count the whole response time as still owed.
    void correctFromHeaders(const ProviderRuntime& pr, KeyRuntime::ModelState& ms, const RateLimitHeaders& h,
                            TimePoint sentAt)
    {
        learnLimits(pr, ms, h);
        admission.correct(ms.scope, Measure::Requests, h.requests, sentAt);
        if (pr.cfg->flavor == ApiFlavor::Anthropic) {
            admission.correct(ms.scope, Measure::InputTokens, h.inputTokens, sentAt);
            admission.correct(ms.scope, Measure::OutputTokens, h.outputTokens, sentAt);
        }
        admission.correct(ms.scope, Measure::TotalTokens, h.tokens, sentAt);
    }

    static std::string requestIdOf(const http::HeaderMap& headers)
    {
        for (const char* name : {"x-request-id", "request-id"}) {
            if (const auto it = headers.find(name); it != headers.end()) {
                return it->second;
            }
        }
        return {};
    }

    // The same, taken out of headers that are not needed any more.
    static std::string takeRequestId(http::HeaderMap& headers)
    {
        for (const char* name : {"x-request-id", "request-id"}) {
            if (const auto it = headers.find(name); it != headers.end()) {
                return std::move(it->second);
            }
        }
        return {};
    }

    AttemptReport attemptReport(const Job& job, const ProviderRuntime& pr, const KeyRuntime& kr, const Flight& f,
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

    void onTransferDone(JobId id, http::HttpResult&& r)
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
        ProviderRuntime& pr = providers[job.provider];
        KeyRuntime& kr = pr.keys[f.key];
        KeyRuntime::ModelState& ms = modelState(pr, kr, job.info.model);
        // Any completion frees concurrency: lanes waiting for a release retry.
        for (Lane& lane : lanes) {
            if (lane.waitsForRelease) {
                lane.blockedUntil = now;
                lane.waitsForRelease = false;
            }
        }

        if (job.abort != Abort::None) {
            if (ms.probe == KeyRuntime::Probe::InFlight) {
                ms.probe = KeyRuntime::Probe::Needed;
            }
            // Stopped before it could finish: nothing was used that we know
            // of, so the whole reservation goes back.
            admission.cancel(std::move(f.reservation));
            AttemptReport abandoned = attemptReport(job, pr, kr, f, now);
            abandoned.cls = job.abort == Abort::Deadline ? FailureClass::DeadlineExceeded : FailureClass::Cancelled;
            listener.onAttempt(abandoned);
            switch (job.abort) {
            case Abort::Cancelled: finish(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled in flight", now); break;
            case Abort::Deadline:
                finish(job, JobResult::DeadLettered, FailureClass::DeadlineExceeded, "deadline passed in flight", now);
                break;
            default:
                // Shutting down: the job is not finished, so it is not
                // reported; a durable queue hands it out again.
                jobsWithDeadlines -= job.spec.deadline.has_value();
                byCustomId.erase(job.spec.customId);
                jobs.erase(job.id);
                break;
            }
            return;
        }

        const RateLimitHeaders headers = parseRateLimitHeaders(r.headers, clock.wallNow());
        Triage t;
        std::string body;
        std::optional<ResponseUsage> usage;
        const bool ok2xx = r.status >= 200 && r.status < 300;
        if (r.status == 0 || (r.error != http::TransportError::None && !f.stream && ok2xx)) {
            t = triageTransport(r.error, r.errorText);
            if (t.cls == FailureClass::Cancelled) {
                t.cls = FailureClass::ConnectionError;
            }
            if (t.cls == FailureClass::Timeout && job.spec.deadline && now >= *job.spec.deadline) {
                t.cls = FailureClass::DeadlineExceeded;
            }
        } else if (ok2xx && f.stream) {
            if (f.stream->error()) {
                const json& e = *f.stream->error();
                const json& inner = e.contains("error") ? e["error"] : e;
                t.cls = inner.is_object() && inner.value("type", "") == "overloaded_error" ? FailureClass::Overloaded
                                                                                           : FailureClass::StreamError;
                t.message = inner.is_object() ? inner.value("message", "error event after HTTP 200") : "error event";
                t.code = inner.is_object() ? inner.value("type", "stream_error") : "stream_error";
            } else if (!f.stream->complete() || r.error != http::TransportError::None) {
                t.cls = FailureClass::StreamCut;
                t.message = "stream ended before its final event" +
                            (r.errorText.empty() ? std::string() : " (" + r.errorText + ")");
            } else {
                body = f.stream->assembledBody().dump();
                usage = f.stream->usage();
            }
        } else if (ok2xx) {
            // Validate the body and pick out its usage without building a
            // document of it: on a busy dispatcher thread that would cost
            // more than everything else per request.
            // The usage object's members are read on the same pass; as
            // before, the last "usage" member counts, and only an object.
            UsageReader reader;
            std::optional<ResponseUsage> found;
            const bool valid = scanJson(
                r.body,
                [&](std::string_view key, std::string_view value) {
                    if (key == "usage") {
                        found = !value.empty() && value.front() == '{' ? std::optional(reader.result(pr.cfg->flavor))
                                                                       : std::nullopt;
                        reader = UsageReader();
                    }
                },
                "usage", [&reader](std::string_view key, std::string_view value) { reader.member(key, value); });
            if (!valid) {
                t.cls = FailureClass::ServerError;
                t.message = "HTTP " + std::to_string(r.status) + " with a body that is not JSON";
                t.code = "malformed_response";
            } else {
                usage = found;
                body = std::move(r.body);
            }
        } else {
            body = f.stream ? std::move(f.errorBody) : std::move(r.body);
            t = triageResponse(pr.cfg->flavor, r.status, body, headers);
        }

        // Settle before correcting: a refund must not undo what the provider
        // told us.
        std::optional<std::int64_t> spend;
        const bool success = t.cls == FailureClass::None;
        if (success && usage) {
            spend = config.pricing.microUsd(job.info.model, usage->billed);
            Cost actual{1, usage->inputTokens, usage->outputTokens, spend.value_or(job.cost.spendMicroUsd), 1};
            if (pr.cfg->tokenAccounting == TokenAccounting::Estimate) {
                // The provider keeps what it charged on arrival (prompt
                // estimate + max_tokens): refunding the unused output would
                // show headroom the provider does not have.
                actual.inputTokens = std::max(actual.inputTokens, job.cost.inputTokens);
                actual.outputTokens = job.cost.outputTokens;
            }
            admission.settle(std::move(f.reservation), actual);
        } else if (success || r.status == 0) {
            // No usage reported, or no answer at all (the provider may still
            // have counted it): keep the estimate.
            admission.settle(std::move(f.reservation), job.cost);
        } else {
            admission.settle(std::move(f.reservation), Cost{1, 0, 0, 0, 1});
        }
        if (r.status != 0 && headers.any()) {
            correctFromHeaders(pr, ms, headers, f.sentAt);
        }
        if (ms.probe == KeyRuntime::Probe::InFlight) {
            // Any answer ends the probe, headers or not; no answer means try
            // another probe.
            ms.probe = r.status != 0 ? KeyRuntime::Probe::Done : KeyRuntime::Probe::Needed;
        }

        AttemptRecord attempt;
        attempt.at = clock.toWall(f.sentAt);
        attempt.provider = pr.cfg->name;
        attempt.key = kr.cfg->name;
        attempt.status = r.status;
        attempt.cls = t.cls;
        attempt.message = t.message;
        attempt.latency = now - f.sentAt;
        job.attemptLog.push_back(std::move(attempt));

        if (f.firstToken) {
            note(job, TimelineEvent::Kind::FirstToken,
                 "after " + formatDelay(*f.firstToken - f.sentAt), clock.toWall(*f.firstToken));
        }
        if (success && r.status != 0) {
            note(job, TimelineEvent::Kind::Response,
                 concat("HTTP ", decimal(r.status), " after ", formatDelay(now - f.sentAt)));
        } else {
            note(job, TimelineEvent::Kind::Response,
                 (r.status != 0 ? "HTTP " + std::to_string(r.status) : std::string("no response")) +
                     (success ? std::string() : ": " + std::string(failureClassName(t.cls)) +
                                                    (t.message.empty() ? "" : " (" + t.message.substr(0, 200) + ")")) +
                     " after " + formatDelay(now - f.sentAt));
        }

        AttemptReport report = attemptReport(job, pr, kr, f, now);
        report.status = r.status;
        report.cls = t.cls;
        report.usage = usage;
        report.spendMicroUsd = spend;

        if (success) {
            pr.consecutiveOverloads = 0;
            ms.consecutive429 = 0;
            listener.onAttempt(report);
            counters.inputTokens += usage ? usage->inputTokens : 0;
            counters.outputTokens += usage ? usage->outputTokens : 0;
            counters.estimatedInputTokens += job.cost.inputTokens;
            counters.estimatedOutputTokens += job.cost.outputTokens;
            if (spend) {
                counters.spendMicroUsd += *spend;
            } else {
                ++counters.unpricedResponses;
            }
            JobOutcome out = baseOutcome(job, pr, kr);
            out.status = r.status;
            out.requestId = takeRequestId(r.headers);
            out.usage = usage;
            out.spendMicroUsd = spend;
            out.body = std::move(body);
            complete(job, std::move(out), now);
            return;
        }
        ++counters.failures[static_cast<std::size_t>(t.cls)];
        report.willRetry = handleFailure(job, pr, kr, ms, t, headers, r, body, now);
        listener.onAttempt(report);
    }

    // Returns whether the job will be tried again.
    bool handleFailure(Job& job, ProviderRuntime& pr, KeyRuntime& kr, KeyRuntime::ModelState& ms, const Triage& t,
                       const RateLimitHeaders& headers, const http::HttpResult& r, std::string& body, TimePoint now)
    {
        const auto deadLetter = [&](FailureClass cls, const std::string& reason) {
            JobOutcome out = baseOutcome(job, pr, kr);
            out.result = JobResult::DeadLettered;
            out.cls = cls;
            out.reason = reason;
            out.status = r.status;
            out.requestId = requestIdOf(r.headers);
            out.body = std::move(body);
            deliver(job, std::move(out), now);
            return false;
        };
        const auto requeue = [&] {
            job.state = State::Queued;
            ++counters.queued;
            Lane& lane = lanes[job.lane];
            lane.queue.pushFront(job.id, job.priority, job.tenant, job.weight, job.size);
            lane.blockedUntil = std::min(lane.blockedUntil, now);
            return true;
        };
        const auto retryAt = [&](TimePoint when) {
            job.state = State::Retrying;
            ++counters.queued;
            ++counters.retries;
            retries.emplace(when, job.id);
            note(job, TimelineEvent::Kind::RetryScheduled,
                 "attempt " + std::to_string(job.attempts + 1) + " at " + formatRfc3339(clock.toWall(when), 3) +
                     " (in " + formatDelay(when - now) + ")");
            return true;
        };
        const std::string what = std::string(failureClassName(t.cls)) + (t.message.empty() ? "" : ": " + t.message);

        switch (t.cls) {
        case FailureClass::RateLimited: {
            const int streak = ++ms.consecutive429;
            std::optional<Duration> hint = t.retryAfter;
            if (!hint) {
                // The reset time of the bucket the provider says is empty.
                if (headers.requests.remaining == 0 && headers.requests.timeToFull) {
                    hint = headers.requests.timeToFull;
                } else if (headers.tokens.remaining && headers.tokens.timeToFull) {
                    hint = headers.tokens.timeToFull;
                }
            }
            // A hint of "0ms" is a near miss (we arrived a moment before
            // the bucket refilled): it costs the hint and a margin, not a
            // backoff of seconds.
            const Duration cool = hint ? std::min(*hint + kNearMissMargin, config.retry.maxRetryAfter)
                                       : backoff.jitter(backoff.ceiling(streak)) + std::chrono::milliseconds(100);
            TimePoint& until = ms.coolingUntil;
            until = std::max(until, now + cool);
            if (hint && *hint <= kNearMissHint) {
                // Refused a moment before the provider's bucket refilled:
                // our requests reach it closer together than they left.
                admission.widenMargin(ms.scope);
            }
            note(job, TimelineEvent::Kind::KeyCooled,
                 "key " + pr.cfg->name + "/" + kr.cfg->name + " for " + job.info.model + " until " +
                     formatRfc3339(clock.toWall(until), 3) + " (" + what + ")");
            if (++job.rateLimitRetries > config.retry.maxRateLimitRetries) {
                return deadLetter(FailureClass::RateLimited,
                                  "rate limited " + std::to_string(job.rateLimitRetries) + " times: " + t.message);
            }
            return requeue();
        }
        case FailureClass::RequestTooLarge:
        case FailureClass::BadRequest:
        case FailureClass::NotFound:
            if (t.shouldRetry != std::optional<bool>(true)) {
                return deadLetter(t.cls, what);
            }
            break;
        case FailureClass::QuotaExhausted:
        case FailureClass::AuthFailed:
        case FailureClass::PermissionDenied: {
            note(job, TimelineEvent::Kind::KeyQuarantined, "key " + pr.cfg->name + "/" + kr.cfg->name + ": " + what);
            if (!kr.quarantined) {
                // Requests already in flight on the key fail the same way;
                // the alarm is raised once.
                kr.quarantined = true;
                kr.reason = what;
                listener.onKeyProblem(pr.cfg->name, kr.cfg->name, what);
            }
            return requeue();
        }
        case FailureClass::Overloaded: {
            ++pr.consecutiveOverloads;
            const Duration wait = backoff.delay(pr.consecutiveOverloads, t.retryAfter, config.retry.maxRetryAfter);
            pr.backoffUntil = std::max(pr.backoffUntil, now + wait);
            break;
        }
        default: break;
        }
        // Server errors, timeouts, resets, cut or failed streams, overload.
        ++job.attempts;
        if (t.shouldRetry == std::optional<bool>(false)) {
            return deadLetter(t.cls, what + " (the provider said not to retry)");
        }
        if (t.cls == FailureClass::DeadlineExceeded) {
            return deadLetter(t.cls, what);
        }
        if (job.attempts >= config.retry.maxAttempts) {
            return deadLetter(t.cls, "gave up after " + std::to_string(job.attempts) + " attempts; last: " + what);
        }
        if (t.cls == FailureClass::Overloaded) {
            return retryAt(std::max(pr.backoffUntil, now));
        }
        return retryAt(now + backoff.delay(job.attempts, t.retryAfter, config.retry.maxRetryAfter));
    }

    // ------------------------------------------------------------ endings

    JobOutcome baseOutcome(const Job& job, const ProviderRuntime& pr, const KeyRuntime& kr) const
    {
        JobOutcome out;
        out.customId = job.spec.customId;
        out.provider = pr.cfg->name;
        out.key = kr.cfg->name;
        out.model = job.info.model;
        return out;
    }

    void complete(Job& job, JobOutcome&& out, TimePoint now)
    {
        out.result = JobResult::Completed;
        note(job, TimelineEvent::Kind::Completed,
             out.usage ? concat(decimal(out.usage->inputTokens), " input + ", decimal(out.usage->outputTokens),
                                " output tokens")
                       : std::string("no usage reported"));
        deliver(job, std::move(out), now);
    }

    // Ends a job that never got (or no longer has) a response to report.
    void finish(Job& job, JobResult result, FailureClass cls, const std::string& reason, TimePoint now)
    {
        JobOutcome out;
        out.customId = job.spec.customId;
        out.result = result;
        out.cls = cls;
        out.reason = reason;
        out.model = job.info.model;
        out.provider = providers[job.provider].cfg->name;
        if (job.state != State::InFlight) {
            --counters.queued;
        }
        deliver(job, std::move(out), now);
    }

    void deliver(Job& job, JobOutcome&& out, TimePoint now)
    {
        (void)now;
        switch (out.result) {
        case JobResult::Completed: ++counters.completed; break;
        case JobResult::DeadLettered:
            ++counters.deadLettered;
            note(job, TimelineEvent::Kind::DeadLettered, std::string(failureClassName(out.cls)) + ": " + out.reason);
            break;
        case JobResult::Cancelled:
            ++counters.cancelled;
            note(job, TimelineEvent::Kind::Cancelled, out.reason);
            break;
        }
        out.attempts = std::move(job.attemptLog);
        out.timeline = std::move(job.timeline);
        jobsWithDeadlines -= job.spec.deadline.has_value();
        byCustomId.erase(job.spec.customId);
        jobs.erase(job.id);
        listener.onFinished(std::move(out));
        {
            std::lock_guard guard(mutex);
            ++finishedTotal;
        }
        idleCv.notify_all();
    }

    void note(Job& job, TimelineEvent::Kind kind, std::string detail, std::optional<WallTime> at = std::nullopt)
    {
        job.timeline.push_back(TimelineEvent{at.value_or(clock.wallNow()), kind, std::move(detail)});
    }

    // ------------------------------------------------------------- status

    void publish(TimePoint now)
    {
        // Readers poll a few times a second; at thousands of completions a
        // second, copying the counters every loop would be the busiest lock.
        if (now - lastCountersPublish < std::chrono::milliseconds(5) && now >= lastCountersPublish) {
            return;
        }
        lastCountersPublish = now;
        const bool full = now - lastStatusPublish >= std::chrono::milliseconds(100);
        std::vector<KeyStatus> keys;
        std::vector<LaneStatus> laneStatus;
        if (full) {
            lastStatusPublish = now;
            for (const ProviderRuntime& pr : providers) {
                if (pr.removed) {
                    continue;
                }
                for (const KeyRuntime& kr : pr.keys) {
                    if (kr.removed) {
                        continue;
                    }
                    KeyStatus ks;
                    ks.provider = pr.cfg->name;
                    ks.key = kr.cfg->name;
                    ks.fingerprint = kr.cfg->value.fingerprint();
                    if (kr.disabled) {
                        ks.state = KeyStatus::State::Disabled;
                    } else if (kr.quarantined) {
                        ks.state = KeyStatus::State::Quarantined;
                        ks.reason = kr.reason;
                    } else {
                        for (const auto& [model, ms] : kr.models) {
                            if (ms.coolingUntil > now && ms.coolingUntil > ks.until) {
                                ks.state = KeyStatus::State::CoolingDown;
                                ks.until = ms.coolingUntil;
                                ks.reason = "429 on " + model;
                            }
                        }
                    }
                    keys.push_back(std::move(ks));
                }
            }
            for (const Lane& lane : lanes) {
                LaneStatus ls;
                ls.provider = providers[lane.provider].cfg->name;
                ls.model = lane.model;
                ls.queued = lane.queue.size();
                ls.blocked = !lane.queue.empty() && (lane.waitsForRelease || lane.blockedUntil > now);
                ls.until = lane.blockedUntil;
                ls.waitsForRelease = lane.waitsForRelease;
                ls.waitingFor = lane.waitingFor;
                laneStatus.push_back(std::move(ls));
            }
        }
        std::lock_guard guard(mutex);
        std::vector<KeyStatus> oldKeys = std::move(published.keys);
        std::vector<LaneStatus> oldLanes = std::move(published.lanes);
        published = counters;
        published.submitted = submittedTotal;
        published.paused = paused;
        published.keys = full ? std::move(keys) : std::move(oldKeys);
        published.lanes = full ? std::move(laneStatus) : std::move(oldLanes);
    }
};

// ------------------------------------------------------------------ facade

Dispatcher::Dispatcher(Config config, Clock& clock, Admission& admission, DispatchListener& listener,
                       DispatcherOptions options)
    : m_config(std::make_shared<const Config>(std::move(config))),
      m_impl(std::make_unique<Impl>(*m_config, clock, admission, listener, options))
{
}

std::shared_ptr<const Config> Dispatcher::config() const
{
    std::lock_guard guard(m_configMutex);
    return m_config;
}

namespace {
using ConfigLock = std::lock_guard<std::mutex>;
}

template <typename Command>
void Dispatcher::post(Command command)
{
    {
        std::lock_guard guard(m_impl->mutex);
        m_impl->commands.emplace_back(std::move(command));
    }
    m_impl->http.wakeup();
}

void Dispatcher::updateConfig(const std::function<void(Config&)>& change)
{
    // The caller holds m_configMutex until it has posted the matching
    // command, so the dispatcher sees changes and submissions in the order
    // they were made.
    auto next = std::make_shared<Config>(*m_config);
    change(*next);
    m_config = std::move(next);
}

namespace {

ProviderConfig* liveProvider(Config& c, std::string_view name)
{
    for (ProviderConfig& p : c.providers) {
        if (p.name == name && !p.removed) {
            return &p;
        }
    }
    return nullptr;
}

void checkLimits(const std::vector<LimitSpec>& limits)
{
    if (limits.size() > static_cast<std::size_t>(Ledger::kMaxDimensions)) {
        throw InputError("limits: at most " + std::to_string(Ledger::kMaxDimensions) + " per scope");
    }
    for (const LimitSpec& l : limits) {
        if (auto problem = l.validate(); !problem.empty()) {
            throw InputError(std::string(measureName(l.measure)) + " " + problem);
        }
    }
}

}  // namespace

void Dispatcher::addProvider(ProviderConfig provider)
{
    const ConfigLock lock(m_configMutex);
    if (provider.name.empty()) {
        throw InputError("name: required");
    }
    checkLimits(provider.limits);
    for (const auto& m : provider.models) {
        checkLimits(m.limits);
    }
    updateConfig([&](Config& c) {
        if (liveProvider(c, provider.name) != nullptr) {
            throw InputError("name: a provider \"" + provider.name + "\" already exists");
        }
        c.providers.push_back(provider);
    });
    post(Impl::AddProvider{std::move(provider)});
}

void Dispatcher::removeProvider(const std::string& provider)
{
    const ConfigLock lock(m_configMutex);
    updateConfig([&](Config& c) {
        ProviderConfig* p = liveProvider(c, provider);
        if (p == nullptr) {
            throw InputError("provider: no provider \"" + provider + "\"");
        }
        // Marked, not erased: queued jobs refer to providers by position.
        p->removed = true;
    });
    post(Impl::RemoveProvider{provider});
}

void Dispatcher::addKey(const std::string& provider, KeyConfig key)
{
    const ConfigLock lock(m_configMutex);
    if (key.name.empty()) {
        throw InputError("key name: required");
    }
    if (key.value.empty()) {
        throw InputError("key " + key.name + ": no value");
    }
    checkLimits(key.limits);
    updateConfig([&](Config& c) {
        ProviderConfig* p = liveProvider(c, provider);
        if (p == nullptr) {
            throw InputError("provider: no provider \"" + provider + "\"");
        }
        for (const KeyConfig& k : p->keys) {
            if (k.name == key.name) {
                throw InputError("key name: provider " + provider + " already has a key \"" + key.name + "\"");
            }
        }
        p->keys.push_back(key);
    });
    post(Impl::AddKey{provider, std::move(key)});
}

void Dispatcher::removeKey(const std::string& provider, const std::string& key)
{
    const ConfigLock lock(m_configMutex);
    updateConfig([&](Config& c) {
        ProviderConfig* p = liveProvider(c, provider);
        const auto it = p == nullptr ? std::vector<KeyConfig>::iterator()
                                     : std::find_if(p->keys.begin(), p->keys.end(),
                                                    [&](const KeyConfig& k) { return k.name == key; });
        if (p == nullptr || it == p->keys.end()) {
            throw InputError("key: provider " + provider + " has no key \"" + key + "\"");
        }
        p->keys.erase(it);
    });
    post(Impl::RemoveKey{provider, key});
}

void Dispatcher::setLimits(const LimitTarget& target, std::vector<LimitSpec> limits)
{
    const ConfigLock lock(m_configMutex);
    checkLimits(limits);
    updateConfig([&](Config& c) {
        if (target.provider.empty()) {
            c.globalLimits = limits;
            return;
        }
        ProviderConfig* p = liveProvider(c, target.provider);
        if (p == nullptr) {
            throw InputError("provider: no provider \"" + target.provider + "\"");
        }
        KeyConfig* k = nullptr;
        if (!target.key.empty()) {
            for (KeyConfig& kc : p->keys) {
                k = kc.name == target.key ? &kc : k;
            }
            if (k == nullptr) {
                throw InputError("key: provider " + target.provider + " has no key \"" + target.key + "\"");
            }
        }
        if (target.model.empty()) {
            (k != nullptr ? k->limits : p->limits) = limits;
        } else if (k != nullptr) {
            k->modelLimits[target.model] = limits;
        } else {
            auto it = std::find_if(p->models.begin(), p->models.end(),
                                   [&](const ModelConfig& m) { return m.name == target.model; });
            if (it == p->models.end()) {
                p->models.push_back(ModelConfig{target.model, limits, 4096});
            } else {
                it->limits = limits;
            }
        }
    });
    post(Impl::SetLimits{target, std::move(limits)});
}

Dispatcher::~Dispatcher()
{
    stop();
}

void Dispatcher::start()
{
    if (!m_impl->thread.joinable()) {
        m_impl->stopping = false;
        m_impl->thread = std::thread([this] { m_impl->run(); });
    }
}

void Dispatcher::stop()
{
    if (m_impl->thread.joinable()) {
        m_impl->stopping = true;
        m_impl->http.wakeup();
        m_impl->thread.join();
    }
}

struct Dispatcher::Prepared {
    JobSpec job;
    RequestInfo info;
    std::string bodyText;
    Cost cost;
    std::size_t provider = 0;
};

Dispatcher::Prepared Dispatcher::prepare(JobSpec job) const
{
    if (job.customId.empty()) {
        throw InputError("custom_id: required");
    }
    // The model decides the provider; the provider's model settings decide
    // the default output reservation.
    const auto model = job.body.is_object() ? job.body.find("model") : job.body.end();
    const std::string modelName =
        job.body.is_object() && model != job.body.end() && model->is_string() ? model->get<std::string>() : std::string();
    // Callers hold m_configMutex (submit) or accept a snapshot (validate).
    const std::shared_ptr<const Config> config = m_config;
    const ProviderConfig* pc = config->route(job.flavor, modelName, job.provider);
    std::int64_t defaultMax = 4096;
    if (pc != nullptr) {
        if (const ModelConfig* mc = pc->model(modelName)) {
            defaultMax = mc->defaultMaxTokens;
        }
    }
    RequestInfo info = analyzeRequest(job.flavor, job.body, defaultMax);
    if (pc == nullptr) {
        throw InputError(job.provider.empty()
                             ? "body.model: no " + std::string(flavorName(job.flavor)) +
                                   " provider in the config serves model \"" + info.model + "\""
                             : "provider: \"" + job.provider + "\" is not a configured " +
                                   std::string(flavorName(job.flavor)) + " provider serving \"" + info.model + "\"");
    }
    if (job.flavor == ApiFlavor::OpenAI && info.stream) {
        // Without it a stream never reports usage and cannot be settled.
        job.body["stream_options"]["include_usage"] = true;
    }
    Prepared p;
    p.cost.requests = 1;
    p.cost.inputTokens = info.promptTokens;
    p.cost.outputTokens = info.reservedOutputTokens();
    p.cost.spendMicroUsd =
        config->pricing.microUsd(info.model, TokenUsage{info.promptTokens, info.reservedOutputTokens(), 0, 0}).value_or(0);
    p.cost.weight = 1;
    p.provider = static_cast<std::size_t>(pc - config->providers.data());
    p.bodyText = job.body.dump();
    // The text is what gets sent; free the document here, on the caller's
    // thread, rather than on the dispatcher's when the job ends.
    job.body = nlohmann::json();
    p.info = std::move(info);
    p.job = std::move(job);
    return p;
}

JobEstimate Dispatcher::estimate(const JobSpec& job) const
{
    // Under the lock, so the provider index refers to the config prepare used.
    const ConfigLock lock(m_configMutex);
    const Prepared p = prepare(job);
    return JobEstimate{m_config->providers[p.provider].name, p.info.model, p.cost,
                       m_config->pricing.find(p.info.model).has_value()};
}

std::string Dispatcher::validate(const JobSpec& job) const
{
    const ConfigLock lock(m_configMutex);
    try {
        prepare(job);
    } catch (const InputError& e) {
        return e.what();
    }
    return {};
}

void Dispatcher::submit(JobSpec job)
{
    // Under the configuration lock from routing to posting, so a provider
    // added or removed meanwhile cannot overtake this job in the queue.
    const ConfigLock lock(m_configMutex);
    Prepared p = prepare(std::move(job));
    {
        std::lock_guard guard(m_impl->mutex);
        ++m_impl->submittedTotal;
        m_impl->commands.emplace_back(
            Impl::Submit{std::move(p.job), std::move(p.info), std::move(p.bodyText), p.cost, p.provider});
    }
    m_impl->http.wakeup();
}

void Dispatcher::cancel(const std::string& customId)
{
    post(Impl::Cancel{customId});
}

void Dispatcher::pause()
{
    post(Impl::Pause{true});
}

void Dispatcher::resume()
{
    post(Impl::Pause{false});
}

void Dispatcher::setKeyEnabled(const std::string& provider, const std::string& key, bool enabled)
{
    const ConfigLock lock(m_configMutex);
    updateConfig([&](Config& c) {
        if (ProviderConfig* p = liveProvider(c, provider)) {
            for (KeyConfig& k : p->keys) {
                if (k.name == key) {
                    k.enabled = enabled;
                }
            }
        }
    });
    post(Impl::KeyEnabled{provider, key, enabled});
}

DispatcherStats Dispatcher::stats() const
{
    std::lock_guard guard(m_impl->mutex);
    DispatcherStats s = m_impl->published;
    s.submitted = m_impl->submittedTotal;
    return s;
}

bool Dispatcher::waitIdle(Duration timeout)
{
    std::unique_lock lock(m_impl->mutex);
    return m_impl->idleCv.wait_for(lock, timeout,
                                   [this] { return m_impl->finishedTotal >= m_impl->submittedTotal; });
}

}  // namespace sluice
