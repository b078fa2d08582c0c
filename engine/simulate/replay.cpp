#include "simulate/replay.h"

#include "admission/admission.h"
#include "dispatch/dispatcher.h"
#include "simulate/failure_mix.h"
#include "simulate/provider_model.h"
#include "simulate/sim_transport.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

namespace sluice::simulate {

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// What the dispatcher reports, gathered into the simulated run's figures.
// Callbacks run on the dispatcher thread; the replay reads under the lock.
class Outcomes final : public DispatchListener {
public:
    Outcomes(const RecordedTraffic& traffic, TimePoint start, std::size_t minutes)
        : m_traffic(traffic), m_start(start), m_wallStart(traffic.start)
    {
        m_figures.minutes.resize(minutes);
        m_figures.requests = static_cast<std::int64_t>(traffic.requests.size());
    }

    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        const std::size_t index = std::stoul(o.customId);
        const RecordedRequest& r = m_traffic.requests[index];
        const WallTime arrived = m_wallStart + r.offset;
        WallTime ended = arrived;
        std::optional<WallTime> firstSent;
        for (const TimelineEvent& e : o.timeline) {
            if (e.kind == TimelineEvent::Kind::Sent && !firstSent) {
                firstSent = e.at;
            }
            ended = std::max(ended, e.at);
        }
        if (firstSent) {
            m_waits.push_back(*firstSent - arrived);
        }
        if (o.result == JobResult::Completed) {
            ++m_figures.completed;
            if (o.spendMicroUsd) {
                m_figures.spendMicroUsd += *o.spendMicroUsd;
                minute(ended - m_wallStart).spendMicroUsd += *o.spendMicroUsd;
            }
            if (o.usage) {
                m_figures.inputTokens += o.usage->inputTokens;
                m_figures.outputTokens += o.usage->outputTokens;
            }
            ++minute(ended - m_wallStart).completed;
        } else {
            ++m_figures.failed;
        }
        if (const auto d = m_deadlines.find(index); d != m_deadlines.end()) {
            const bool missed = o.result != JobResult::Completed || ended - arrived > d->second;
            m_missed += missed;
        }
        m_lastEnd = std::max(m_lastEnd, ended);
        ++m_finished;
        m_cv.notify_all();
    }

    void onAttempt(const AttemptReport& a) override
    {
        std::lock_guard g(m_mutex);
        ++m_figures.attempts;
        if (a.cls == FailureClass::RateLimited) {
            ++m_figures.rateLimited;
            ++minute(a.finishedAt - m_start).rateLimited;
        } else if (a.cls == FailureClass::ServerError || a.cls == FailureClass::Overloaded) {
            ++m_figures.serverErrors;
        } else if (a.cls == FailureClass::Timeout) {
            ++m_figures.timeouts;
        } else if (a.cls == FailureClass::None && a.status == 200) {
            m_latencies.push_back(a.finishedAt - a.sentAt);
        }
    }

    // A job the dispatcher would not take (no provider serves its model).
    void refused()
    {
        std::lock_guard g(m_mutex);
        ++m_figures.failed;
        ++m_finished;
        m_cv.notify_all();
    }

    void expectDeadline(std::size_t index, Duration deadline)
    {
        std::lock_guard g(m_mutex);
        m_deadlines.emplace(index, deadline);
    }

    // Waits (real time) up to `bound` for every job to finish.
    bool waitAll(std::chrono::milliseconds bound)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, bound, [&] { return m_finished >= m_traffic.requests.size(); });
    }

    RunFigures figures()
    {
        std::lock_guard g(m_mutex);
        RunFigures f = m_figures;
        f.waitP50 = quantileOf(m_waits, 0.5);
        f.waitP95 = quantileOf(m_waits, 0.95);
        f.latencyP50 = quantileOf(m_latencies, 0.5);
        f.latencyP95 = quantileOf(m_latencies, 0.95);
        if (!m_deadlines.empty()) {
            f.missedDeadlines = m_missed;
        }
        f.span = std::max<Duration>(m_traffic.length, m_lastEnd - m_wallStart);
        return f;
    }

private:
    MinuteFigures& minute(Duration offset)
    {
        const auto i = static_cast<std::size_t>(std::max<std::int64_t>(0, offset / 1min));
        if (i >= m_figures.minutes.size()) {
            m_figures.minutes.resize(i + 1);
        }
        return m_figures.minutes[i];
    }

    const RecordedTraffic& m_traffic;
    const TimePoint m_start;
    const WallTime m_wallStart;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    RunFigures m_figures;
    std::vector<Duration> m_waits;
    std::vector<Duration> m_latencies;
    std::map<std::size_t, Duration> m_deadlines;  // by job: from arrival
    std::int64_t m_missed = 0;
    WallTime m_lastEnd{};
    std::size_t m_finished = 0;
};

// The request body for a recorded request: a prompt of its input tokens
// (" the" is one token to OpenAI's tokenizers and four characters to the
// mock's estimate) and its index, which the simulated provider reads to
// produce the recorded output.
Json bodyFor(const RecordedRequest& r, std::size_t index, ApiFlavor flavor)
{
    // Chat overhead: 3 per message and the role, 3 to prime the reply.
    const std::int64_t content = std::max<std::int64_t>(1, r.inputTokens - 7);
    std::string prompt;
    prompt.reserve(static_cast<std::size_t>(content) * 4);
    for (std::int64_t i = 0; i < content; ++i) {
        prompt += " the";
    }
    Json body = {{"model", r.model},
                 {"max_tokens", std::max(r.maxTokens, r.outputTokens)},
                 {"messages", Json::array({{{"role", "user"}, {"content", std::move(prompt)}}})}};
    if (flavor == ApiFlavor::Anthropic) {
        body["metadata"] = {{"user_id", std::to_string(index)}};
    } else {
        body["user"] = std::to_string(index);
    }
    return body;
}

std::optional<std::size_t> indexIn(const Json& body)
{
    const Json* id = nullptr;
    if (const auto u = body.find("user"); u != body.end()) {
        id = &*u;
    } else if (const auto m = body.find("metadata"); m != body.end() && m->is_object()) {
        if (const auto u2 = m->find("user_id"); u2 != m->end()) {
            id = &*u2;
        }
    }
    if (id == nullptr || !id->is_string()) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(std::stoull(id->get<std::string>()));
}

ApiFlavor flavorFor(const Config& proposed, const Config& current, const RecordedRequest& r)
{
    for (const Config* c : {&proposed, &current}) {
        if (const ProviderConfig* p = c->provider(r.provider); p != nullptr) {
            return p->flavor;
        }
    }
    for (const ProviderConfig& p : proposed.providers) {
        if (p.serves(r.model)) {
            return p.flavor;
        }
    }
    return r.model.rfind("claude", 0) == 0 ? ApiFlavor::Anthropic : ApiFlavor::OpenAI;
}

struct SimRun {
    RunFigures figures;
    Duration reached{};  // simulated time when it ended
    bool cancelled = false;
};

// The simulated provider's inputs: the models the traffic asks for (and
// each request's flavour, into flavors), its mean latency and output.
ProviderModelInput modelInput(const RecordedTraffic& traffic, const Config& current, const Config& proposed,
                              std::uint64_t seed, std::vector<ApiFlavor>& flavors)
{
    ProviderModelInput pm;
    pm.current = &current;
    pm.proposed = &proposed;
    flavors.reserve(traffic.requests.size());
    std::set<std::pair<std::string, ApiFlavor>> models;
    std::int64_t outputSum = 0;
    for (const RecordedRequest& r : traffic.requests) {
        flavors.push_back(flavorFor(proposed, current, r));
        models.emplace(r.model, flavors.back());
        outputSum += r.outputTokens;
    }
    pm.models.assign(models.begin(), models.end());
    pm.meanLatency = traffic.meanLatency;
    pm.meanOutputTokens = traffic.requests.empty() ? 0 : outputSum / static_cast<std::int64_t>(traffic.requests.size());
    pm.seed = seed;
    return pm;
}

// Each recorded request, submitted to the dispatcher at its offset in
// simulated time, with the deadline it (or the proposed default) gives.
void scheduleArrivals(const RecordedTraffic& traffic, const Config& proposed, const std::vector<ApiFlavor>& flavors,
                      TimePoint t0, SimTransport& transport, Dispatcher& dispatcher, Outcomes& tally)
{
    for (std::size_t i = 0; i < traffic.requests.size(); ++i) {
        const RecordedRequest& r = traffic.requests[i];
        if (r.deadline) {
            tally.expectDeadline(i, *r.deadline);
        }
        const TimePoint at = t0 + r.offset;
        const ApiFlavor flavor = flavors[i];
        transport.schedule(at, [&dispatcher, &tally, &r, &proposed, i, at, flavor] {
            JobSpec job;
            job.customId = std::to_string(i);
            job.flavor = flavor;
            job.body = bodyFor(r, i, flavor);
            if (proposed.provider(r.provider) != nullptr) {
                job.provider = r.provider;
            }
            if (r.deadline) {
                job.deadline = at + *r.deadline;
            }
            try {
                dispatcher.submit(std::move(job));
            } catch (const InputError&) {
                tally.refused();
            }
        });
    }
    if (proposed.defaults.deadline) {
        for (std::size_t i = 0; i < traffic.requests.size(); ++i) {
            if (!traffic.requests[i].deadline) {
                tally.expectDeadline(i, *proposed.defaults.deadline);
            }
        }
    }
}

// One run of the traffic through a Dispatcher configured as `proposed`
// against the provider `current` describes, drawing `faults`.
SimRun simulateOnce(const RecordedTraffic& traffic, const Config& current, const Config& proposed,
                    const FailureMix& faults, const ReplayOptions& options)
{
    SimRun out;
    ManualClock clock(std::chrono::steady_clock::time_point(std::chrono::hours(1)), traffic.start);
    const TimePoint t0 = clock.now();

    std::vector<ApiFlavor> flavors;
    const ProviderModelInput pm = modelInput(traffic, current, proposed, options.seed, flavors);

    // The proposed configuration, pointed at nothing real: requests go to
    // the simulated provider whatever the base URL says.
    Config cfg = proposed;
    for (ProviderConfig& p : cfg.providers) {
        p.baseUrl = "http://simulated.invalid";
    }

    const auto minutes = static_cast<std::size_t>(std::max<std::int64_t>(1, (traffic.length + 1min - 1ns) / 1min));
    Outcomes tally(traffic, t0, minutes);
    SimTransport transport(
        clock, providerModel(pm),
        [&traffic](const Json& body) -> std::optional<std::int64_t> {
            const auto i = indexIn(body);
            if (!i || *i >= traffic.requests.size()) {
                return std::nullopt;
            }
            return traffic.requests[*i].outputTokens;
        },
        providerWideLimits(current, &proposed), faults);
    Admission admission(clock);
    DispatcherOptions dopt;
    dopt.seed = options.seed;
    dopt.transport = &transport;
    Dispatcher dispatcher(std::move(cfg), clock, admission, tally, dopt);

    scheduleArrivals(traffic, proposed, flavors, t0, transport, dispatcher, tally);

    dispatcher.start();
    const double windowNs = static_cast<double>(std::max<Duration>(traffic.length, 1ns).count());
    while (!tally.waitAll(100ms)) {
        const Duration simulated = clock.now() - t0;
        if (options.progress) {
            options.progress(static_cast<double>(simulated.count()) / windowNs, simulated);
        }
        if (options.cancel != nullptr && options.cancel->load()) {
            out.cancelled = true;
            break;
        }
    }
    // Read the clock before stopping: once every job is done the
    // dispatcher idles on, and its polls move simulated time on with it.
    out.reached = clock.now() - t0;
    dispatcher.stop();
    out.figures = tally.figures();
    out.figures.providerLimited = static_cast<std::int64_t>(transport.counts().providerLimited);
    return out;
}

}  // namespace

Comparison replay(const RecordedTraffic& traffic, const Config& current, const Config& proposed,
                  const ReplayOptions& options)
{
    const auto wallBegan = std::chrono::steady_clock::now();
    Comparison out;
    out.source = traffic.source;
    out.windowStart = traffic.start;
    out.window = traffic.length;
    out.recorded = traffic.recorded;
    if (!traffic.spendRecorded) {
        for (const RecordedRequest& r : traffic.requests) {
            const auto spend = current.pricing.microUsd(r.model, TokenUsage{r.inputTokens, r.outputTokens, 0, 0});
            out.recorded.spendMicroUsd += spend.value_or(0);
        }
    }
    FailureMix faults = failureMixOf(traffic.recorded);
    if (faults.rateLimited > 0) {
        // Some of the recorded 429s are the provider's limits answering,
        // which the simulated provider does by itself: the same traffic
        // under the configuration it ran with says how many. Only the rest
        // is drawn.
        FailureMix others = faults;
        others.rateLimited = 0;
        ReplayOptions quiet;
        quiet.seed = options.seed;
        quiet.cancel = options.cancel;
        const SimRun base = simulateOnce(traffic, current, current, others, quiet);
        const double explained =
            base.figures.attempts > 0
                ? static_cast<double>(base.figures.rateLimited) / static_cast<double>(base.figures.attempts)
                : 0.0;
        faults = failureMixOf(traffic.recorded, explained);
    }
    const SimRun run = simulateOnce(traffic, current, proposed, faults, options);
    out.simulated = run.figures;
    out.cancelled = run.cancelled;
    // A finished replay covered the time until its last answer.
    out.simulatedTime = out.cancelled ? run.reached : out.simulated.span;
    out.wallTime = std::chrono::steady_clock::now() - wallBegan;
    if (options.progress && !out.cancelled) {
        options.progress(1.0, out.simulatedTime);
    }
    return out;
}

}  // namespace sluice::simulate
