// EngineRuntime: the one way a program assembles a running engine from a
// Config, so a fix in the wiring reaches every program that runs one (the
// console's EngineHost, sluice-cli batch, serve and worker). It builds, in
// this order: the shared link (budgets, signals and the fleet through Redis,
// when the configuration has "shared" and a factory is given), the Admission
// over the link's budget, an optional QueueRunner that feeds a JobStore to
// the dispatcher, and the Dispatcher (its KeyPool inside) reporting to the
// runner or to the caller's listener; then it attaches the dispatcher to the
// link. It takes down the same in reverse: the link is detached before the
// dispatcher goes, the dispatcher goes before the runner it reports to.
//
// What stays with each program: the clock and the store it opens (the
// program owns the file and its lock), its metrics (the console's rollups,
// the CLI's --metrics endpoint; both read admission() and dispatcher()) and
// its listeners.
//
// Thread-safety: construct, start(), stop() and destroy from one thread.
// admission(), dispatcher() and runner() are safe wherever the parts they
// return are (their own headers say).
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "core/clock.h"
#include "dispatch/dispatcher.h"
#include "host/shared_link.h"
#include "queue/queue_runner.h"
#include "store/job_store.h"

#include <memory>

namespace sluice::host {

struct RuntimeOptions {
    // peerSignals is set from the shared link, when there is one.
    DispatcherOptions dispatcher;
    // Set (shared::sharedLinkFactory): a configuration with "shared" makes
    // the engine share budgets, signals and the fleet through Redis.
    SharedLinkFactory shared;
};

class EngineRuntime {
public:
    // Without a queue: the dispatcher reports to `listener` (a gateway's, or
    // a runner the caller owns and attaches itself). `listener` must
    // outlive the runtime.
    EngineRuntime(Clock& clock, const Config& config, DispatchListener& listener, RuntimeOptions options = {});
    // Fed from `store` by a QueueRunner of its own, which passes every
    // callback on to `downstream` (may be null). Both must outlive the
    // runtime.
    EngineRuntime(Clock& clock, const Config& config, store::JobStore& store, QueueRunnerOptions runner,
                  DispatchListener* downstream, RuntimeOptions options = {});
    ~EngineRuntime();
    EngineRuntime(const EngineRuntime&) = delete;
    EngineRuntime& operator=(const EngineRuntime&) = delete;

    Admission& admission() noexcept { return *m_admission; }
    const Admission& admission() const noexcept { return *m_admission; }
    Dispatcher& dispatcher() noexcept { return *m_dispatcher; }
    const Dispatcher& dispatcher() const noexcept { return *m_dispatcher; }
    // Null without a store.
    QueueRunner* runner() noexcept { return m_runner.get(); }
    const QueueRunner* runner() const noexcept { return m_runner.get(); }
    // Null without "shared" (or without a factory).
    SharedLink* shared() noexcept { return m_shared.get(); }

    // Starts the dispatcher, then the runner unless `withRunner` is false
    // (a held queue: startRunner() later).
    void start(bool withRunner = true);
    void startRunner();
    bool runnerStarted() const noexcept { return m_runnerStarted; }
    // The dispatcher first, so no outcome arrives after the runner's last
    // write (in-flight requests are abandoned); then the runner, which
    // releases the leases of what was in flight. Idempotent.
    void stop();
    // Leaves the shared namespace now (the destructor does it otherwise).
    void detachShared();

private:
    void build(Clock& clock, const Config& config, DispatchListener& listener, RuntimeOptions options);

    std::unique_ptr<SharedLink> m_shared;
    std::unique_ptr<Admission> m_admission;
    std::unique_ptr<QueueRunner> m_runner;
    std::unique_ptr<Dispatcher> m_dispatcher;
    bool m_started = false;
    bool m_runnerStarted = false;
};

}  // namespace sluice::host
