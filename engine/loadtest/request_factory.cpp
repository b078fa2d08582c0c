#include "loadtest/request_factory.h"

#include "core/json_reader.h"
#include "loadtest/arrivals.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace sluice::loadtest {

using nlohmann::json;

namespace {

// SplitMix64's finaliser: neighbouring inputs give unrelated seeds.
std::uint64_t mix64(std::uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

enum class Salt : std::uint64_t { Request = 1, Tenant = 2 };

std::mt19937_64 rngFor(std::uint64_t seed, std::uint64_t arrival, std::uint64_t stage, std::uint64_t call, Salt salt)
{
    std::uint64_t h = mix64(seed);
    for (std::uint64_t v : {arrival, stage, call, static_cast<std::uint64_t>(salt)}) {
        h = mix64(h ^ v);
    }
    return std::mt19937_64(h);
}

template <typename T>
const T& weighted(const std::vector<T>& choices, std::mt19937_64& rng)
{
    double total = 0;
    for (const T& c : choices) {
        total += c.weight;
    }
    double x = std::uniform_real_distribution<double>(0.0, total)(rng);
    for (const T& c : choices) {
        if (x < c.weight) {
            return c;
        }
        x -= c.weight;
    }
    return choices.back();
}

json userMessage(std::string text)
{
    return json::array({{{"role", "user"}, {"content", std::move(text)}}});
}

// What Sluice's estimate (providers/protocol.h) gives one user message with
// no text: the per-message, role and reply-priming tokens. Asked of the
// estimator rather than written here, so the two cannot drift apart.
std::int64_t chatOverhead(ApiFlavor flavor)
{
    static const std::array<std::int64_t, 2> overhead = {
        estimatePromptTokens(ApiFlavor::OpenAI, json{{"messages", userMessage("")}}),
        estimatePromptTokens(ApiFlavor::Anthropic, json{{"messages", userMessage("")}})};
    return overhead[flavor == ApiFlavor::Anthropic ? 1 : 0];
}

// A prompt of `wanted` tokens, or of the fewest a message with text can have.
std::int64_t promptEstimate(ApiFlavor flavor, std::int64_t wanted)
{
    return std::max(wanted, chatOverhead(flavor) + 1);
}

// Text whose estimate is exactly promptEstimate(flavor, tokens): a token per
// 4 characters on top of the overhead.
std::string promptText(ApiFlavor flavor, const std::string& id, std::int64_t tokens)
{
    static constexpr std::string_view kFiller =
        "Write clearly about rate limits, queues and the patience of systems under load. ";
    const std::size_t chars =
        static_cast<std::size_t>(std::max<std::int64_t>(1, (tokens - chatOverhead(flavor)) * 4));
    std::string text = "Load test " + id + ". ";
    text.reserve(chars + kFiller.size());
    while (text.size() < chars) {
        text.append(kFiller);
    }
    text.resize(chars);
    return text;
}

}  // namespace

TenantChoice RequestFactory::tenant(std::uint64_t arrival) const
{
    const std::vector<TenantChoice>& tenants = m_workload.mix.tenants;
    if (tenants.empty()) {
        return {};
    }
    std::mt19937_64 rng = rngFor(m_workload.seed, arrival, 0, 0, Salt::Tenant);
    return weighted(tenants, rng);
}

RequestDraw RequestFactory::draw(const RequestMix& mix, std::uint64_t arrival, std::size_t stage, int call) const
{
    std::mt19937_64 rng = rngFor(m_workload.seed, arrival, stage, static_cast<std::uint64_t>(call), Salt::Request);
    const ModelChoice& m = weighted(mix.models, rng);
    RequestDraw d;
    d.model = m.model;
    d.flavor = m.flavor.value_or(ApiFlavor::OpenAI);
    d.provider = m.provider;
    d.promptTokens = promptEstimate(d.flavor, mix.promptTokens.draw(rng));
    d.maxTokens = mix.maxTokens.draw(rng);
    d.stream = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < mix.streamShare;
    return d;
}

JobSpec RequestFactory::build(const RequestDraw& d, std::string customId, const TenantChoice& tenant) const
{
    JobSpec job;
    job.flavor = d.flavor;
    job.provider = d.provider;
    job.tenant = tenant.name;
    job.priority = tenant.priority;
    job.body = {{"model", d.model},
                {"max_tokens", d.maxTokens},
                {"messages", userMessage(promptText(d.flavor, customId, d.promptTokens))}};
    if (d.stream) {
        job.body["stream"] = true;
    }
    job.customId = std::move(customId);
    return job;
}

std::string RequestFactory::callId(std::uint64_t arrival, std::size_t stage, int call) const
{
    if (!m_workload.pipeline) {
        return "r" + std::to_string(arrival);
    }
    return "p" + std::to_string(arrival) + "." + m_workload.pipeline->stages[stage].name + "." + std::to_string(call);
}

JobSpec RequestFactory::single(std::uint64_t arrival) const
{
    return build(draw(m_workload.mix, arrival, 0, 0), callId(arrival, 0, 0), tenant(arrival));
}

JobSpec RequestFactory::stageCall(std::uint64_t arrival, std::size_t stage, int call) const
{
    return build(draw(m_workload.pipeline->stages[stage].mix, arrival, stage, call), callId(arrival, stage, call),
                 tenant(arrival));
}

const ReplayEntry& RequestFactory::replayEntry(std::uint64_t arrival) const
{
    const std::vector<ReplayEntry>& entries = m_workload.replay->entries;
    return entries[arrival % entries.size()];
}

JobSpec RequestFactory::replayCall(std::uint64_t arrival) const
{
    const ReplayEntry& e = replayEntry(arrival);
    const std::uint64_t pass = arrival / m_workload.replay->entries.size();
    if (e.job) {
        JobSpec job = *e.job;
        if (pass > 0) {
            job.customId += "#" + std::to_string(pass + 1);
        }
        return job;
    }
    RequestDraw d;
    d.model = e.model.model;
    d.flavor = e.model.flavor.value_or(ApiFlavor::OpenAI);
    d.provider = e.model.provider;
    d.promptTokens = promptEstimate(d.flavor, e.inputTokens);
    d.maxTokens = e.outputTokens;
    d.stream = e.stream;
    TenantChoice t;
    t.name = e.tenant;
    t.priority = e.priority;
    return build(d, "u" + std::to_string(e.line) + (pass > 0 ? "#" + std::to_string(pass + 1) : ""), t);
}

namespace {

constexpr std::size_t kMaxProblems = 50;

void resolveFlavor(ModelChoice& m, const Config& config, std::vector<std::string>& problems)
{
    if (m.flavor) {
        return;
    }
    if (!m.provider.empty()) {
        if (const ProviderConfig* p = config.provider(m.provider)) {
            m.flavor = p->flavor;
        } else {
            problems.push_back(m.where + ": provider \"" + m.provider + "\" is not in " + config.source);
        }
        return;
    }
    for (const ProviderConfig& p : config.providers) {
        if (p.model(m.model) != nullptr) {
            m.flavor = p.flavor;
            return;
        }
    }
    std::set<ApiFlavor> open;
    for (const ProviderConfig& p : config.providers) {
        if (p.models.empty()) {
            open.insert(p.flavor);
        }
    }
    if (open.size() == 1) {
        m.flavor = *open.begin();
    } else if (open.empty()) {
        problems.push_back(m.where + ": no provider in " + config.source + " serves model \"" + m.model + "\"");
    } else {
        problems.push_back(m.where + ": providers of both flavours serve any model; give \"flavor\" for \"" + m.model +
                           "\"");
    }
}

std::vector<ModelChoice*> modelChoices(Workload& w)
{
    std::vector<ModelChoice*> choices;
    for (ModelChoice& m : w.mix.models) {
        choices.push_back(&m);
    }
    if (w.pipeline) {
        for (Stage& s : w.pipeline->stages) {
            for (ModelChoice& m : s.mix.models) {
                choices.push_back(&m);
            }
        }
    }
    if (w.replay) {
        for (ReplayEntry& e : w.replay->entries) {
            if (!e.job) {
                choices.push_back(&e.model);
            }
        }
    }
    return choices;
}

}  // namespace

void resolveFlavors(Workload& w, const Config& config)
{
    std::vector<std::string> problems;
    for (ModelChoice* m : modelChoices(w)) {
        if (problems.size() < kMaxProblems) {
            resolveFlavor(*m, config, problems);
        }
    }
    throwIfProblems(w.source, problems);
}

void bindToConfig(Workload& w, const Config& config, const std::function<std::string(const JobSpec&)>& validate)
{
    resolveFlavors(w, config);
    std::vector<std::string> problems;
    // Each distinct choice is checked once: a replay repeats the same few.
    std::set<std::tuple<std::string, std::string, int>> checked;
    const RequestFactory factory(w);
    for (ModelChoice* m : modelChoices(w)) {
        if (problems.size() >= kMaxProblems) {
            break;
        }
        const auto key = std::make_tuple(m->model, m->provider, static_cast<int>(m->flavor.value_or(ApiFlavor::OpenAI)));
        if (!checked.insert(key).second) {
            continue;
        }
        RequestDraw d;
        d.model = m->model;
        d.flavor = *m->flavor;
        d.provider = m->provider;
        d.promptTokens = promptEstimate(d.flavor, 1);
        d.maxTokens = 16;
        const std::string why = validate(factory.build(d, "check", {}));
        if (!why.empty()) {
            problems.push_back(m->where + ": " + why);
        }
    }
    if (w.replay) {
        for (const ReplayEntry& e : w.replay->entries) {
            if (!e.job || problems.size() >= kMaxProblems) {
                continue;
            }
            const std::string why = validate(*e.job);
            if (!why.empty()) {
                problems.push_back(w.replay->file + ":" + std::to_string(e.line) + ": " + why);
            }
        }
    }
    throwIfProblems(w.source, problems);
}

WorkloadEstimate estimateWorkload(const Workload& w, const Config& config)
{
    WorkloadEstimate est;
    const RequestFactory factory(w);
    std::set<std::string> unpriced;
    const auto add = [&](const std::string& model, std::int64_t input, std::int64_t output) {
        ++est.requests;
        est.inputTokens += input;
        est.maxOutputTokens += output;
        if (const auto cost = config.pricing.microUsd(model, TokenUsage{input, output, 0, 0})) {
            est.costMicroUsd += *cost;
        } else {
            unpriced.insert(model);
        }
    };
    const auto addDraw = [&](const RequestDraw& d) { add(d.model, d.promptTokens, d.maxTokens); };
    WorkloadSchedule schedule(w);
    std::uint64_t arrival = 0;
    while (schedule.next()) {
        if (w.replay) {
            const ReplayEntry& e = factory.replayEntry(arrival);
            if (e.job) {
                const ProviderConfig* p = config.route(e.job->flavor, e.job->body.value("model", ""), e.job->provider);
                const ModelConfig* mc = p != nullptr ? p->model(e.job->body.value("model", "")) : nullptr;
                try {
                    const RequestInfo info = analyzeRequest(e.job->flavor, e.job->body, mc ? mc->defaultMaxTokens : 4096);
                    add(info.model, info.promptTokens, info.reservedOutputTokens());
                } catch (const InputError&) {
                    ++est.requests;  // bindToConfig reports it
                }
            } else {
                add(e.model.model, promptEstimate(e.model.flavor.value_or(ApiFlavor::OpenAI), e.inputTokens),
                    e.outputTokens);
            }
        } else if (w.pipeline) {
            for (std::size_t s = 0; s < w.pipeline->stages.size(); ++s) {
                for (int c = 0; c < w.pipeline->stages[s].count; ++c) {
                    addDraw(factory.draw(w.pipeline->stages[s].mix, arrival, s, c));
                }
            }
        } else {
            addDraw(factory.draw(w.mix, arrival, 0, 0));
        }
        ++arrival;
    }
    est.arrivals = arrival;
    est.unpricedModels.assign(unpriced.begin(), unpriced.end());
    return est;
}

}  // namespace sluice::loadtest
