// `sluice-cli serve`: the gateway as a process. Applications point their
// OpenAI or Anthropic SDK's base URL at it; their requests go through the
// engine (admission, key pool, triage, metrics) to the configured providers.
// Prints "listening on http://HOST:PORT" as its first line, then serves
// until SIGINT or SIGTERM; the first drains (requests under way run to their
// end, for up to --drain-seconds), a second stops at once.
#include "cli/commands.h"
#include "cli/control_option.h"
#include "cli/key_alarm.h"
#include "cli/process_signals.h"
#include "control/memory_rollups.h"
#include "deadletters/gateway_failures.h"
#include "cli/run_metrics.h"
#include "cli/shared_run.h"

#include "admission/admission.h"
#include "config/config.h"
#include "core/json_reader.h"
#include "dispatch/adaptive_wiring.h"
#include "dispatch/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/gateway_config.h"
#include "gateway/loop_transport.h"
#include "host/engine_runtime.h"
#include "shared/shared_directory.h"
#include "metrics/gauges.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <memory>

#include <pthread.h>

namespace sluice::cli {

namespace {

struct ServeOptions {
    std::string config;
    std::string listen;
    std::string state;
    std::string metrics;
    // Without --threads the gateway shares the dispatcher's thread and
    // event loop (sharedLoop); --threads N gives it N io threads of its own.
    int threads = 1;
    bool sharedLoop = true;
    bool sharedLoopFlag = false;  // --shared-loop, kept for scripts that name the default
    int drainSeconds = 60;
    ControlFlags control;
};

struct DrainEnd {
    int signal = 0;         // the signal that stopped serving
    bool forced = false;    // a second signal stopped the drain
    std::size_t cut = 0;    // requests still under way when it ended
};

// After the first SIGINT or SIGTERM: no new requests (503, /healthz
// "draining", every connection closed after its reply), and those under
// way (held ones too) run to their end, for at most `drainFor`. A
// restart or upgrade then cuts off no client that was being served;
// a second signal stops at once.
DrainEnd drainGateway(gateway::Gateway& gateway, Clock& clock, const sigset_t& signals, int first, Duration drainFor)
{
    DrainEnd end;
    end.signal = first;
    gateway.drain();
    end.cut = gateway.requestsUnderWay();
    if (end.cut == 0) {
        return end;
    }
    std::fprintf(stderr,
                 "sluice-cli serve: draining: %zu request(s) under way; stopping when they end or in %.0f s "
                 "(a second signal stops at once)\n",
                 end.cut, std::chrono::duration<double>(drainFor).count());
    const TimePoint deadline = clock.now() + drainFor;
    while (end.cut > 0 && clock.now() < deadline) {
        const timespec tick{0, 50'000'000};
        if (const int again = sigtimedwait(&signals, nullptr, &tick); again > 0) {
            end.signal = again;
            end.forced = true;
            break;
        }
        end.cut = gateway.requestsUnderWay();
    }
    return end;
}

// Both halves of the listener chain, so metrics see every attempt.
class ServeListener : public DispatchListener {
public:
    ServeListener(DispatchListener* metrics, DispatchListener& alarm, DispatchListener* events = nullptr,
                  DispatchListener* failures = nullptr)
        : m_metrics(metrics), m_alarm(alarm), m_events(events), m_failures(failures)
    {
    }
    void onFinished(JobOutcome&& outcome) override
    {
        if (m_failures != nullptr && outcome.result == JobResult::DeadLettered) {
            m_failures->onFinished(JobOutcome(outcome));
        }
        if (m_metrics != nullptr) {
            m_metrics->onFinished(std::move(outcome));
        }
    }
    bool readsOutcomes() const noexcept override
    {
        return m_failures != nullptr || (m_metrics != nullptr && m_metrics->readsOutcomes());
    }
    void onSent(const SendReport& r) override
    {
        if (m_metrics != nullptr) {
            m_metrics->onSent(r);
        }
    }
    void onAttempt(const AttemptReport& r) override
    {
        if (m_metrics != nullptr) {
            m_metrics->onAttempt(r);
        }
    }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override
    {
        m_alarm.onKeyProblem(provider, key, reason);
        if (m_events != nullptr) {
            m_events->onKeyProblem(provider, key, reason);
        }
    }
    void onProviderProblem(const std::string& provider, const std::string& reason) override
    {
        if (m_events != nullptr) {
            m_events->onProviderProblem(provider, reason);
        }
    }
    void onProviderLearned(const std::string& provider, const std::string& what) override
    {
        m_alarm.onProviderLearned(provider, what);
        if (m_events != nullptr) {
            m_events->onProviderLearned(provider, what);
        }
    }

private:
    DispatchListener* m_metrics;
    DispatchListener& m_alarm;
    DispatchListener* m_events;
    DispatchListener* m_failures;
};

int runServe(const ServeOptions& opt)
{
    Config config;
    gateway::GatewayConfig gw;
    std::optional<MetricsAddress> metricsAddress;
    std::optional<control::ControlOptions> controlOptions;
    try {
        const EnvLookup env = processEnvironment();
        const JsonSource source = JsonSource::fromFile(opt.config);
        // Both parts are read before either's problems are told, so one
        // run names them all (an unset key's variable and a bad token limit).
        std::vector<std::string> problems;
        try {
            config = loadConfig(source, env);
        } catch (const ProblemsError& e) {
            problems = e.problems();
        }
        try {
            gw = gateway::loadGatewayConfig(source, env);
        } catch (const ProblemsError& e) {
            problems.insert(problems.end(), e.problems().begin(), e.problems().end());
        }
        throwIfProblems(source.name(), problems);
        if (!opt.listen.empty()) {
            gateway::parseListen(opt.listen, "--listen", gw.host, gw.port);
        }
        if (std::string why = gateway::checkExposure(gw); !why.empty()) {
            throw InputError(why);
        }
        metricsAddress = parseMetricsAddress(opt.metrics);
        controlOptions = parseControlFlags(opt.control);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli serve: %s\n", e.what());
        return kExitBadInput;
    }
    if (metricsAddress && opt.state.empty()) {
        std::fprintf(stderr, "sluice-cli serve: --metrics needs --state FILE (where the metrics are kept)\n");
        return kExitBadInput;
    }
    raiseDescriptorLimit();

    // Blocked before any thread starts, so every thread inherits the mask
    // and the signals wait for sigwait below.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    SystemClock clock;
    std::unique_ptr<RunMetrics> runMetrics;
    if (!opt.state.empty()) {
        try {
            runMetrics = std::make_unique<RunMetrics>(clock, opt.state);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sluice-cli serve: %s: %s\n", opt.state.c_str(), e.what());
            return kExitBadInput;
        }
    }
    // The console attached to --control draws live series: without --state
    // they are kept in memory only.
    // Without --state, this run's rollups are kept in memory for the
    // attached console's usage report (declared first: the recorder
    // writes into it until it is gone).
    control::MemoryRollups memoryRollups;
    std::unique_ptr<metrics::MetricsRecorder> liveMetrics;
    if (controlOptions && !runMetrics) {
        liveMetrics = std::make_unique<metrics::MetricsRecorder>(clock, metrics::RecorderOptions{}, &memoryRollups);
    }
    metrics::MetricsRecorder* recorder = runMetrics ? &runMetrics->recorder() : liveMetrics.get();
    KeyAlarm alarm("sluice-cli serve:");
    control::EventLog events(clock);
    // With --control: the latest failed requests, for the attached console.
    std::unique_ptr<deadletters::GatewayFailures> failures;
    if (controlOptions) {
        failures = std::make_unique<deadletters::GatewayFailures>(clock);
    }
    ServeListener listener(recorder, alarm, &events, failures.get());
    // "concurrency": "auto": watches every attempt and sets the limit.
    AdaptiveWiring adaptive(clock, config, listener);
    // The dispatcher as every program wires it; "shared": limits, signals
    // and the fleet shared with the namespace.
    host::RuntimeOptions runtimeOptions;
    // The default: the gateway's connections run on the dispatcher's event
    // loop, on the dispatcher thread: a request is read, sent upstream and
    // answered without changing threads (two wake-ups per request, not
    // four), which halves what the gateway adds to a request's latency at
    // the same throughput (docs/benchmarks.md). --threads N: io threads of
    // its own instead, for request bodies so large that reading them would
    // hold up the dispatcher. Declared before the runtime: both outlive it.
    net::EventLoop sharedLoop;
    std::unique_ptr<gateway::LoopTransport> loopTransport;
    if (opt.sharedLoop) {
        loopTransport = std::make_unique<gateway::LoopTransport>(sharedLoop);
        runtimeOptions.dispatcher.transport = loopTransport.get();
    }
    runtimeOptions.shared = [](const Config& c, Clock& k) -> std::unique_ptr<host::SharedLink> {
        return std::make_unique<SharedRun>(c, k, "sluice-cli serve");
    };
    host::EngineRuntime runtime(clock, config, adaptive.listener(), std::move(runtimeOptions));
    Admission& admission = runtime.admission();
    Dispatcher& dispatcher = runtime.dispatcher();
    host::SharedLink* const sharedRun = runtime.shared();
    adaptive.attach(dispatcher);
    gateway::Gateway gateway(gw, dispatcher, clock, opt.threads, nullptr, loopTransport ? &sharedLoop : nullptr);
    if (config.shared) {
        // Which key made each stored response, for every gateway of the
        // namespace.
        gateway.shareResponseOwners(shared::sharedDirectoryStore(
            clock, *config.shared, std::string(gateway::kSharedOwnersSection), gateway::kSharedOwnersTtl));
    }
    std::string metricsUrl;
    std::unique_ptr<control::ControlServer> controlServer;
    try {
        if (runMetrics) {
            runMetrics->watch(dispatcher, admission);
            runMetrics->appendText([&gateway] { return gateway::tenantPrometheusText(gateway.tenants()); });
            if (sharedRun != nullptr) {
                runMetrics->appendText([sharedRun] { return sharedRun->prometheusText(); });
            }
            if (!adaptive.empty()) {
                runMetrics->appendText([&adaptive] { return adaptive.prometheusText(); });
            }
            metricsUrl = runMetrics->start(metricsAddress);
        }
        if (liveMetrics) {
            liveMetrics->setGaugeSource(
                [&dispatcher, &admission] { return metrics::gaugeSampleOf(dispatcher.stats(), admission.snapshotAll()); });
            liveMetrics->start();
        }
        runtime.start();
        gateway.start();
        control::ControlTarget target;
        target.kind = "serve";
        target.clock = &clock;
        target.dispatcher = &dispatcher;
        target.admission = &admission;
        target.metrics = recorder;
        target.events = &events;
        target.drain = [&gateway] { gateway.drain(); };
        target.deadLetters = failures.get();
        if (runMetrics) {
            target.rollups = [&runMetrics, &opt](WallTime from, WallTime to) {
                return control::RollupPage{runMetrics->rollups(from, to), opt.state};
            };
        } else {
            target.rollups = [&liveMetrics, &memoryRollups](WallTime from, WallTime to) {
                (void)liveMetrics->flush();
                return control::RollupPage{memoryRollups.rows(from, to), "memory (this run)"};
            };
        }
        controlServer = startControl(controlOptions, std::move(target), "serve");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli serve: %s\n", e.what());
        return kExitFailure;
    }
    const bool v6 = gw.host.find(':') != std::string::npos;
    std::printf("listening on http://%s:%u\n", (v6 ? "[" + gw.host + "]" : gw.host).c_str(),
                static_cast<unsigned>(gateway.port()));
    std::fflush(stdout);
    std::fprintf(stderr,
                 "sluice-cli serve: %zu provider(s), %zu gateway token(s)%s, hold %.1f s%s; Ctrl-C drains, then "
                 "stops\n",
                 config.providers.size(), gw.tokens.size(), gw.tokens.empty() ? " (no authentication, loopback only)" : "",
                 std::chrono::duration<double>(gw.hold).count(),
                 metricsUrl.empty() ? "" : ("; metrics at " + metricsUrl).c_str());

    int signal = 0;
    sigwait(&stopSignals, &signal);
    const DrainEnd drained = drainGateway(gateway, clock, stopSignals, signal, std::chrono::seconds(opt.drainSeconds));
    if (controlServer) {
        controlServer->stop();
    }
    gateway.stop();
    runtime.stop();
    if (!adaptive.empty()) {
        std::fprintf(stderr, "sluice-cli serve: adaptive concurrency at the end: %s\n", adaptive.describe().c_str());
    }
    std::string rollupError;
    if (runMetrics) {
        rollupError = runMetrics->stop();
    }
    if (liveMetrics) {
        liveMetrics->stop();
    }
    const gateway::GatewayStats s = gateway.stats();
    std::fprintf(stderr,
                 "sluice-cli serve: stopped (%s): %llu requests, %llu answered by providers, %llu refused after the "
                 "hold time, %llu client errors, %llu upstream errors, %llu clients left early%s\n",
                 drained.signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<unsigned long long>(s.requests),
                 static_cast<unsigned long long>(s.completed), static_cast<unsigned long long>(s.refusedHold),
                 static_cast<unsigned long long>(s.clientErrors), static_cast<unsigned long long>(s.upstreamErrors),
                 static_cast<unsigned long long>(s.clientsGone),
                 drained.cut == 0 ? ""
                                  : ("; " + std::to_string(drained.cut) + " request(s) cut short " +
                                     (drained.forced ? "by a second signal" : "at the drain limit"))
                                        .c_str());
    if (!rollupError.empty()) {
        std::fprintf(stderr, "sluice-cli serve: metrics not all written to %s: %s\n", opt.state.c_str(),
                     rollupError.c_str());
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

void addServeCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<ServeOptions>();
    CLI::App* cmd = app.add_subcommand(
        "serve", "Run the gateway: an OpenAI- and Anthropic-compatible endpoint for your applications' SDKs");
    cmd->add_option("--config", opt->config, "Configuration file with providers and a \"gateway\" section")->required();
    cmd->add_option("--listen", opt->listen, "HOST:PORT, overriding gateway.listen (default 127.0.0.1:8080)");
    cmd->add_option("--state", opt->state, "SQLite file for per-minute metrics (by tenant, provider, key, model)");
    addMetricsOption(cmd, opt->metrics);
    CLI::Option* threads =
        cmd->add_option("--threads", opt->threads,
                        "Give the gateway N I/O threads of its own (by default its connections share the "
                        "dispatcher's thread: no hand-off between threads per request, the least added latency; "
                        "1 gives more requests per second when the provider is fast and a core is free)")
            ->check(CLI::Range(1, 64));
    CLI::Option* shared = cmd->add_flag("--shared-loop", opt->sharedLoopFlag,
                                        "The default: the gateway's connections on the dispatcher's thread and event loop");
    shared->excludes(threads);
    cmd->add_option("--drain-seconds", opt->drainSeconds,
                    "On SIGINT or SIGTERM, let requests under way finish for up to this long (default 60; "
                    "new ones get 503 and /healthz says draining); a second signal stops at once")
        ->check(CLI::Range(0, 3600));
    cmd->footer("GET /healthz (no token) answers 200 {\"status\":\"serving\"}, for a load balancer's probe. "
                "SIGINT or SIGTERM drains: /healthz and new requests get 503 (the SDKs retry it), every reply "
                "closes its connection, and requests under way, held ones included, run to their end for up to "
                "--drain-seconds before serve exits 0; a second signal stops it at once.");
    addControlOptions(cmd, opt->control);
    cmd->callback([opt, threads, &exitCode] {
        opt->sharedLoop = threads->count() == 0;
        exitCode = runServe(*opt);
    });
}

}  // namespace sluice::cli
