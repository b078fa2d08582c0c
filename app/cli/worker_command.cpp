// `sluice-cli worker`: joins the shared queue of the configuration's
// namespace (engine/shared/shared_queue.h) and works on it under the shared
// budgets until stopped; with --dead-letters, --requeue or --edit it manages
// the namespace's dead letters instead. Also the `batch --queue shared`
// path: enqueue the input into the shared queue, work on it here like any
// worker, and collect the results into the output file in input order.
#include "cli/commands.h"
#include "cli/control_option.h"
#include "cli/process_signals.h"

#include "admission/admission.h"
#include "batchfile/batch_output.h"
#include "config/config.h"
#include "core/atomic_file.h"
#include "dispatch/dispatcher.h"
#include "control/memory_rollups.h"
#include "deadletters/shared_dead_letters.h"
#include "dispatch/fan_out_listener.h"
#include "host/engine_runtime.h"
#include "metrics/gauges.h"
#include "metrics/metrics_recorder.h"
#include "queue/batch_input.h"
#include "shared/redis_budget.h"
#include "shared/shared_queue.h"
#include "shared/shared_queue_runner.h"
#include "shared/shared_membership.h"
#include "shared/shared_run.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace sluice::cli {

namespace {

using nlohmann::json;

struct WorkerOptions {
    std::string config;
    bool deadLetters = false;
    std::string requeue;
    std::string edit;
    std::string body;
    std::uint64_t seed = 0;
    std::size_t prefetch = 32;
    ControlFlags control;
};

std::string consumerName()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        std::snprintf(host, sizeof host, "host");
    }
    std::random_device rd;
    char tail[16];
    std::snprintf(tail, sizeof tail, "%04x", static_cast<unsigned>(rd() & 0xffff));
    return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
}

shared::RedisEndpoint endpointOf(const SharedConfig& s)
{
    shared::RedisEndpoint e;
    e.host = s.host;
    e.port = s.port;
    e.db = s.db;
    e.password = s.password;
    return e;
}

// Loads the configuration and insists on "shared"; prints why not.
std::optional<Config> loadSharedConfig(const std::string& path, const char* what)
{
    try {
        Config config = loadConfigFile(path, processEnvironment());
        if (!config.shared) {
            std::fprintf(stderr, "%s: %s has no \"shared\" section; the shared queue lives in its Redis namespace "
                                 "(docs/configuration.md)\n", what, path.c_str());
            return std::nullopt;
        }
        return config;
    } catch (const InputError& e) {
        std::fprintf(stderr, "%s: %s\n", what, e.what());
        return std::nullopt;
    }
}

// Everything a process working on the shared queue runs: the queue and its
// runner, and the engine (shared budget, admission, dispatcher) the runner
// feeds, wired as every program wires it (host/engine_runtime.h).
struct QueueEngine {
    SystemClock clock;
    std::unique_ptr<shared::SharedQueue> queue;
    std::unique_ptr<shared::SharedQueueRunner> runner;
    // After the runner, which the dispatcher reports to: it goes first,
    // leaving the fleet before its dispatcher goes.
    std::unique_ptr<host::EngineRuntime> runtime;
    Dispatcher* dispatcher = nullptr;
    Admission* admission = nullptr;

    // `downstream` (metrics for --control) hears every dispatcher callback
    // after the runner; it must outlive the engine.
    QueueEngine(const Config& config, std::uint64_t seed, std::size_t prefetch, const char* program,
                DispatchListener* downstream = nullptr)
    {
        queue = std::make_unique<shared::SharedQueue>(endpointOf(*config.shared), config.shared->ns, consumerName());
        shared::SharedQueueRunnerOptions ro;
        ro.leaseTime = std::chrono::duration_cast<std::chrono::milliseconds>(config.shared->queueLease);
        ro.maxOutstanding = prefetch;
        runner = std::make_unique<shared::SharedQueueRunner>(*queue, clock, ro, downstream);
        host::RuntimeOptions options;
        options.dispatcher.seed = seed;
        options.shared = shared::sharedLinkFactory(program);
        runtime = std::make_unique<host::EngineRuntime>(clock, config, *runner, std::move(options));
        dispatcher = &runtime->dispatcher();
        admission = &runtime->admission();
        runner->attach(*dispatcher);
    }
    void start()
    {
        runtime->start();
        runner->start();
    }
    // The dispatcher first, so no outcome arrives after the runner's last
    // write; what is still held goes back to the queue.
    void stop()
    {
        runtime->detachShared();
        runtime->stop();
        runner->stop();
    }
};

void printRunnerSummary(const char* what, const shared::SharedQueueRunnerStats& s)
{
    std::fprintf(stderr,
                 "%s: this process leased %llu jobs (%llu taken over from lapsed leases), stored %llu results and "
                 "%llu dead letters, %llu outcomes refused (another worker held the job), %llu released\n",
                 what, static_cast<unsigned long long>(s.leased), static_cast<unsigned long long>(s.takenOver),
                 static_cast<unsigned long long>(s.completed), static_cast<unsigned long long>(s.deadLettered),
                 static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(s.released));
    if (!s.lastError.empty()) {
        std::fprintf(stderr, "%s: last Redis error: %s\n", what, s.lastError.c_str());
    }
}

// One Batch API output line, as `batch` writes it from its local store.
nlohmann::ordered_json outputLine(const std::string& customId, const shared::SharedResult& r)
{
    store::Outcome o;
    o.customId = customId;
    if (!r.dead) {
        o.result = store::Result{r.statusCode, r.body, r.requestId, {}, {}};
    } else {
        o.state = store::JobState::Dead;
        o.error = store::Attempt{r.errorClass, r.statusCode, r.message, {}, true, {}, {}};
    }
    return batchOutputLine(o);
}

int manageDeadLetters(const WorkerOptions& opt, const Config& config)
{
    const char* what = "sluice-cli worker";
    try {
        shared::SharedQueue queue(endpointOf(*config.shared), config.shared->ns, consumerName());
        if (opt.deadLetters) {
            for (const shared::SharedDeadLetter& d : queue.deadLetters()) {
                std::printf("%s\n", json{{"custom_id", d.job.customId},
                                         {"model", d.job.model},
                                         {"error", d.error.errorClass},
                                         {"status", d.error.statusCode},
                                         {"message", d.error.message},
                                         {"key", d.error.keyLabel},
                                         {"by", d.error.by}}
                                        .dump()
                                        .c_str());
            }
            return kExitOk;
        }
        if (!opt.edit.empty()) {
            std::ifstream in(opt.body, std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            const json body = json::parse(text.str(), nullptr, false);
            if (!in || !body.is_object()) {
                std::fprintf(stderr, "%s --edit: --body %s: cannot read a JSON object from it\n", what, opt.body.c_str());
                return kExitBadInput;
            }
            std::optional<std::string> model;
            if (body.contains("model") && body["model"].is_string()) {
                model = body["model"].get<std::string>();
            }
            if (!queue.requeue(opt.edit, text.str(), model)) {
                std::fprintf(stderr, "%s --edit: \"%s\" is not a dead letter of namespace %s\n", what, opt.edit.c_str(),
                             config.shared->ns.c_str());
                return kExitBadInput;
            }
            std::fprintf(stderr, "%s: \"%s\" edited and requeued\n", what, opt.edit.c_str());
            return kExitOk;
        }
        std::vector<std::string> ids;
        if (opt.requeue == "all") {
            for (const shared::SharedDeadLetter& d : queue.deadLetters()) {
                ids.push_back(d.job.customId);
            }
        } else {
            ids.push_back(opt.requeue);
        }
        std::size_t n = 0;
        for (const std::string& id : ids) {
            n += queue.requeue(id) ? 1 : 0;
        }
        if (n == 0 && opt.requeue != "all") {
            std::fprintf(stderr, "%s --requeue: \"%s\" is not a dead letter of namespace %s\n", what,
                         opt.requeue.c_str(), config.shared->ns.c_str());
            return kExitBadInput;
        }
        std::fprintf(stderr, "%s: %zu dead letters requeued\n", what, n);
        return kExitOk;
    } catch (const shared::RedisError& e) {
        std::fprintf(stderr, "%s: Redis: %s\n", what, e.what());
        return kExitFailure;
    }
}

int runWorker(const WorkerOptions& opt)
{
    const char* what = "sluice-cli worker";
    const auto config = loadSharedConfig(opt.config, what);
    if (!config) {
        return kExitBadInput;
    }
    if (opt.deadLetters || !opt.requeue.empty() || !opt.edit.empty()) {
        return manageDeadLetters(opt, *config);
    }
    std::optional<control::ControlOptions> controlOptions;
    try {
        controlOptions = parseControlFlags(opt.control);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\nNothing was leased.\n", what, e.what());
        return kExitBadInput;
    }
    // With --control: live series and events for the console, in memory.
    SystemClock liveClock;
    // This run's rollups, in memory, for the attached console's usage
    // report (declared first: the recorder writes into it until it is gone).
    control::MemoryRollups memoryRollups;
    std::unique_ptr<metrics::MetricsRecorder> liveMetrics;
    std::unique_ptr<control::EventLog> events;
    std::unique_ptr<FanOutListener> downstream;
    if (controlOptions) {
        liveMetrics = std::make_unique<metrics::MetricsRecorder>(liveClock, metrics::RecorderOptions{}, &memoryRollups);
        events = std::make_unique<control::EventLog>(liveClock);
        downstream = std::make_unique<FanOutListener>(
            std::initializer_list<DispatchListener*>{liveMetrics.get(), events.get()});
    }
    std::unique_ptr<QueueEngine> engine;
    try {
        engine = std::make_unique<QueueEngine>(*config, opt.seed, opt.prefetch, what, downstream.get());
    } catch (const shared::RedisError& e) {
        std::fprintf(stderr, "%s: Redis: %s\nNothing was leased.\n", what, e.what());
        return kExitFailure;
    }
    watchStopSignals();
    std::fprintf(stderr, "%s: %s working on the shared queue of namespace %s (lease %lld ms); stop with Ctrl-C\n",
                 what, engine->queue->consumer().c_str(), config->shared->ns.c_str(),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(config->shared->queueLease).count()));
    engine->start();
    // Status, series, limits, pause, drain and the namespace's dead letters
    // (in Redis, as --dead-letters and --requeue see them) over --control.
    deadletters::SharedDeadLetters deadLetters(*engine->queue);
    std::unique_ptr<control::ControlServer> controlServer;
    try {
        control::ControlTarget target;
        target.kind = "worker";
        target.deadLetters = &deadLetters;
        // Drained: this worker leases nothing more from the shared queue,
        // finishes what it holds and exits (below).
        shared::SharedQueueRunner& runner = *engine->runner;
        target.drain = [&runner] { runner.closeIntake(); };
        target.clock = &engine->clock;
        target.dispatcher = engine->dispatcher;
        target.admission = engine->admission;
        if (liveMetrics) {
            Dispatcher& d = *engine->dispatcher;
            const Admission& a = *engine->admission;
            liveMetrics->setGaugeSource([&d, &a] { return metrics::gaugeSampleOf(d.stats(), a.snapshotAll()); });
            liveMetrics->start();
        }
        target.metrics = liveMetrics.get();
        target.events = events.get();
        if (liveMetrics) {
            target.rollups = [&liveMetrics, &memoryRollups](WallTime from, WallTime to) {
                (void)liveMetrics->flush();
                return control::RollupPage{memoryRollups.rows(from, to), "memory (this run)"};
            };
        }
        controlServer = startControl(controlOptions, std::move(target), "worker");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: --control: %s\n", what, e.what());
        engine->stop();
        if (liveMetrics) {
            liveMetrics->stop();  // its gauges read the engine, which goes first
        }
        return kExitFailure;
    }
    bool drained = false;
    while (!stopRequested()) {
        if (engine->runner->intakeClosed() && engine->runner->stats().outstanding == 0) {
            drained = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (controlServer) {
        controlServer->stop();
    }
    engine->stop();
    if (liveMetrics) {
        liveMetrics->stop();
    }
    if (drained) {
        std::fprintf(stderr, "%s: drained: every job it held is finished and recorded; exiting\n", what);
    }
    printRunnerSummary(what, engine->runner->stats());
    return kExitOk;
}

}  // namespace

namespace {

// The input of `batch --queue shared`, read a line at a time and enqueued a
// chunk at a time, so what stays in memory is one chunk of request bodies
// and the run's custom_ids (to write the output in input order and to name
// the first line of a repeated custom_id), never the whole file.
struct StreamedInput {
    struct First {
        std::size_t line = 0;
        std::size_t bodyHash = 0;  // tells a repeated request from a changed one
    };
    std::unordered_map<std::string, First> seen;  // custom_id → its first line
    std::vector<const std::string*> wanted;              // keys of `seen`, in input order
    std::vector<RejectedLine> rejects;
    std::size_t added = 0;
};

constexpr std::size_t kEnqueueChunkLines = 1000;
// Small enough that one EVAL does not hold Redis (single-threaded, shared by the
// fleet) for long, nor run into the connection's timeout on a loaded machine.
constexpr std::size_t kEnqueueChunkBytes = std::size_t{1} << 20;

// Throws shared::RedisError (what was enqueued so far stays; a rerun goes on).
StreamedInput enqueueStreamed(std::istream& in, QueueEngine& engine, const Config& config)
{
    StreamedInput s;
    std::vector<shared::QueuedJob> chunk;
    std::vector<std::size_t> chunkLines;
    std::size_t chunkBytes = 0;
    const std::int64_t nowMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(engine.clock.wallNow().time_since_epoch()).count();
    const auto flush = [&] {
        const auto status = engine.queue->enqueueMany(chunk);
        for (std::size_t i = 0; i < status.size(); ++i) {
            const auto it = s.seen.find(chunk[i].customId);
            if (status[i] == shared::SharedEnqueue::Conflict) {
                s.rejects.push_back(RejectedLine{chunkLines[i], chunk[i].customId,
                                                 "custom_id: \"" + chunk[i].customId +
                                                     "\" is already in the shared queue of namespace " +
                                                     config.shared->ns + " with a different request",
                                                 chunk[i].body.substr(0, 4096)});
                continue;
            }
            s.added += status[i] == shared::SharedEnqueue::Added ? 1 : 0;
            s.wanted.push_back(&it->first);
        }
        chunk.clear();
        chunkLines.clear();
        chunkBytes = 0;
    };
    readBatchLines(
        in,
        [&](BatchLine&& line) -> std::string {
            const std::size_t bodyHash = std::hash<std::string>{}(line.bodyText);
            if (const auto it = s.seen.find(line.job.customId); it != s.seen.end()) {
                return "custom_id: \"" + line.job.customId + "\" repeats line " + std::to_string(it->second.line) +
                       (it->second.bodyHash == bodyHash ? " (the same request)" : " with a different body");
            }
            if (std::string problem = engine.dispatcher->validate(line.job); !problem.empty()) {
                return problem;
            }
            s.seen.emplace(line.job.customId, StreamedInput::First{line.line, bodyHash});
            shared::QueuedJob j;
            j.customId = line.job.customId;
            j.url = std::string(endpointPath(line.job.flavor, line.job.endpoint));
            j.model = line.job.body.value("model", "");
            j.body = std::move(line.bodyText);
            j.provider = line.job.provider;
            j.tenant = line.job.tenant;
            j.priority = line.job.priority.value_or(config.defaults.priority);
            if (line.deadlineSeconds) {
                j.deadlineWallMs = nowMs + static_cast<std::int64_t>(*line.deadlineSeconds * 1000);
            }
            chunkBytes += j.body.size();
            chunk.push_back(std::move(j));
            chunkLines.push_back(line.line);
            if (chunk.size() >= kEnqueueChunkLines || chunkBytes >= kEnqueueChunkBytes) {
                flush();
            }
            return {};
        },
        [&](RejectedLine&& r) { s.rejects.push_back(std::move(r)); });
    if (!chunk.empty()) {
        flush();
    }
    return s;
}

// Thrown out of the output's writer to abandon its temporary file.
struct CollectInterrupted {};

struct Collected {
    std::uint64_t completed = 0;
    std::uint64_t dead = 0;
    std::size_t written = 0;  // lines written, in order
    std::size_t ahead = 0;    // results in hand past the first missing one
};

// Waits for the run's results and streams them into `out` in input order, a
// window of kCollectWindow custom_ids at a time: asks Redis only for the
// window's missing results every 250 ms and writes each line as soon as
// every line before it is written, so memory holds one window of results,
// not the run's. Throws CollectInterrupted on a stop signal.
constexpr std::size_t kCollectWindow = 1000;

void collectInOrder(std::ostream& out, shared::SharedQueue& queue, const std::vector<const std::string*>& wanted,
                    Collected& c, const char* what)
{
    std::deque<std::optional<shared::SharedResult>> window;  // results of wanted[c.written, ...)
    std::string lastError;
    while (c.written < wanted.size()) {
        if (stopRequested()) {
            c.ahead = static_cast<std::size_t>(std::count_if(window.begin(), window.end(), [](const auto& r) { return r.has_value(); }));
            throw CollectInterrupted{};
        }
        while (window.size() < kCollectWindow && c.written + window.size() < wanted.size()) {
            window.emplace_back();
        }
        std::vector<std::string> ask;
        std::vector<std::size_t> where;
        for (std::size_t i = 0; i < window.size(); ++i) {
            if (!window[i]) {
                ask.push_back(*wanted[c.written + i]);
                where.push_back(i);
            }
        }
        try {
            auto got = queue.results(ask);
            for (std::size_t k = 0; k < got.size(); ++k) {
                window[where[k]] = std::move(got[k]);
            }
        } catch (const shared::RedisError& e) {
            if (lastError != e.what()) {
                lastError = e.what();
                std::fprintf(stderr, "%s: Redis: %s (still trying)\n", what, e.what());
            }
        }
        while (!window.empty() && window.front()) {
            const shared::SharedResult& r = *window.front();
            (r.dead ? c.dead : c.completed) += 1;
            out << outputLine(*wanted[c.written], r).dump() << '\n';
            window.pop_front();
            ++c.written;
        }
        if (c.written < wanted.size()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
}

}  // namespace

int runSharedQueueBatch(const SharedQueueBatch& opt)
{
    const char* what = "sluice-cli batch --queue shared";
    const auto config = loadSharedConfig(opt.config, what);
    if (!config) {
        std::fprintf(stderr, "Nothing was sent.\n");
        return kExitBadInput;
    }
    std::ifstream in(opt.input, std::ios::binary);
    if (const std::string problem = batchInputFileProblem(opt.input); !problem.empty() || !in) {
        std::fprintf(stderr, "%s: %s\nNothing was sent.\n", what,
                     problem.empty() ? (opt.input + ": cannot open for reading").c_str() : problem.c_str());
        return kExitBadInput;
    }
    std::unique_ptr<QueueEngine> engine;
    try {
        engine = std::make_unique<QueueEngine>(*config, opt.seed, shared::SharedQueueRunnerOptions{}.maxOutstanding, what);
    } catch (const shared::RedisError& e) {
        std::fprintf(stderr, "%s: Redis: %s\nNothing was sent.\n", what, e.what());
        return kExitFailure;
    }

    StreamedInput input;
    try {
        input = enqueueStreamed(in, *engine, *config);
    } catch (const shared::RedisError& e) {
        std::fprintf(stderr, "%s: Redis: %s\nThe input may be partly enqueued; rerun the same command.\n", what, e.what());
        return kExitFailure;
    }
    std::sort(input.rejects.begin(), input.rejects.end(),
              [](const RejectedLine& a, const RejectedLine& b) { return a.line < b.line; });
    for (const RejectedLine& r : input.rejects) {
        std::fprintf(stderr, "%s:%zu: %s\n", opt.input.c_str(), r.line, r.error.c_str());
    }
    const std::string rejectsPath = opt.rejects.empty() ? opt.output + ".rejects.jsonl" : opt.rejects;
    if (!input.rejects.empty()) {
        try {
            writeBatchRejects(rejectsPath, input.rejects);
        } catch (const FileError& e) {
            std::fprintf(stderr, "%s: %s\n", what, e.what());
            return kExitFailure;
        }
    }
    const std::vector<const std::string*>& wanted = input.wanted;
    std::fprintf(stderr, "%s: %zu of %zu requests enqueued in namespace %s (%zu were there already); working on "
                         "them as %s\n",
                 what, input.added, wanted.size(), config->shared->ns.c_str(), wanted.size() - input.added,
                 engine->queue->consumer().c_str());

    watchStopSignals();
    engine->start();
    Collected collected;
    try {
        // The output streams into its temporary file as the results come;
        // renamed over the output once every line is in.
        writeFileAtomically(opt.output,
                            [&](std::ostream& out) { collectInOrder(out, *engine->queue, wanted, collected, what); });
    } catch (const CollectInterrupted&) {
        engine->stop();
        printRunnerSummary(what, engine->runner->stats());
        std::fprintf(stderr, "%s: interrupted with %zu of %zu results collected; the jobs stay in the shared queue, "
                             "rerun the same command to resume collecting\n",
                     what, collected.written + collected.ahead, wanted.size());
        return kExitFailure;
    } catch (const std::exception& e) {
        engine->stop();
        std::fprintf(stderr, "%s: %s\n", what, e.what());
        return kExitFailure;
    }
    engine->stop();
    printRunnerSummary(what, engine->runner->stats());
    std::fprintf(stderr, "%s: %llu completed, %llu dead-lettered, %zu rejected\n", opt.output.c_str(),
                 static_cast<unsigned long long>(collected.completed), static_cast<unsigned long long>(collected.dead),
                 input.rejects.size());
    if (collected.dead > 0) {
        std::fprintf(stderr, "  dead letters stay in namespace %s: sluice-cli worker --config %s --dead-letters\n",
                     config->shared->ns.c_str(), opt.config.c_str());
    }
    return (collected.dead > 0 || !input.rejects.empty()) ? kExitFailure : kExitOk;
}

void addWorkerCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<WorkerOptions>();
    CLI::App* cmd = app.add_subcommand("worker", "Work on the shared queue of the configuration's Redis namespace");
    cmd->add_option("--config", opt->config, "Configuration file with a \"shared\" section (docs/configuration.md)");
    cmd->add_flag("--dead-letters", opt->deadLetters, "List the namespace's dead letters (JSON lines) and exit");
    cmd->add_option("--requeue", opt->requeue, "Requeue one dead letter by custom_id, or \"all\", and exit");
    cmd->add_option("--edit", opt->edit, "Replace a dead letter's request body with --body FILE, requeue it, and exit");
    cmd->add_option("--body", opt->body, "The new request body for --edit (a JSON file)");
    cmd->add_option("--seed", opt->seed, "Seed for retry jitter (0: random)");
    addControlOptions(cmd, opt->control);
    cmd->add_option("--prefetch", opt->prefetch, "Jobs leased ahead of what runs (default 32)")->check(CLI::Range(1, 100000));
    cmd->callback([opt, &exitCode, cmd] {
        if (opt->config.empty() || (!opt->edit.empty() && opt->body.empty())) {
            std::fprintf(stderr, "sluice-cli worker: --config is required (and --body with --edit)\n%s",
                         cmd->help().c_str());
            exitCode = kExitBadInput;
            return;
        }
        exitCode = runWorker(*opt);
    });
}

}  // namespace sluice::cli
