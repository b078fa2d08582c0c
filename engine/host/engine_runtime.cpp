#include "host/engine_runtime.h"

namespace sluice::host {

EngineRuntime::EngineRuntime(Clock& clock, const Config& config, DispatchListener& listener, RuntimeOptions options)
{
    build(clock, config, listener, std::move(options));
}

EngineRuntime::EngineRuntime(Clock& clock, const Config& config, store::JobStore& store, QueueRunnerOptions runner,
                             DispatchListener* downstream, RuntimeOptions options)
{
    m_runner = std::make_unique<QueueRunner>(store, clock, std::move(runner), downstream);
    build(clock, config, *m_runner, std::move(options));
    m_runner->attach(*m_dispatcher);
}

void EngineRuntime::build(Clock& clock, const Config& config, DispatchListener& listener, RuntimeOptions options)
{
    // The link before the Admission, which takes its budget.
    if (options.shared && config.shared) {
        m_shared = options.shared(config, clock);
    }
    m_admission = std::make_unique<Admission>(clock, m_shared ? m_shared->budget() : nullptr);
    if (m_shared) {
        options.dispatcher.peerSignals = m_shared->observer();
    }
    m_dispatcher = std::make_unique<Dispatcher>(config, clock, *m_admission, listener, options.dispatcher);
    if (m_shared) {
        m_shared->attach(*m_dispatcher);
    }
}

EngineRuntime::~EngineRuntime()
{
    stop();
    detachShared();
    // The dispatcher before the runner it reports to, the link and the
    // admission it uses.
    m_dispatcher.reset();
    m_runner.reset();
}

void EngineRuntime::start(bool withRunner)
{
    if (m_started) {
        return;
    }
    m_started = true;
    m_dispatcher->start();
    if (withRunner) {
        startRunner();
    }
}

void EngineRuntime::startRunner()
{
    if (m_runner && m_started && !m_runnerStarted) {
        m_runner->start();
        m_runnerStarted = true;
    }
}

void EngineRuntime::stop()
{
    if (!m_started) {
        return;
    }
    m_started = false;
    m_dispatcher->stop();
    if (m_runner && m_runnerStarted) {
        m_runner->stop();
    }
    m_runnerStarted = false;
}

void EngineRuntime::detachShared()
{
    if (m_shared) {
        m_shared->detach();
    }
}

}  // namespace sluice::host
