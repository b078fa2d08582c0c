// Goodput and overhead of the dispatcher against the in-process mock
// provider (see docs/benchmarks.md for the figures and how to read them).
//
//   bench_goodput tpm      TPM-bound batch, limits configured
//   bench_goodput rpm      RPM-bound batch, limits configured
//   bench_goodput learn    TPM-bound batch, no limits configured: learned from headers
//   bench_goodput start [--rpm N] [--tpm N] [--seconds S] [--demand X] [--latency-ms L]
//                       [--granularity 1s|1m] [--sliding-window] [--no-headers]
//                       [--sluice-granularity S]   (granularity_s in Sluice's config)
//                       [--backlog]                (all demand queued at once, as a batch file)
//                       [--prompts english|japanese|code] [--mock-tokenizer chars/4|o200k_base|cl100k_base]
//                       [--model NAME]             (claude-*: an Anthropic provider, prompts estimated)
//                          limits configured as a limits page states them, demand X× the
//                          binding one arriving steadily: 429s from the first second on
//   bench_goodput overhead [SECONDS [MOCK_URL]]
//                          dispatcher vs a plain curl-multi loop, no limits, no latency
//
// Each scenario prints one result line; the mock's own per-second counters
// are the measure, so nothing here trusts the dispatcher's bookkeeping.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/job_prep.h"
#include "http/http_client.h"
#include "mock/mock_provider.h"
#include "mock/prompt_counter.h"
#include "tokenize/resource_dir.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Counts outcomes with atomics and lets the reader poll: waking a waiting
// thread on every completion would cost the dispatcher thread a futex call
// per request, which is this benchmark's overhead, not the dispatcher's.
class Counter : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override { ++(o.result == JobResult::Completed ? m_done : m_failed); }
    bool waitFor(std::uint64_t n, Duration timeout)
    {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (m_done + m_failed < n) {
            if (std::chrono::steady_clock::now() >= end) {
                return false;
            }
            std::this_thread::sleep_for(20ms);
        }
        return true;
    }
    std::uint64_t done() const { return m_done; }
    std::uint64_t failed() const { return m_failed; }

private:
    std::atomic<std::uint64_t> m_done{0};
    std::atomic<std::uint64_t> m_failed{0};
};

Config configFor(const std::string& baseUrl, const json& modelLimits, const json& global = json::object(),
                 const std::string& modelName = "gpt-4o-mini")
{
    json model = json::object();
    if (!modelLimits.empty()) {
        model["limits"] = modelLimits;
    }
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", modelName.starts_with("claude") ? "anthropic" : "openai"},
                                {"base_url", baseUrl},
                                {"models", {{modelName, model}}},
                                {"keys", json::array({{{"name", "main"}, {"env", "K"}}})}}})}};
    if (!global.empty()) {
        root["global"] = {{"limits", global}};
    }
    return loadConfig(JsonSource("bench.json", root.dump()),
                      [](const std::string&) { return std::optional<std::string>("sk-mock"); });
}

JobSpec job(int i, int maxTokens, int promptWords)
{
    JobSpec j;
    j.customId = "j" + std::to_string(i);
    std::string prompt;
    for (int w = 0; w < promptWords; ++w) {
        prompt += "word ";
    }
    j.body = {{"model", "gpt-4o-mini"},
              {"max_tokens", maxTokens},
              {"messages", json::array({{{"role", "user"}, {"content", prompt + std::to_string(i)}}})}};
    return j;
}

// Prompts whose tokens are not four characters each: Japanese prose and
// source code, each made unique by its index.
const char* const kJapanese =
    "東京の天気は午後から崩れる見込みです。最新の予報によると、夕方には強い雨が降り、"
    "交通機関に遅れが出る可能性があります。外出の際は傘をお持ちください。";
const char* const kCode =
    "template <typename T>\nstd::vector<T> merge(const std::vector<T>& a, const std::vector<T>& b) {\n"
    "    std::vector<T> out; out.reserve(a.size() + b.size());\n"
    "    std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));\n"
    "    return out; // {a[i] <= b[j]}\n}\n";

JobSpec promptJob(int i, int maxTokens, const std::string& model, const std::string& prompts)
{
    if (prompts == "english") {
        JobSpec j = job(i, maxTokens, 100);
        j.flavor = model.starts_with("claude") ? ApiFlavor::Anthropic : ApiFlavor::OpenAI;
        j.body["model"] = model;
        return j;
    }
    const char* unit = prompts == "japanese" ? kJapanese : kCode;
    std::string prompt;
    for (int r = 0; r < 3; ++r) {
        prompt += unit;
    }
    JobSpec j;
    j.customId = "j" + std::to_string(i);
    j.flavor = model.starts_with("claude") ? ApiFlavor::Anthropic : ApiFlavor::OpenAI;
    j.body = {{"model", model},
              {"max_tokens", maxTokens},
              {"messages", json::array({{{"role", "user"}, {"content", prompt + std::to_string(i)}}})}};
    return j;
}

struct Window {
    double perMinute = 0;  // the measured quantity over the steady window, per minute
    double seconds = 0;
};

// Sums f(second) over the seconds from `skip` after the first busy second to
// two before the last, and scales to a minute.
template <typename F>
Window steady(const mock::MockStats& s, int skip, F f)
{
    if (s.series.size() < static_cast<std::size_t>(skip + 5)) {
        return {};
    }
    const std::int64_t first = s.series.front().second + skip;
    const std::int64_t last = s.series.back().second - 2;
    double sum = 0;
    for (const auto& sec : s.series) {
        if (sec.second >= first && sec.second <= last) {
            sum += f(sec);
        }
    }
    const double secs = static_cast<double>(last - first + 1);
    return {sum * 60.0 / secs, secs};
}

int goodput(const std::string& mode)
{
    constexpr int kMaxTokens = 200;
    constexpr int kPromptWords = 100;  // ~130 prompt tokens with the chat overhead
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 300;
    m.latency.perOutputTokenMs = 3;
    m.latency.firstTokenMs = 300;
    m.output.distribution = mock::DistributionKind::Uniform;
    m.output.min = 50;
    m.output.max = 200;
    auto& limits = m.models["gpt-4o-mini"].limits;
    limits = mock::RateLimits{};
    limits.granularity = 1s;  // the provider enforces per second: no minute-long burst to hide behind
    std::int64_t tpm = 0;
    std::int64_t rpm = 0;
    int jobs = 0;
    json sluiceLimits = json::object();
    if (mode == "rpm") {
        rpm = 600;
        limits.requestsPerMinute = rpm;
        limits.tokensPerMinute = 10'000'000;
        sluiceLimits = {{"rpm", rpm}, {"tpm", 10'000'000}, {"granularity_s", 1}};
        jobs = static_cast<int>(rpm * 3);  // three minutes of demand
    } else {
        tpm = 120'000;
        limits.tokensPerMinute = tpm;
        limits.requestsPerMinute = 100'000;
        if (mode == "tpm") {
            sluiceLimits = {{"tpm", tpm}, {"rpm", 100'000}, {"granularity_s", 1}};
        }
        jobs = static_cast<int>(3 * tpm / (kMaxTokens + 130));
    }
    if (const char* n = std::getenv("BENCH_JOBS")) {
        jobs = std::atoi(n);  // a shorter run, for looking into one
    }
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    provider.start();
    Admission admission(clock);
    Counter counter;
    DispatcherOptions opt;
    opt.seed = 42;
    Dispatcher d(configFor(provider.baseUrl(), sluiceLimits), clock, admission, counter, opt);
    d.start();
    const TimePoint start = clock.now();
    for (int i = 0; i < jobs; ++i) {
        d.submit(job(i, kMaxTokens, kPromptWords));
    }
    counter.waitFor(static_cast<std::uint64_t>(jobs), 20min);
    const double elapsed = std::chrono::duration<double>(clock.now() - start).count();
    d.stop();
    const mock::MockStats s = provider.stats();
    provider.stop();

    std::int64_t limited = 0;
    for (auto v : s.rateLimited) {
        limited += v;
    }
    const double share429 = s.requests ? 100.0 * static_cast<double>(limited) / static_cast<double>(s.requests) : 0;
    std::string when;
    for (const auto& sec : s.series) {
        if (sec.rateLimited > 0) {
            when += " " + std::to_string(sec.second - s.series.front().second) + "s:" + std::to_string(sec.rateLimited);
        }
    }
    if (!when.empty()) {
        std::printf("%s: 429s at (seconds after the first request: count)%s; by limit:", mode.c_str(), when.c_str());
        for (std::size_t k = 0; k < s.rateLimited.size(); ++k) {
            std::printf(" %lld", static_cast<long long>(s.rateLimited[k]));
        }
        std::printf("\n");
    }
    // The skip leaves out the start-up: for "learn", the first 10 s in which
    // Sluice has yet to hear the limits.
    const int skip = mode == "learn" ? 10 : 3;
    if (mode == "rpm") {
        const Window w = steady(s, skip, [](const mock::SecondStats& sec) { return static_cast<double>(sec.accepted); });
        std::printf("rpm: %d jobs in %.1f s, lost %llu | steady %.0f s: %.1f requests/min of %lld = %.2f%% | 429: %lld of %lld requests = %.3f%%\n",
                    jobs, elapsed, static_cast<unsigned long long>(counter.failed()), w.seconds, w.perMinute,
                    static_cast<long long>(rpm), 100.0 * w.perMinute / static_cast<double>(rpm),
                    static_cast<long long>(limited), static_cast<long long>(s.requests), share429);
    } else {
        // OpenAI's TPM charges prompt + max_tokens on arrival: what binds.
        const Window w = steady(s, skip, [&](const mock::SecondStats& sec) {
            return static_cast<double>(sec.inputTokens + sec.accepted * kMaxTokens);
        });
        std::printf("%s: %d jobs in %.1f s, lost %llu | steady %.0f s: %.0f tokens/min of %lld = %.2f%% | 429: %lld of %lld requests = %.3f%%\n",
                    mode.c_str(), jobs, elapsed, static_cast<unsigned long long>(counter.failed()), w.seconds, w.perMinute,
                    static_cast<long long>(tpm), 100.0 * w.perMinute / static_cast<double>(tpm),
                    static_cast<long long>(limited), static_cast<long long>(s.requests), share429);
    }
    return 0;
}

// The first seconds against a provider that enforces in short buckets:
// limits configured as a limits page states them (no granularity), demand
// a multiple of what they allow, arriving steadily for the whole run. What
// counts is every 429 from the first request on, and the binding limit's
// use in steady state.
struct StartOptions {
    std::int64_t rpm = 600;
    std::int64_t tpm = 60'000;
    double seconds = 90;
    double demand = 3;         // × what the binding limit carries
    double latencyMs = 300;    // per response, fixed
    std::string granularity = "1s";
    bool slidingWindow = false;
    bool headers = true;
    double sluiceGranularity = 0;  // granularity_s in Sluice's config; 0: left out
    bool backlog = false;          // the whole run's demand queued at once, as a batch file is
    std::string prompts = "english";
    std::string mockTokenizer = "chars/4";  // how the mock counts prompts
    std::string model = "gpt-4o-mini";
};

int startup(const StartOptions& o)
{
    constexpr int kMaxTokens = 200;
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency = mock::LatencyModel{o.latencyMs, 0, o.latencyMs, mock::DistributionKind::Fixed, 0, {}};
    m.output.distribution = mock::DistributionKind::Uniform;
    m.output.min = 50;
    m.output.max = kMaxTokens;
    m.rateLimitHeaders = o.headers;
    m.retryAfterMs = true;
    mock::MockModel& served = m.models[o.model];
    served.flavour = o.model.starts_with("claude") ? mock::Flavour::Anthropic : mock::Flavour::OpenAI;
    served.promptCounting = o.mockTokenizer == "o200k_base"    ? mock::PromptCounting::O200kBase
                            : o.mockTokenizer == "cl100k_base" ? mock::PromptCounting::Cl100kBase
                                                               : mock::PromptCounting::Estimate;
    auto& limits = served.limits;
    limits = mock::RateLimits{};
    limits.requestsPerMinute = o.rpm;
    limits.tokensPerMinute = o.tpm;
    limits.granularity = o.granularity == "1m" ? Duration(1min) : Duration(1s);
    limits.enforcement = o.slidingWindow ? mock::Enforcement::SlidingWindow : mock::Enforcement::Bucket;
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    provider.start();
    Admission admission(clock);
    Counter counter;
    DispatcherOptions opt;
    opt.seed = 42;
    // The limits page's numbers and nothing else.
    json sluiceLimits = {{"rpm", o.rpm}, {"tpm", o.tpm}};
    if (o.sluiceGranularity > 0) {
        sluiceLimits["granularity_s"] = o.sluiceGranularity;  // to compare with a stated granularity
    }
    Dispatcher d(configFor(provider.baseUrl(), sluiceLimits, json::object(), o.model), clock, admission, counter, opt);
    d.start();
    // What one request costs the provider's TPM: its prompt as the mock
    // counts it plus max_tokens, measured on one request rather than assumed.
    const JobSpec sample = promptJob(0, kMaxTokens, o.model, o.prompts);
    const std::string path = o.model.starts_with("claude") ? "/v1/messages" : "/v1/chat/completions";
    const double promptTokens = static_cast<double>(
        mock::PromptCounter(tokenize::tokenizerDir())
            .count(served.promptCounting, path, o.model, sample.body.dump())
            .value_or(static_cast<std::int64_t>(sample.body["messages"][0]["content"].get<std::string>().size() + 3) / 4 + 7));
    const double perRequestTokens = static_cast<double>(kMaxTokens) + promptTokens;
    const double allowedPerMinute =
        std::min(static_cast<double>(o.rpm), static_cast<double>(o.tpm) / perRequestTokens);
    const double arrivalsPerSecond = o.demand * allowedPerMinute / 60.0;
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(o.seconds));
    int submitted = 0;
    if (o.backlog) {
        const int total = static_cast<int>(arrivalsPerSecond * o.seconds);
        while (submitted < total) {
            d.submit(promptJob(submitted++, kMaxTokens, o.model, o.prompts));
        }
    }
    while (std::chrono::steady_clock::now() < end) {
        const double due = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() *
                           arrivalsPerSecond;
        while (submitted < static_cast<int>(due)) {
            d.submit(promptJob(submitted++, kMaxTokens, o.model, o.prompts));
        }
        std::this_thread::sleep_for(5ms);
    }
    d.stop();
    const mock::MockStats s = provider.stats();
    provider.stop();

    std::int64_t limited = 0;
    for (auto v : s.rateLimited) {
        limited += v;
    }
    std::string when;
    for (const auto& sec : s.series) {
        if (sec.rateLimited > 0 && when.size() < 200) {
            when += " " + std::to_string(sec.second - s.series.front().second) + "s:" + std::to_string(sec.rateLimited);
        }
    }
    const Window req = steady(s, 10, [](const mock::SecondStats& sec) { return static_cast<double>(sec.accepted); });
    const Window tok = steady(s, 10, [&](const mock::SecondStats& sec) {
        return static_cast<double>(sec.inputTokens + sec.accepted * kMaxTokens);
    });
    // Over the whole run as well: at a few requests a minute, the steady
    // window holds too few to read a rate from. One bucket's worth is free
    // at the start, so the most a run can carry is that plus the rate.
    std::int64_t accepted = 0;
    for (const auto& sec : s.series) {
        accepted += sec.accepted;
    }
    const double spanS = s.series.empty() ? 0.0 : static_cast<double>(s.series.back().second - s.series.front().second);
    const double mostRequests = 1.0 + static_cast<double>(o.rpm) * spanS / 60.0;
    const double rpmShare = 100.0 * req.perMinute / static_cast<double>(o.rpm);
    const double tpmShare = 100.0 * tok.perMinute / static_cast<double>(o.tpm);
    std::printf("start [%s, %s prompts of %.0f tokens, mock counts %s]: rpm %lld tpm %lld, provider %s %s%s, latency %.0f ms, demand %.1fx%s for %.0f s | "
                "submitted %d, completed %llu | 429: %lld of %lld requests = %.3f%% | steady %.0f s: "
                "%.1f%% of rpm, %.1f%% of tpm (binding %.2f%%) | whole run: %lld requests accepted in %.0f s, "
                "%.1f%% of the most the rpm allows%s%s\n",
                o.model.c_str(), o.prompts.c_str(), promptTokens, o.mockTokenizer.c_str(), static_cast<long long>(o.rpm), static_cast<long long>(o.tpm),
                o.slidingWindow ? "sliding window" : "bucket", o.granularity.c_str(), o.headers ? "" : ", no headers",
                o.latencyMs, o.demand, o.backlog ? " queued at once" : "", o.seconds, submitted, static_cast<unsigned long long>(counter.done()),
                static_cast<long long>(limited), static_cast<long long>(s.requests),
                s.requests ? 100.0 * static_cast<double>(limited) / static_cast<double>(s.requests) : 0.0,
                req.seconds, rpmShare, tpmShare, std::max(rpmShare, tpmShare), static_cast<long long>(accepted), spanS,
                100.0 * static_cast<double>(accepted) / mostRequests, when.empty() ? "" : " | 429s at",
                when.c_str());
    return 0;
}

StartOptions parseStart(int argc, char** argv)
{
    StartOptions o;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_goodput start: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--rpm") {
            o.rpm = std::atoll(next().c_str());
        } else if (a == "--tpm") {
            o.tpm = std::atoll(next().c_str());
        } else if (a == "--seconds") {
            o.seconds = std::atof(next().c_str());
        } else if (a == "--demand") {
            o.demand = std::atof(next().c_str());
        } else if (a == "--latency-ms") {
            o.latencyMs = std::atof(next().c_str());
        } else if (a == "--granularity") {
            o.granularity = next();
        } else if (a == "--sluice-granularity") {
            o.sluiceGranularity = std::atof(next().c_str());
        } else if (a == "--backlog") {
            o.backlog = true;
        } else if (a == "--sliding-window") {
            o.slidingWindow = true;
        } else if (a == "--no-headers") {
            o.headers = false;
        } else if (a == "--prompts") {
            o.prompts = next();
            if (o.prompts != "english" && o.prompts != "japanese" && o.prompts != "code") {
                std::fprintf(stderr, "bench_goodput start: --prompts: english, japanese or code (got %s)\n",
                             o.prompts.c_str());
                std::exit(2);
            }
        } else if (a == "--mock-tokenizer") {
            o.mockTokenizer = next();
        } else if (a == "--model") {
            o.model = next();
        } else {
            std::fprintf(stderr, "bench_goodput start: unknown option %s\n", a.c_str());
            std::exit(2);
        }
    }
    return o;
}

// Requests per second over `span`, keeping `concurrency` transfers in flight
// with nothing but HttpClient: the floor any dispatcher is measured against.
double plainLoopHere(const std::string& url, int concurrency, Duration span)
{
    std::uint64_t done = 0;
    bool stopping = false;
    const std::string body = job(0, 16, 8).body.dump();
    // The dispatcher's header lines for this provider, in one list built
    // once as the dispatcher builds it: both loops send the same request, so
    // the difference between them is the dispatcher's own work.
    auto common = std::make_shared<http::HeaderList>();
    for (const std::string& line : commonHeaderLines(ProviderConfig{}, false)) {
        common->append(line);
    }
    auto client = std::make_unique<http::HttpClient>();
    std::function<void()> launch = [&] {
        if (stopping) {
            return;
        }
        http::HttpRequest r;
        r.url = url + "/v1/chat/completions";
        r.sharedHeaders = common;
        r.secretHeader = Secret("sk-mock").prefixed("Authorization: Bearer ");
        r.body = body;
        http::TransferHandlers h;
        h.onComplete = [&](http::HttpResult&& res) {
            done += res.status == 200;
            launch();
        };
        client->start(std::move(r), std::move(h));
    };
    for (int i = 0; i < concurrency; ++i) {
        launch();
    }
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t before = done;
    while (std::chrono::steady_clock::now() - start < span) {
        client->poll(10ms);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(done - before) / secs;
    // The client goes first: its destructor completes what is in flight,
    // and those handlers still use `launch`.
    stopping = true;
    client.reset();
    return rate;
}

// On a thread of its own, as the dispatcher's loop is: a thread's first
// allocation gives it a malloc arena of its own, and freeing into such an
// arena costs more than into the main thread's.
double plainLoop(const std::string& url, int concurrency, Duration span)
{
    double rate = 0;
    std::thread loop([&] { rate = plainLoopHere(url, concurrency, span); });
    loop.join();
    return rate;
}

double throughDispatcher(const std::string& url, int concurrency, Duration span)
{
    SystemClock clock;
    Admission admission(clock);
    Counter counter;
    Dispatcher d(configFor(url, json::object(), {{"concurrency", concurrency}}), clock, admission, counter);
    d.start();
    // Enough work for the whole span; the rate is read off the completions.
    // Enough for the span at any plausible rate, without minutes of set-up.
    int kJobs = static_cast<int>(std::min<double>(400'000, 30'000 * std::chrono::duration<double>(span).count()));
    if (const char* n = std::getenv("BENCH_JOBS")) {
        kJobs = std::atoi(n);  // under a profiler: as many jobs as it will run, no more
    }
    for (int i = 0; i < kJobs; ++i) {
        d.submit(job(i, 16, 8));
    }
    // Measure once the dispatcher has taken in every submission: queueing
    // them is set-up, not the per-request work being compared.
    while (true) {
        const DispatcherStats s = d.stats();
        if (s.queued + s.inFlight + s.finished() >= static_cast<std::uint64_t>(kJobs)) {
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t before = counter.done();
    counter.waitFor(kJobs, span);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(counter.done() - before) / secs;
    d.stop();
    return rate;
}

// `externalUrl` names a mock started elsewhere (sluice-cli mock --no-limits
// --latency-ms 0), so server and client do not share a process; empty runs
// one in-process.
int overhead(Duration span, const std::string& externalUrl)
{
    constexpr int kConcurrency = 64;
    mock::MockConfig m = mock::MockConfig::defaults();
    m.limitsEnabled = false;
    m.latency = mock::LatencyModel{0, 0, 0, mock::DistributionKind::Fixed, 0, {}};
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 8;
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    std::string url = externalUrl;
    if (url.empty()) {
        provider.start();
        url = provider.baseUrl();
    }
    double plain = 0;
    double sluice = 0;
    // BENCH_ONLY=plain|dispatcher runs one side once, for a profiler.
    const std::string only = std::getenv("BENCH_ONLY") != nullptr ? std::getenv("BENCH_ONLY") : "";
    if (!only.empty()) {
        const double rate = only == "plain" ? plainLoop(url, kConcurrency, span) : throughDispatcher(url, kConcurrency, span);
        std::printf("%s: %.0f req/s, %.0f requests\n", only.c_str(), rate, rate * std::chrono::duration<double>(span).count());
        provider.stop();
        return 0;
    }
    // Alternate, so drift on a shared machine hits both sides alike.
    for (int round = 0; round < 2; ++round) {
        plain += plainLoop(url, kConcurrency, span);
        sluice += throughDispatcher(url, kConcurrency, span);
    }
    provider.stop();
    std::printf("overhead: concurrency %d, mock without limits or latency | plain curl-multi %.0f req/s | dispatcher %.0f req/s | ratio %.3f\n",
                kConcurrency, plain / 2, sluice / 2, sluice / plain);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "tpm" || mode == "rpm" || mode == "learn") {
        return goodput(mode);
    }
    if (mode == "start") {
        return startup(parseStart(argc, argv));
    }
    if (mode == "overhead") {
        // An optional span per measurement, in seconds (default 8).
        const double secs = argc > 2 ? std::atof(argv[2]) : 8.0;
        return overhead(Duration(static_cast<std::int64_t>(secs * 1e9)), argc > 3 ? argv[3] : "");
    }
    std::fprintf(stderr, "usage: bench_goodput tpm|rpm|learn|start [OPTIONS]|overhead [SECONDS [MOCK_URL]]\n");
    return 2;
}
