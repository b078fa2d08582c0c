// Dispatcher's public face: the calls any thread makes, each checked and
// posted to the dispatcher thread as a command, and the commands' effects
// there. A live configuration edit is written once, by ConfigEdits, and the
// dispatcher thread reads the edited configuration (KeyPool::adopt).
#include "dispatch/dispatcher.h"

#include "dispatch/config_edits.h"
#include "dispatch/dispatch_loop.h"
#include "dispatch/timeline.h"
#include "providers/prompt_estimator.h"
#include "tokenize/encodings.h"
#include "tokenize/resource_dir.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"

#include <algorithm>
#include <random>

namespace sluice {

Dispatcher::Impl::Impl(std::shared_ptr<const Config> cfg, Clock& clk, Admission& adm, DispatchListener& lst,
                               const DispatcherOptions& opt)
    : config(std::move(cfg)),
      clock(clk),
      admission(adm),
      listener(lst),
      options(opt),
      pool(adm, config, opt.defaultGlobalConcurrency),
      ownTransport(opt.transport != nullptr ? nullptr : std::make_unique<ClientTransport>()),
      http(opt.transport != nullptr ? *opt.transport : *ownTransport),
      backoff(config->retry.baseDelay, config->retry.maxDelay,
              opt.seed != 0 ? opt.seed : std::random_device{}())
{
    clockSubscription = clock.subscribe([this] { http.wakeup(); });
    handedWork = [this] { takeUpHandedWork(); };
}

void Dispatcher::Impl::enqueue(Command command)
{
    bool wasEmpty = false;
    {
        std::lock_guard guard(mutex);
        if (std::holds_alternative<Submit>(command.what)) {
            ++submittedTotal;
        }
        wasEmpty = commands.empty();
        commands.push_back(std::move(command));
    }
    // The loop takes the whole queue at once (drainCommands): a queue that
    // was not empty has a wake-up on its way for this command too. Under
    // load most submissions then cost no write to the transport's eventfd.
    if (wasEmpty) {
        http.wakeup();
    }
}

void Dispatcher::Impl::drainCommands(TimePoint now)
{
    // The queue's storage goes back and forth between `commands` and
    // `spareCommands`, so that under load a submission finds room already
    // made instead of allocating the queue again after every drain.
    std::vector<Command> batch = std::move(spareCommands);
    {
        std::lock_guard guard(mutex);
        batch.swap(commands);
    }
    for (Command& c : batch) {
        if (c.config) {
            config = c.config;
            pool.adopt(std::move(c.config));
            wakeAllLanes(now);
        }
        std::visit([&](auto& cmd) { apply(cmd, now); }, c.what);
    }
    batch.clear();
    spareCommands = std::move(batch);
}

void Dispatcher::Impl::wakeAllLanes(TimePoint now)
{
    for (Lane& lane : lanes) {
        lane.blockedUntil = std::min(lane.blockedUntil, now);
    }
}

void Dispatcher::Impl::apply(Submit& s, TimePoint now)
{
    PreparedJob& p = *s.job;
    // Built in its node: a job is moved no more once it is queued.
    Job& job = jobs.try_emplace(nextId).first->second;
    job.id = nextId++;
    job.info = std::move(p.info);
    job.bodyText = std::move(p.bodyText);
    job.cost = p.cost;
    job.provider = p.provider;
    job.tenant = p.job.tenant.empty() ? config->defaults.tenant : p.job.tenant;
    job.priority = p.job.priority.value_or(config->defaults.priority);
    job.weight = config->tenantWeight(job.tenant);
    job.size = static_cast<double>(std::max<std::int64_t>(1, job.cost.inputTokens + job.cost.outputTokens));
    if (!p.job.deadline && config->defaults.deadline) {
        p.job.deadline = now + *config->defaults.deadline;
    }
    job.spec = std::move(p.job);
    job.lane = laneFor(job.provider, job.info.model, job.spec.key);
    // Queued, sent, response, completed: room for a plain job's history.
    job.timeline.reserve(4);
    note(job, TimelineEvent::Kind::Queued, timeline::queuedFacts(job.tenant, job.priority, job.cost));
    byCustomId[job.spec.customId] = job.id;
    if (job.spec.deadline) {
        deadlines.emplace(*job.spec.deadline, job.id);
    }
    Lane& lane = lanes[job.lane];
    lane.queue.push(job.id, job.priority, job.tenant, job.weight, job.size);
    lane.blockedUntil = std::min(lane.blockedUntil, now);
    ++counters.queued;
}

void Dispatcher::Impl::apply(Cancel& c, TimePoint now)
{
    const auto it = byCustomId.find(c.customId);
    if (it == byCustomId.end()) {
        return;
    }
    Job& job = jobs.at(it->second);
    if (job.flight) {
        if (c.queuedOnly) {
            job.giveUpWhenQueued = true;
            return;
        }
        job.abort = Abort::Cancelled;
        http.abort(job.flight->transfer);  // completes through onTransferDone
        return;
    }
    lanes[job.lane].queue.remove(job.id);
    finish(job, JobResult::Cancelled, FailureClass::Cancelled, "cancelled", now);
}

void Dispatcher::Impl::apply(Pause& p, TimePoint now)
{
    paused = p.paused;
    wakeAllLanes(now);
}

void Dispatcher::Impl::apply(RemoveProvider& r, TimePoint now)
{
    ProviderRuntime* pr = pool.findProvider(r.provider);
    if (pr == nullptr) {
        return;
    }
    pool.removeProvider(*pr);
    // Its queued jobs can no longer go anywhere.
    const std::size_t index = static_cast<std::size_t>(pr - pool.providers().data());
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
}

void Dispatcher::Impl::apply(AddKey& a, TimePoint)
{
    if (ProviderRuntime* pr = pool.findProvider(a.provider)) {
        pool.addKey(*pr, a.key);
    }
}

void Dispatcher::Impl::apply(RemoveKey& r, TimePoint)
{
    ProviderRuntime* pr = pool.findProvider(r.provider);
    if (KeyRuntime* kr = pr != nullptr ? pool.findKey(*pr, r.key) : nullptr) {
        // Requests in flight on it finish; nothing new is sent on it.
        pool.removeKey(*kr);
    }
}

// ------------------------------------------------------------------ facade

Dispatcher::Dispatcher(Config config, Clock& clock, Admission& admission, DispatchListener& listener,
                       DispatcherOptions options)
    : m_config(std::make_shared<const Config>(std::move(config))),
      m_encodings(std::make_unique<tokenize::Encodings>(tokenize::tokenizerDir())),
      m_calibrator(std::make_unique<tokenize::TokenCalibrator>()),
      m_agreement(std::make_unique<tokenize::TokenCalibrator>(agreementOptions())),
      m_proxy(std::make_unique<tokenize::ProxyCalibrator>()),
      m_estimator(std::make_unique<PromptEstimator>(m_encodings.get(), m_calibrator.get(), m_agreement.get(),
                                                    m_proxy.get())),
      m_impl(std::make_unique<Impl>(m_config, clock, admission, listener, options))
{
    m_impl->calibrator = m_calibrator.get();
    m_impl->agreement = m_agreement.get();
    m_impl->proxy = m_proxy.get();
}

Dispatcher::~Dispatcher()
{
    stop();
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
    m_impl->enqueue(Impl::Command{std::move(command), nullptr});
}

template <typename Command>
void Dispatcher::postEdit(Config next, Command command)
{
    // The caller holds m_configMutex until the command is posted, so the
    // dispatcher sees changes and submissions in the order they were made.
    m_config = std::make_shared<const Config>(std::move(next));
    m_impl->enqueue(Impl::Command{std::move(command), m_config});
}

void Dispatcher::addProvider(ProviderConfig provider)
{
    const ConfigLock lock(m_configMutex);
    postEdit(edits::addProvider(*m_config, provider), Impl::AddProvider{});
}

void Dispatcher::removeProvider(const std::string& provider)
{
    const ConfigLock lock(m_configMutex);
    postEdit(edits::removeProvider(*m_config, provider), Impl::RemoveProvider{provider});
}

void Dispatcher::addKey(const std::string& provider, KeyConfig key)
{
    const ConfigLock lock(m_configMutex);
    Config next = edits::addKey(*m_config, provider, key);
    postEdit(std::move(next), Impl::AddKey{provider, std::move(key)});
}

void Dispatcher::removeKey(const std::string& provider, const std::string& key)
{
    const ConfigLock lock(m_configMutex);
    postEdit(edits::removeKey(*m_config, provider, key), Impl::RemoveKey{provider, key});
}

void Dispatcher::setLimits(const LimitTarget& target, std::vector<LimitSpec> limits)
{
    const ConfigLock lock(m_configMutex);
    Config next = edits::setLimits(*m_config, target, limits);
    postEdit(std::move(next), Impl::SetLimits{target, std::move(limits)});
}

void Dispatcher::applyPeerSignal(PeerSignal signal)
{
    post(std::move(signal));
}

void Dispatcher::setKeyEnabled(const std::string& provider, const std::string& key, bool enabled)
{
    const ConfigLock lock(m_configMutex);
    postEdit(edits::setKeyEnabled(*m_config, provider, key, enabled), Impl::KeyEnabled{provider, key, enabled});
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

JobEstimate Dispatcher::estimate(const JobSpec& job) const
{
    // Under the lock, so the provider index refers to the config used.
    const ConfigLock lock(m_configMutex);
    const PreparedJob p = prepareJob(*m_config, job, m_estimator.get());
    return JobEstimate{m_config->providers[p.provider].name, p.info.model, p.cost,
                       m_config->pricing.find(p.info.model).has_value()};
}

std::string Dispatcher::validate(const JobSpec& job) const
{
    const ConfigLock lock(m_configMutex);
    try {
        // Without the estimator: what can be wrong is found by the rule of
        // thumb's walk, and an exact count here would be thrown away and
        // done again by submit. Counted twice, every prompt of a batch was
        // also kept by the tokenizer's count memo (a text is kept on its
        // second count): 8 MB of prompts that never came back.
        prepareJob(*m_config, job, nullptr);
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
    auto p = std::make_unique<PreparedJob>();
    prepareJobInto(*p, *m_config, std::move(job), m_estimator.get());
    m_impl->enqueue(Impl::Command{Impl::Submit{std::move(p)}, nullptr});
}

Dispatcher::Prepared Dispatcher::prepare(JobSpec&& job) const
{
    const ConfigLock lock(m_configMutex);
    auto p = std::make_unique<PreparedJob>();
    prepareJobInto(*p, *m_config, std::move(job), m_estimator.get());
    return Prepared{std::move(p), m_config};
}

void Dispatcher::submitPrepared(Prepared prepared)
{
    const ConfigLock lock(m_configMutex);
    std::unique_ptr<PreparedJob> p = std::move(prepared.job);
    if (prepared.config != m_config) {
        // Its provider index is the old configuration's: route it again.
        JobSpec spec = std::move(p->job);
        spec.body = nlohmann::json::parse(p->bodyText);
        *p = prepareJob(*m_config, std::move(spec), m_estimator.get());
    }
    m_impl->enqueue(Impl::Command{Impl::Submit{std::move(p)}, nullptr});
}

void Dispatcher::cancel(const std::string& customId)
{
    post(Impl::Cancel{customId});
}

void Dispatcher::cancelQueued(const std::string& customId)
{
    post(Impl::Cancel{customId, true});
}

void Dispatcher::pause()
{
    post(Impl::Pause{true});
}

void Dispatcher::resume()
{
    post(Impl::Pause{false});
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
