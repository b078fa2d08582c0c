#include "host/demo.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <numbers>

namespace sluice::host {

namespace {

const std::map<std::string, std::string, std::less<>>& demoKeys()
{
    static const std::map<std::string, std::string, std::less<>> keys = {
        {"SLUICE_DEMO_KEY_TEAM_A", "sk-demo-team-a"},
        {"SLUICE_DEMO_KEY_TEAM_B", "sk-demo-team-b"},
        {"SLUICE_DEMO_KEY_TRIAL", "sk-demo-trial"},
        {"SLUICE_DEMO_KEY_ANTHROPIC", "sk-demo-anthropic"},
    };
    return keys;
}

// splitmix64: small, seedable, and the same on every platform.
std::uint64_t nextRandom(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double uniform(std::uint64_t& state)
{
    return static_cast<double>(nextRandom(state) >> 11) * 0x1.0p-53;
}

const char* const kWords[] = {"summarise", "the", "quarterly", "report", "for", "our", "customers", "and",
                              "list",      "three", "risks", "with", "one", "line", "each", "please"};

}  // namespace

mock::MockConfig demoMockConfig()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.keys.clear();
    m.keys["sk-demo-team-a"] = mock::MockKey{};
    mock::MockKey teamB;
    // The provider holds team-b to less than the workspace believes: Sluice
    // takes the lower limit from the first response's headers. (Its 429s
    // come from the DemoNeighbour that shares the key.)
    mock::LimitOverride lower;
    lower.tokensPerMinute = 90000;
    teamB.limits["gpt-4o-mini"] = lower;
    m.keys["sk-demo-team-b"] = teamB;
    mock::MockKey trial;
    trial.quotaTokens = 20000;  // out of quota about ten seconds in
    m.keys["sk-demo-trial"] = trial;
    m.keys["sk-demo-anthropic"] = mock::MockKey{};

    mock::MockModel& mini = m.models.at("gpt-4o-mini");
    mini.limits.requestsPerMinute = 600;
    mini.limits.tokensPerMinute = 150000;
    mini.limits.granularity = std::chrono::seconds(1);
    mock::MockModel& haiku = m.models.at("claude-haiku-4-5");
    haiku.limits.requestsPerMinute = 120;
    haiku.limits.inputTokensPerMinute = 50000;
    haiku.limits.outputTokensPerMinute = 10000;
    // Ten seconds, not one: at 1 s an OTPM bucket of 10,000/min holds 166
    // tokens, less than one request's max_tokens, so every Anthropic request
    // would be refused outright (a dead letter) instead of waiting its turn.
    haiku.limits.granularity = std::chrono::seconds(10);
    haiku.maxOutputTokens = 4096;
    mini.maxOutputTokens = 4096;

    m.latency.baseMs = 250;
    m.latency.perOutputTokenMs = 6;
    m.latency.firstTokenMs = 300;
    m.latency.jitter = mock::DistributionKind::LogNormal;
    m.latency.spread = 0.3;
    m.output.distribution = mock::DistributionKind::LogNormal;
    m.output.mean = 140;
    m.output.sigma = 0.5;
    m.output.min = 10;
    m.output.max = 400;
    m.faults[mock::Fault::Http500] = 0.004;
    m.faults[mock::Fault::Http529] = 0.002;
    return m;
}

EnvLookup demoKeyLookup(EnvLookup fallback)
{
    return [fallback = std::move(fallback)](const std::string& name) -> std::optional<std::string> {
        if (const auto it = demoKeys().find(name); it != demoKeys().end()) {
            return it->second;
        }
        return fallback ? fallback(name) : std::nullopt;
    };
}

store::NewJob demoJob(std::string customId, bool anthropic, int promptWords, int maxTokens)
{
    std::string prompt;
    for (int i = 0; i < promptWords; ++i) {
        prompt += kWords[static_cast<std::size_t>(i) % std::size(kWords)];
        prompt += ' ';
    }
    const nlohmann::json body = {
        {"model", anthropic ? "claude-haiku-4-5" : "gpt-4o-mini"},
        {"max_tokens", maxTokens},
        {"messages", nlohmann::json::array({{{"role", "user"}, {"content", prompt}}})}};
    store::NewJob job;
    job.customId = std::move(customId);
    job.url = anthropic ? "/v1/messages" : "/v1/chat/completions";
    job.body = body.dump();
    job.model = body["model"].get<std::string>();
    job.tenant = anthropic ? "research" : "support";
    return job;
}

DemoWorkload::DemoWorkload(store::JobStore& store, Clock& clock, DemoWorkloadOptions options,
                           std::function<void()> poke)
    : m_store(store), m_clock(clock), m_options(options), m_poke(std::move(poke)), m_rng(options.seed)
{
    // Custom ids must be new on every start: the store keeps the last run's.
    m_runTag = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  m_clock.wallNow().time_since_epoch())
                                  .count());
}

DemoWorkload::~DemoWorkload()
{
    stop();
}

void DemoWorkload::start()
{
    if (m_thread.joinable()) {
        return;
    }
    {
        std::lock_guard guard(m_mutex);
        m_stopping = false;
    }
    m_subscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        m_cv.notify_all();
    });
    m_thread = std::thread([this] { run(); });
}

void DemoWorkload::stop()
{
    if (!m_thread.joinable()) {
        return;
    }
    {
        std::lock_guard guard(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_all();
    m_thread.join();
    m_subscription = ClockSubscription();
}

void DemoWorkload::setScale(double scale)
{
    std::lock_guard guard(m_mutex);
    m_scale = std::max(0.0, scale);
}

DemoWorkloadStats DemoWorkload::stats() const
{
    std::lock_guard guard(m_mutex);
    return DemoWorkloadStats{m_queued, m_thread.joinable() && !m_stopping};
}

std::vector<store::NewJob> DemoWorkload::makeJobs(std::size_t n)
{
    std::vector<store::NewJob> jobs;
    jobs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t number = m_queued + i + 1;
        const bool anthropic = uniform(m_rng) < m_options.anthropicShare;
        const int words = 40 + static_cast<int>(uniform(m_rng) * 400);
        int maxTokens = 100 + static_cast<int>(uniform(m_rng) * 300);
        if (m_options.invalidEvery > 0 && number % static_cast<std::uint64_t>(m_options.invalidEvery) == 0) {
            // More than any per-minute token limit here holds: admission refuses
            // it before sending (request_too_large), a dead letter to edit.
            maxTokens = 50000;
        }
        jobs.push_back(demoJob("demo-" + m_runTag + "-" + std::to_string(number), anthropic, words, maxTokens));
    }
    return jobs;
}

void DemoWorkload::run()
{
    const TimePoint start = m_clock.now();
    TimePoint last = start;
    double owed = 0;  // fractional requests carried to the next tick
    TimePoint nextPendingCheck = start;
    bool full = false;
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        m_clock.waitUntil(m_cv, lock, last + m_options.tick);
        if (m_stopping) {
            break;
        }
        const TimePoint now = m_clock.now();
        const double dt = std::chrono::duration<double>(now - last).count();
        last = now;
        const double phase = 2 * std::numbers::pi * std::chrono::duration<double>(now - start).count() /
                             std::chrono::duration<double>(m_options.period).count();
        const double rate = m_options.rate * m_scale * (1 + m_options.swing * std::sin(phase));
        owed += std::max(0.0, rate) * std::min(dt, 1.0);
        const auto n = static_cast<std::size_t>(owed);
        if (n == 0) {
            continue;
        }
        owed -= static_cast<double>(n);
        std::vector<store::NewJob> jobs = makeJobs(n);
        lock.unlock();
        try {
            if (now >= nextPendingCheck) {
                full = m_store.counts().pending >= m_options.maxPending;
                nextPendingCheck = now + std::chrono::seconds(1);
            }
            if (!full) {
                m_store.enqueueMany(jobs);
                if (m_poke) {
                    m_poke();
                }
            }
        } catch (const std::exception&) {
            // A full disk or a locked file: the demo skips this tick; the
            // console shows the store's error from the runner.
        }
        lock.lock();
        if (!full) {
            m_queued += n;
        }
    }
}

}  // namespace sluice::host
