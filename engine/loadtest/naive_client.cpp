#include "loadtest/naive_client.h"

#include "core/timefmt.h"
#include "http/http_client.h"
#include "providers/rate_limit_headers.h"

#include <condition_variable>
#include <deque>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

namespace sluice::loadtest {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxErrorBody = 1u << 20;

struct Route {
    const ProviderConfig* provider = nullptr;
    const KeyConfig* key = nullptr;
};

// The provider a job goes to and the first key that may be used on it.
Route routeOf(const Config& config, const JobSpec& job, std::string& why)
{
    const std::string model = job.body.is_object() ? job.body.value("model", "") : std::string();
    Route r;
    r.provider = config.route(job.flavor, model, job.provider);
    if (r.provider == nullptr) {
        why = "body.model: no " + std::string(flavorName(job.flavor)) + " provider in the config serves model \"" +
              model + "\"";
        return r;
    }
    for (const KeyConfig& k : r.provider->keys) {
        if (k.enabled) {
            r.key = &k;
            return r;
        }
    }
    why = "provider " + r.provider->name + " has no enabled key";
    return r;
}

// Whether the SDKs retry an attempt that failed this way.
bool sdkRetries(long status, const Triage& t)
{
    if (t.shouldRetry) {
        return *t.shouldRetry;
    }
    if (status == 0) {
        return t.cls == FailureClass::Timeout || t.cls == FailureClass::ConnectionError;
    }
    // An error after HTTP 200 surfaces mid-stream, where the SDKs raise.
    if (status >= 200 && status < 300) {
        return false;
    }
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

}  // namespace

struct NaiveClient::Impl {
    enum class State : std::uint8_t { Queued, Waiting, InFlight };
    struct Job {
        JobSpec spec;
        RequestInfo info;
        Route route;
        std::string bodyText;
        State state = State::Queued;
        int retries = 0;
        TimePoint retryAt{};
        bool cancelled = false;
        http::HttpClient::TransferId transfer = 0;
        TimePoint sentAt{};
        std::optional<TimePoint> firstToken;
        std::optional<StreamAccumulator> stream;
        long status = 0;
        std::string errorBody;
        std::vector<AttemptRecord> attempts;
        std::vector<TimelineEvent> timeline;
    };
    struct Submit {
        Job job;
    };
    struct Cancel {
        std::string customId;
    };
    struct Pause {};
    using Command = std::variant<Submit, Cancel, Pause>;

    Impl(const Config& cfg, Clock& clk, DispatchListener& lst, const NaiveClientOptions& opt)
        : config(cfg), clock(clk), listener(lst), options(opt), rng(opt.seed)
    {
        clockSubscription = clock.subscribe([this] { http.wakeup(); });
    }

    // ---- shared (guarded by mutex)
    mutable std::mutex mutex;
    std::condition_variable idleCv;
    std::vector<Command> commands;
    DispatcherStats published;
    std::uint64_t submitted = 0;
    std::uint64_t finished = 0;
    std::atomic<bool> stopping{false};

    // ---- the client's thread
    const Config config;
    Clock& clock;
    DispatchListener& listener;
    NaiveClientOptions options;
    http::HttpClient http;
    std::mt19937_64 rng;
    std::thread thread;
    ClockSubscription clockSubscription;
    std::unordered_map<std::string, Job> jobs;
    std::deque<std::string> fifo;  // waiting for a slot
    int busySlots = 0;
    bool paused = false;
    DispatcherStats counters;

    // Hands a command to the client's thread.
    void post(Command c)
    {
        {
            std::lock_guard guard(mutex);
            submitted += std::holds_alternative<Submit>(c) ? 1 : 0;
            commands.push_back(std::move(c));
        }
        http.wakeup();
    }

    void note(Job& job, TimelineEvent::Kind kind, std::string detail)
    {
        job.timeline.push_back(TimelineEvent{clock.wallNow(), kind, std::move(detail)});
    }

    void run()
    {
        while (!stopping.load()) {
            const TimePoint now = clock.now();
            drainCommands();
            startWhatFits(now);
            publish();
            http.poll(nextWake(now));
            publish();
        }
        std::vector<http::HttpClient::TransferId> open;
        for (auto& [id, job] : jobs) {
            if (job.state == State::InFlight) {
                job.cancelled = true;
                open.push_back(job.transfer);
            }
        }
        for (auto t : open) {
            http.abort(t);
        }
    }

    Duration nextWake(TimePoint now) const
    {
        TimePoint wake = now + std::chrono::milliseconds(250);
        for (const auto& [id, job] : jobs) {
            if (job.state == State::Waiting && !paused) {
                wake = std::min(wake, job.retryAt);
            }
        }
        return std::max(Duration::zero(), wake - now);
    }

    void drainCommands()
    {
        std::vector<Command> batch;
        {
            std::lock_guard guard(mutex);
            batch.swap(commands);
        }
        for (Command& c : batch) {
            std::visit([&](auto& cmd) { apply(cmd); }, c);
        }
    }

    void apply(Submit& s)
    {
        Job& job = s.job;
        note(job, TimelineEvent::Kind::Queued, "naive client, " + std::to_string(options.concurrency) + " slots");
        const std::string id = job.spec.customId;
        fifo.push_back(id);
        ++counters.queued;
        jobs.insert_or_assign(id, std::move(job));
    }

    void apply(Cancel& c)
    {
        const auto it = jobs.find(c.customId);
        if (it == jobs.end()) {
            return;
        }
        Job& job = it->second;
        job.cancelled = true;
        if (job.state == State::InFlight) {
            http.abort(job.transfer);  // ends through onDone
            return;
        }
        if (job.state == State::Queued) {
            std::erase(fifo, c.customId);
        } else {
            --busySlots;
        }
        --counters.queued;
        end(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled", std::nullopt, std::nullopt);
    }

    void apply(Pause&) { paused = true; }

    void startWhatFits(TimePoint now)
    {
        if (paused) {
            return;
        }
        std::vector<std::string> due;
        for (auto& [id, job] : jobs) {
            if (job.state == State::Waiting && job.retryAt <= now) {
                due.push_back(id);
            }
        }
        for (const std::string& id : due) {
            send(jobs.at(id), now);
        }
        while (busySlots < options.concurrency && !fifo.empty()) {
            Job& job = jobs.at(fifo.front());
            fifo.pop_front();
            ++busySlots;
            send(job, now);
        }
    }

    http::HttpRequest buildRequest(const Job& job) const
    {
        const ProviderConfig& pc = *job.route.provider;
        http::HttpRequest req;
        req.url = pc.baseUrl + std::string(endpointPath(pc.flavor));
        req.headers = {"Content-Type: application/json", "User-Agent: sluice-naive/0.1"};
        if (job.info.stream) {
            req.headers.emplace_back("Accept: text/event-stream");
        }
        if (pc.flavor == ApiFlavor::Anthropic) {
            req.headers.push_back("anthropic-version: " + pc.anthropicVersion);
        }
        req.secretHeader = job.route.key->value.prefixed(pc.flavor == ApiFlavor::Anthropic ? "x-api-key: "
                                                                                           : "Authorization: Bearer ");
        req.headers.insert(req.headers.end(), pc.headers.begin(), pc.headers.end());
        req.body = job.bodyText;
        req.connectTimeout = pc.connectTimeout;
        req.totalTimeout = pc.totalTimeout;
        req.allowHttp2 = pc.http2;
        return req;
    }

    void send(Job& job, TimePoint now)
    {
        job.state = State::InFlight;
        job.sentAt = now;
        job.firstToken.reset();
        job.status = 0;
        job.errorBody.clear();
        if (job.info.stream) {
            job.stream.emplace(job.route.provider->flavor);
        }
        const std::string id = job.spec.customId;
        http::TransferHandlers h;
        h.onHeaders = [this, id](long status, const http::HeaderMap&) { jobs.at(id).status = status; };
        if (job.info.stream) {
            h.onData = [this, id](std::string_view chunk) {
                Job& j = jobs.at(id);
                if (j.status < 200 || j.status >= 300) {
                    if (j.errorBody.size() + chunk.size() <= kMaxErrorBody) {
                        j.errorBody.append(chunk);
                    }
                    return true;
                }
                const bool ok = j.stream->feed(chunk);
                if (j.stream->firstTokenInLastFeed()) {
                    j.firstToken = clock.now();
                }
                return ok;
            };
        }
        h.onComplete = [this, id](http::HttpResult&& r) { onDone(id, std::move(r)); };
        job.transfer = http.start(buildRequest(job), std::move(h));
        ++counters.attempts;
        --counters.queued;
        ++counters.inFlight;
        note(job, TimelineEvent::Kind::Sent,
             "on key " + job.route.provider->name + "/" + job.route.key->name + " (attempt " +
                 std::to_string(job.attempts.size() + 1) + ")");
    }

    // What an answer was: a failure's class and message, or its usage.
    Triage triage(const Job& job, const http::HttpResult& r, std::optional<ResponseUsage>& usage)
    {
        const ApiFlavor flavor = job.route.provider->flavor;
        const RateLimitHeaders headers = parseRateLimitHeaders(r.headers, clock.wallNow());
        const bool ok2xx = r.status >= 200 && r.status < 300;
        Triage t;
        if (r.status == 0 || (r.error != http::TransportError::None && ok2xx && !job.stream)) {
            t = triageTransport(r.error, r.errorText);
        } else if (ok2xx && job.stream) {
            if (job.stream->error()) {
                t.cls = FailureClass::StreamError;
                t.message = "error event after HTTP 200";
            } else if (!job.stream->complete() || r.error != http::TransportError::None) {
                t.cls = FailureClass::StreamCut;
                t.message = "stream ended before its final event";
            } else {
                usage = job.stream->usage();
            }
        } else if (ok2xx) {
            const json body = json::parse(r.body, nullptr, false);
            if (body.is_discarded()) {
                t.cls = FailureClass::ServerError;
                t.message = "HTTP " + std::to_string(r.status) + " with a body that is not JSON";
            } else {
                usage = usageFromBody(flavor, body);
            }
        } else {
            t = triageResponse(flavor, r.status, job.stream ? job.errorBody : r.body, headers);
        }
        return t;
    }

    // The attempt in the job's history and timeline.
    AttemptRecord recordAttempt(Job& job, const http::HttpResult& r, const Triage& t, TimePoint now)
    {
        AttemptRecord attempt;
        attempt.at = clock.toWall(job.sentAt);
        attempt.provider = job.route.provider->name;
        attempt.key = job.route.key->name;
        attempt.status = r.status;
        attempt.cls = t.cls;
        attempt.message = t.message;
        attempt.latency = now - job.sentAt;
        job.attempts.push_back(attempt);
        if (job.firstToken) {
            job.timeline.push_back(TimelineEvent{clock.toWall(*job.firstToken), TimelineEvent::Kind::FirstToken,
                                                 "after " + formatGoDuration(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                *job.firstToken - job.sentAt))});
        }
        note(job, TimelineEvent::Kind::Response,
             r.status != 0 ? "HTTP " + std::to_string(r.status) : std::string("no response"));
        return attempt;
    }

    void onDone(const std::string& id, http::HttpResult&& r)
    {
        Job& job = jobs.at(id);
        const TimePoint now = clock.now();
        --counters.inFlight;
        if (job.cancelled) {
            --busySlots;
            end(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled in flight", std::nullopt, std::nullopt);
            return;
        }
        std::optional<ResponseUsage> usage;
        const Triage t = triage(job, r, usage);

        const AttemptRecord attempt = recordAttempt(job, r, t, now);

        AttemptReport report;
        report.provider = attempt.provider;
        report.key = attempt.key;
        report.model = job.info.model;
        report.tenant = job.spec.tenant;
        report.sentAt = job.sentAt;
        report.finishedAt = now;
        if (job.firstToken) {
            report.timeToFirstToken = *job.firstToken - job.sentAt;
        }
        report.status = r.status;
        report.cls = t.cls;
        report.usage = usage;

        if (t.cls == FailureClass::None) {
            const auto spend = usage ? config.pricing.microUsd(job.info.model, usage->billed) : std::nullopt;
            report.spendMicroUsd = spend;
            listener.onAttempt(report);
            counters.inputTokens += usage ? usage->inputTokens : 0;
            counters.outputTokens += usage ? usage->outputTokens : 0;
            if (spend) {
                counters.spendMicroUsd += *spend;
            } else {
                ++counters.unpricedResponses;
            }
            --busySlots;
            note(job, TimelineEvent::Kind::Completed, "");
            end(job, JobResult::Completed, FailureClass::None, "", usage, spend, r.status);
            return;
        }
        ++counters.failures[static_cast<std::size_t>(t.cls)];
        report.willRetry = sdkRetries(r.status, t) && job.retries < options.maxRetries;
        listener.onAttempt(report);
        if (report.willRetry) {
            ++job.retries;
            ++counters.retries;
            ++counters.queued;
            job.state = State::Waiting;
            job.retryAt = now + retryDelay(job.retries, t.retryAfter);
            note(job, TimelineEvent::Kind::RetryScheduled,
                 "retry " + std::to_string(job.retries) + " at " + formatRfc3339(clock.toWall(job.retryAt), 3));
            return;
        }
        --busySlots;
        end(job, JobResult::DeadLettered, t.cls,
            std::string(failureClassName(t.cls)) + (t.message.empty() ? "" : ": " + t.message), std::nullopt,
            std::nullopt, r.status);
    }

    Duration retryDelay(int retry, std::optional<Duration> hint)
    {
        if (hint && *hint > Duration::zero() && *hint <= options.maxRetryAfter) {
            return *hint;
        }
        Duration d = options.baseDelay;
        for (int i = 1; i < retry && d < options.maxDelay; ++i) {
            d *= 2;
        }
        d = std::min(d, options.maxDelay);
        const double jitter = 1.0 - 0.25 * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        return Duration(static_cast<std::int64_t>(static_cast<double>(d.count()) * jitter));
    }

    void end(Job& job, JobResult result, FailureClass cls, const std::string& reason,
             std::optional<ResponseUsage> usage, std::optional<std::int64_t> spend, long status = 0)
    {
        switch (result) {
        case JobResult::Completed: ++counters.completed; break;
        case JobResult::DeadLettered:
            ++counters.deadLettered;
            note(job, TimelineEvent::Kind::DeadLettered, reason);
            break;
        case JobResult::Cancelled:
            ++counters.cancelled;
            note(job, TimelineEvent::Kind::Cancelled, reason);
            break;
        }
        JobOutcome out;
        out.customId = job.spec.customId;
        out.result = result;
        out.cls = cls;
        out.reason = reason;
        out.status = status;
        out.usage = usage;
        out.spendMicroUsd = spend;
        out.provider = job.route.provider->name;
        out.key = job.route.key->name;
        out.model = job.info.model;
        out.attempts = std::move(job.attempts);
        out.timeline = std::move(job.timeline);
        jobs.erase(out.customId);
        listener.onFinished(std::move(out));
        {
            std::lock_guard guard(mutex);
            ++finished;
        }
        idleCv.notify_all();
    }

    void publish()
    {
        std::lock_guard guard(mutex);
        published = counters;
        published.submitted = submitted;
        published.paused = paused;
    }
};

NaiveClient::NaiveClient(const Config& config, Clock& clock, DispatchListener& listener, NaiveClientOptions options)
    : m_impl(std::make_unique<Impl>(config, clock, listener, options))
{
}

NaiveClient::~NaiveClient()
{
    stop();
}

void NaiveClient::start()
{
    if (!m_impl->thread.joinable()) {
        m_impl->stopping = false;
        m_impl->thread = std::thread([this] { m_impl->run(); });
    }
}

void NaiveClient::stop()
{
    if (m_impl->thread.joinable()) {
        m_impl->stopping = true;
        m_impl->http.wakeup();
        m_impl->thread.join();
    }
}

std::string NaiveClient::validate(const JobSpec& job) const
{
    if (job.customId.empty()) {
        return "custom_id: required";
    }
    std::string why;
    const Route r = routeOf(m_impl->config, job, why);
    if (r.key == nullptr) {
        return why;
    }
    try {
        const ModelConfig* mc = r.provider->model(job.body.value("model", ""));
        analyzeRequest(job.flavor, job.body, mc != nullptr ? mc->defaultMaxTokens : 4096);
    } catch (const InputError& e) {
        return e.what();
    }
    return {};
}

void NaiveClient::submit(JobSpec job)
{
    if (const std::string why = validate(job); !why.empty()) {
        throw InputError(why);
    }
    Impl::Job j;
    std::string why;
    j.route = routeOf(m_impl->config, job, why);
    const ModelConfig* mc = j.route.provider->model(job.body.value("model", ""));
    j.info = analyzeRequest(job.flavor, job.body, mc != nullptr ? mc->defaultMaxTokens : 4096);
    if (job.flavor == ApiFlavor::OpenAI && j.info.stream) {
        // Usage arrives in a stream only when asked for; the load test counts tokens.
        job.body["stream_options"]["include_usage"] = true;
    }
    j.bodyText = job.body.dump();
    j.spec = std::move(job);
    m_impl->post(Impl::Submit{std::move(j)});
}

void NaiveClient::cancel(const std::string& customId)
{
    m_impl->post(Impl::Cancel{customId});
}

void NaiveClient::pause()
{
    m_impl->post(Impl::Pause{});
}

DispatcherStats NaiveClient::stats() const
{
    std::lock_guard guard(m_impl->mutex);
    DispatcherStats s = m_impl->published;
    s.submitted = m_impl->submitted;
    return s;
}

bool NaiveClient::waitIdle(Duration timeout)
{
    std::unique_lock lock(m_impl->mutex);
    return m_impl->idleCv.wait_for(lock, timeout, [this] { return m_impl->finished >= m_impl->submitted; });
}

TargetFactory naiveTarget(const Config& config, Clock& clock, NaiveClientOptions options)
{
    return [config, &clock, options](DispatchListener& listener) -> std::unique_ptr<LoadTarget> {
        return std::make_unique<NaiveClient>(config, clock, listener, options);
    };
}

}  // namespace sluice::loadtest
