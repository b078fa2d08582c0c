// `sluice-cli batch`: runs an OpenAI Batch API input file at synchronous-API
// speed, as fast as every configured (or learned) limit allows and no faster,
// and writes the Batch API output format.
#include "cli/commands.h"
#include "cli/control_option.h"
#include "cli/key_alarm.h"
#include "cli/process_signals.h"
#include "cli/progress.h"
#include "cli/run_metrics.h"

#include "admission/admission.h"
#include "batchfile/batch_compaction.h"
#include "batchfile/batch_output.h"
#include "batchfile/batch_stream.h"
#include "batchfile/batch_submission.h"
#include "config/config.h"
#include "core/atomic_file.h"
#include "core/timefmt.h"
#include "dispatch/adaptive_wiring.h"
#include "dispatch/dispatcher.h"
#include "dispatch/fan_out_listener.h"
#include "host/engine_runtime.h"
#include "queue/batch_input.h"
#include "queue/file_lock.h"
#include "queue/queue_runner.h"
#include "shared/shared_run.h"
#include "store/job_store.h"
#include "store/workspace_path.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <filesystem>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_set>

namespace sluice::cli {

namespace {

using nlohmann::json;

struct BatchOptions {
    std::string config;
    std::string input;
    std::string output;
    std::string rejects;
    std::string state;
    std::string explain;
    std::string progress = "auto";
    std::string metrics;  // --metrics HOST:PORT
    ControlFlags control;  // --control HOST:PORT
    std::string writeOutput;  // --write-output FILE: write the state's results and exit
    // --retry-dead-letters[=CLASS,...]: set when given; empty means every class.
    std::optional<std::vector<std::string>> retryDead;
    bool durableFull = false;
    bool compact = false;  // --compact: drop written results from the state file
    std::uint64_t seed = 0;
    std::string queue = "local";
};

// Without --state, a run's state lives in the data directory under a name
// derived from its input and output, so rerunning the same command resumes.
std::string defaultStatePath(const BatchOptions& opt)
{
    std::error_code ec;
    // absolute() first: weakly_canonical leaves a relative path that does not
    // exist yet relative, so the first and second runs would disagree.
    const std::string in = std::filesystem::weakly_canonical(std::filesystem::absolute(opt.input), ec).string();
    const std::string out = std::filesystem::weakly_canonical(std::filesystem::absolute(opt.output), ec).string();
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : in + "\n" + out) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char name[48];
    std::snprintf(name, sizeof name, "batch-%016llx", static_cast<unsigned long long>(h));
    return store::workspaceDatabasePath(name).string();
}

// A path as a shell word, for commands the user is told to run.
std::string shellWord(const std::string& s)
{
    if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") ==
                          std::string::npos) {
        return s;
    }
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

// The same file, also through a symbolic or hard link: device and inode.
bool sameFile(const struct stat& a, const std::string& path)
{
    struct stat b {};
    return ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Why the run could not write `path` at its end, or empty: the directory
// must exist and take a new file (tried, so a read-only file system or
// missing permission shows too), and the path must not be a directory.
std::string unwritableReason(const std::string& path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        return path + ": is a directory";
    }
    const fs::path parent = fs::path(path).parent_path();
    const std::string dir = parent.empty() ? std::string(".") : parent.string();
    if (!fs::exists(dir, ec)) {
        return path + ": directory " + dir + " does not exist";
    }
    if (!fs::is_directory(dir, ec)) {
        return path + ": " + dir + " is not a directory";
    }
    std::string probe = (fs::path(dir) / ".sluice-write-check-XXXXXX").string();
    const int fd = ::mkstemp(probe.data());
    if (fd < 0) {
        return path + ": cannot create files in " + dir + " (" + std::strerror(errno) + ")";
    }
    ::close(fd);
    ::unlink(probe.c_str());
    return {};
}

// Checks the files a run reads and writes before anything starts: the input
// is a readable regular file, no file the run writes is the input (which it
// would replace), and every output directory takes files. Empty when fine.
std::string checkPaths(const BatchOptions& opt, const std::string& rejectsPath)
{
    struct stat in {};
    if (::stat(opt.input.c_str(), &in) != 0) {
        return opt.input + ": cannot open for reading (" + std::strerror(errno) + ")";
    }
    if (S_ISDIR(in.st_mode)) {
        return "--input " + opt.input + ": is a directory, not a batch file";
    }
    const std::pair<const char*, const std::string*> written[] = {
        {"--output", &opt.output}, {"--rejects", &rejectsPath}, {"--state", &opt.state}};
    for (const auto& [flag, path] : written) {
        if (!path->empty() && sameFile(in, *path)) {
            return std::string(flag) + " " + *path + ": is the input file " + opt.input +
                   " (the run would overwrite it); write elsewhere";
        }
    }
    struct stat out {};
    if (::stat(opt.output.c_str(), &out) == 0 && sameFile(out, rejectsPath)) {
        return "--rejects " + rejectsPath + ": is the output file " + opt.output + "; write them apart";
    }
    struct stat state {};
    if (!opt.state.empty() && ::stat(opt.state.c_str(), &state) == 0) {
        for (const auto& [flag, path] : {std::pair{"--output", &opt.output}, std::pair{"--rejects", &rejectsPath}}) {
            if (sameFile(state, *path)) {
                return std::string(flag) + " " + *path + ": is the state file " + opt.state +
                       " (the run would overwrite it); write elsewhere";
            }
        }
    }
    for (const std::string* path : {&opt.output, &rejectsPath}) {
        if (std::string why = unwritableReason(*path); !why.empty()) {
            return why;
        }
    }
    return {};
}

// Writes the Batch API output of every finished job in the store (of those in
// `wanted`, when given), in input order. Throws FileError.
void writeOutputFile(const store::JobStore& st, const std::string& path, const BatchIds* wanted,
                     std::uint64_t& completed, std::uint64_t& dead)
{
    const BatchOutputCounts counts = wanted != nullptr ? writeBatchOutput(st, path, *wanted) : writeBatchOutput(st, path);
    completed = counts.completed;
    dead = counts.dead;
}

// --compact, once `output` is written: the state keeps what a rerun of the
// same input needs (it stays a no-op) and the dead letters, and drops the
// results the output now holds (JobStore::compact).
int compactState(store::JobStore& st, const BatchIds* wanted, const std::string& output)
{
    try {
        const auto started = std::chrono::steady_clock::now();
        const store::CompactReport r = compactAfterOutput(st, wanted, output);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr,
                     "sluice-cli batch: %s compacted: %lld results dropped (%s holds them), %.1f MB -> %.1f MB in "
                     "%.1f s\n",
                     st.file().c_str(), static_cast<long long>(r.jobs), output.c_str(),
                     static_cast<double>(r.bytesBefore) / 1e6, static_cast<double>(r.bytesAfter) / 1e6, secs);
        return kExitOk;
    } catch (const store::StoreError& e) {
        std::fprintf(stderr,
                     "sluice-cli batch: %s\n%s is written; the state file is consistent (a compaction stops "
                     "between steps) and can be compacted again with:\n"
                     "  sluice-cli batch --state %s --write-output %s --compact\n",
                     e.what(), output.c_str(), shellWord(st.file().string()).c_str(), shellWord(output).c_str());
        return kExitFailure;
    }
}

// `batch --state S --write-output F`: the results a run left in its state
// file, written out without sending anything (e.g. after the run could not
// write its output).
int writeOutputOnly(const BatchOptions& opt, const std::string& statePath)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(statePath, ec)) {
        std::fprintf(stderr, "sluice-cli batch --write-output: %s: no such state file\n", statePath.c_str());
        return kExitBadInput;
    }
    if (std::string why = unwritableReason(opt.writeOutput); !why.empty()) {
        std::fprintf(stderr, "sluice-cli batch --write-output: %s\n", why.c_str());
        return kExitBadInput;
    }
    SystemClock clock;
    store::StoreOptions so;
    so.readOnly = !opt.compact;
    // Compacting writes the state: not while a run works on it.
    std::optional<FileLock> lock;
    if (opt.compact) {
        lock.emplace(statePath + ".lock");
        if (!lock->locked()) {
            std::fprintf(stderr, "sluice-cli batch --write-output: %s\n", lock->error().c_str());
            return kExitFailure;
        }
    }
    try {
        store::JobStore st(statePath, clock, so);
        if (const std::string why = compactedOutputProblem(st, nullptr); !why.empty()) {
            std::fprintf(stderr, "sluice-cli batch --write-output: %s\nNothing was written.\n", why.c_str());
            return kExitBadInput;
        }
        std::uint64_t completed = 0;
        std::uint64_t dead = 0;
        writeOutputFile(st, opt.writeOutput, nullptr, completed, dead);
        const store::Counts c = st.counts();
        std::fprintf(stderr, "%s: %llu completed, %llu dead-lettered, from %s", opt.writeOutput.c_str(),
                     static_cast<unsigned long long>(completed), static_cast<unsigned long long>(dead), statePath.c_str());
        if (c.pending + c.leased > 0) {
            std::fprintf(stderr, " (%lld not finished, not written: rerun the batch to send them)",
                         static_cast<long long>(c.pending + c.leased));
        }
        std::fprintf(stderr, "\n");
        if (opt.compact) {
            return compactState(st, nullptr, opt.writeOutput);
        }
    } catch (const store::StoreError& e) {
        std::fprintf(stderr, "sluice-cli batch --write-output: %s\n", e.what());
        return kExitBadInput;
    } catch (const FileError& e) {
        std::fprintf(stderr, "sluice-cli batch --write-output: %s\n", e.what());
        return kExitFailure;
    }
    return kExitOk;
}

// A state file that exists must be a Sluice job store before anything
// touches it: refusing a foreign file leaves it byte for byte as it was, with
// no lock file, WAL or journal beside it. Reads it read-only; empty when fine
// (or when the full open, which reports its own errors, should decide).
std::string foreignStateProblem(const std::string& statePath)
{
    std::error_code ec;
    if (!std::filesystem::exists(statePath, ec)) {
        return {};
    }
    if (!std::filesystem::is_regular_file(statePath, ec)) {
        return statePath + ": not a regular file";
    }
    if (std::filesystem::file_size(statePath, ec) == 0) {
        return {};  // an empty file becomes a new store
    }
    SystemClock clock;
    store::StoreOptions so;
    so.readOnly = true;
    try {
        const store::JobStore probe(statePath, clock, so);
    } catch (const store::StoreError& e) {
        if (e.kind() == store::StoreErrorKind::NotADatabase || e.kind() == store::StoreErrorKind::TooNew ||
            e.kind() == store::StoreErrorKind::Corrupt) {
            return e.what();
        }
    }
    return {};
}

// --retry-dead-letters=CLASS,...: the failure classes named (empty: every
// class). Throws std::invalid_argument naming an unknown class.
std::vector<std::string> retryClasses(const std::vector<std::string>& given)
{
    std::vector<std::string> names;
    for (const std::string& item : given) {
        std::size_t start = 0;
        while (start <= item.size()) {
            const std::size_t comma = std::min(item.find(',', start), item.size());
            std::string name = item.substr(start, comma - start);
            start = comma + 1;
            if (name.empty() || name == "all") {
                continue;
            }
            FailureClass c{};
            if (!parseFailureClass(name, c) || c == FailureClass::None) {
                std::string known;
                for (int i = 1; i < kFailureClassCount; ++i) {
                    known += (known.empty() ? "" : ", ") + std::string(failureClassName(static_cast<FailureClass>(i)));
                }
                throw std::invalid_argument("--retry-dead-letters: unknown failure class \"" + name +
                                            "\" (expected all, or some of: " + known + ")");
            }
            names.push_back(name);
        }
    }
    return names;
}

// Dead letters of those classes (all when none) go back to pending with a
// fresh attempt budget; their history stays.
std::size_t requeueDeadLetters(store::JobStore& st, const std::vector<std::string>& classes)
{
    if (classes.empty()) {
        return st.requeueDead({});
    }
    std::size_t n = 0;
    for (const std::string& name : classes) {
        store::DeadLetterFilter f;
        f.errorClass = name;
        n += st.requeueDead(f);
    }
    return n;
}

std::int64_t tokenLimitPerMinute(const Admission& admission)
{
    std::int64_t total = 0;
    for (const ScopeState& s : admission.snapshotAll()) {
        if (s.removed) {
            continue;
        }
        for (const DimensionState& d : s.dimensions) {
            if (d.spec.window == Window::Rolling && d.spec.period == std::chrono::minutes(1) &&
                (d.spec.measure == Measure::TotalTokens || d.spec.measure == Measure::InputTokens)) {
                total += d.spec.limit;
            }
        }
    }
    return total;
}

int explain(const BatchOptions& opt, const std::string& statePath)
{
    SystemClock clock;
    store::StoreOptions so;
    so.readOnly = true;
    try {
        store::JobStore st(statePath, clock, so);
        const auto job = st.findByCustomId(opt.explain);
        if (!job) {
            std::fprintf(stderr, "sluice-cli batch --explain: no job with custom_id \"%s\" in %s\n", opt.explain.c_str(),
                         statePath.c_str());
            return kExitBadInput;
        }
        // A dead letter refused before it was sent (no usable key, too large
        // for a limit, deadline passed in the queue) is logged as an attempt
        // with no key and no status: say what it was.
        const auto refused = [](const store::Attempt& a) { return a.httpStatus == 0 && a.keyLabel.empty(); };
        const auto attempts = st.attempts(job->id);
        int notCounted = 0;
        for (const store::Attempt& a : attempts) {
            notCounted += !a.counted && !refused(a);
        }
        std::string counts = std::to_string(job->attempts) + (job->attempts == 1 ? " failed attempt" : " failed attempts") +
                             " counted against its limit";
        if (notCounted > 0) {
            counts += ", " + std::to_string(notCounted) + " not counted";
        }
        std::printf("%s: %s, model %s, tenant %s, priority %d, %s\n", job->customId.c_str(),
                    std::string(store::jobStateName(job->state)).c_str(), job->model.c_str(),
                    job->tenant.empty() ? "default" : job->tenant.c_str(), job->priority, counts.c_str());
        for (const store::TimelineEntry& e : st.timeline(job->id)) {
            std::printf("  %s  %-16s %s\n", formatRfc3339(e.at, 3).c_str(), e.kind.c_str(), e.detail.c_str());
        }
        if (!attempts.empty()) {
            std::printf("failed attempts:\n");
            for (const store::Attempt& a : attempts) {
                const std::string at = a.at ? formatRfc3339(*a.at, 3) : "-";
                if (refused(a)) {
                    std::printf("  %s  %-18s refused before sending: %s\n", at.c_str(), a.errorClass.c_str(),
                                a.message.c_str());
                    continue;
                }
                const std::string status = a.httpStatus != 0 ? "HTTP " + std::to_string(a.httpStatus) : "no response";
                std::printf("  %s  %-18s %s on key %s%s: %s\n", at.c_str(), a.errorClass.c_str(), status.c_str(),
                            a.keyLabel.c_str(), a.counted ? "" : " (not counted)", a.message.c_str());
            }
        }
        if (const auto r = st.result(job->id)) {
            std::printf("result: HTTP %d, request %s, key %s, at %s\n", r->statusCode, r->requestId.c_str(),
                        r->keyLabel.c_str(), formatRfc3339(r->completed, 3).c_str());
        }
    } catch (const store::StoreError& e) {
        std::fprintf(stderr, "sluice-cli batch --explain: %s\n", e.what());
        return kExitBadInput;
    }
    return kExitOk;
}

int runBatch(const BatchOptions& opt)
{
    const std::string statePath = opt.state.empty() ? defaultStatePath(opt) : opt.state;
    if (!opt.explain.empty()) {
        return explain(opt, statePath);
    }
    if (!opt.writeOutput.empty()) {
        return writeOutputOnly(opt, statePath);
    }
    std::vector<std::string> retryNames;
    if (opt.retryDead) {
        try {
            retryNames = retryClasses(*opt.retryDead);
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", e.what());
            return kExitBadInput;
        }
    }
    const std::string rejectsPath = opt.rejects.empty() ? opt.output + ".rejects.jsonl" : opt.rejects;
    if (const std::string why = checkPaths(opt, rejectsPath); !why.empty()) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", why.c_str());
        return kExitBadInput;
    }
    Config config;
    try {
        config = loadConfigFile(opt.config, processEnvironment());
    } catch (const InputError& e) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", e.what());
        return kExitBadInput;
    }
    std::ifstream in(opt.input, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "sluice-cli batch: %s: cannot open for reading\nNothing was sent.\n", opt.input.c_str());
        return kExitBadInput;
    }

    std::optional<MetricsAddress> metricsAddress;
    std::optional<control::ControlOptions> controlOptions;
    try {
        metricsAddress = parseMetricsAddress(opt.metrics);
        controlOptions = parseControlFlags(opt.control);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", e.what());
        return kExitBadInput;
    }

    if (const std::string why = foreignStateProblem(statePath); !why.empty()) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent; the file was not changed.\n", why.c_str());
        return kExitBadInput;
    }
    SystemClock clock;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(statePath).parent_path(), ec);
    FileLock lock(statePath + ".lock");
    if (!lock.locked()) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", lock.error().c_str());
        return kExitFailure;
    }
    std::unique_ptr<store::JobStore> st;
    std::unique_ptr<RunMetrics> runMetrics;
    try {
        store::StoreOptions so;
        so.durability = opt.durableFull ? store::Durability::Full : store::Durability::Normal;
        st = std::make_unique<store::JobStore>(statePath, clock, so);
        // This process holds the lock: any lease in the file is a dead run's.
        const std::size_t released = st->releaseAllLeases();
        if (released > 0) {
            std::fprintf(stderr, "sluice-cli batch: resuming %s (%zu requests from an interrupted run go again)\n",
                         statePath.c_str(), released);
        }
        if (opt.retryDead) {
            const std::size_t requeued = requeueDeadLetters(*st, retryNames);
            std::fprintf(stderr, "sluice-cli batch: %zu dead letter%s requeued from %s\n", requeued,
                         requeued == 1 ? "" : "s", statePath.c_str());
        }
        runMetrics = std::make_unique<RunMetrics>(clock, statePath);
    } catch (const store::StoreError& e) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", e.what());
        const bool unusable = e.kind() == store::StoreErrorKind::TooNew ||
                              e.kind() == store::StoreErrorKind::NotADatabase ||
                              e.kind() == store::StoreErrorKind::Corrupt;
        return unusable ? kExitBadInput : kExitFailure;
    }

    KeyAlarm alarm("\nsluice-cli:");
    QueueRunnerOptions ro;
    ro.owner = "batch-" + std::to_string(::getpid());
    control::EventLog events(clock);
    FanOutListener downstream{&runMetrics->recorder(), &alarm, &events};
    // "concurrency": "auto": watches every attempt and sets the limit.
    AdaptiveWiring adaptive(clock, config, downstream);
    // The runner over the state file and the dispatcher, as the console's
    // EngineHost wires them; "shared": every limit is also enforced across
    // the instances of the namespace, through Redis (engine/shared/).
    host::RuntimeOptions runtimeOptions;
    runtimeOptions.dispatcher.seed = opt.seed;
    runtimeOptions.shared = shared::sharedLinkFactory("sluice-cli batch");
    host::EngineRuntime runtime(clock, config, *st, ro, &adaptive.listener(), std::move(runtimeOptions));
    Admission& admission = runtime.admission();
    Dispatcher& dispatcher = runtime.dispatcher();
    QueueRunner& runner = *runtime.runner();
    host::SharedLink* const membership = runtime.shared();
    adaptive.attach(dispatcher);
    runMetrics->watch(dispatcher, admission);
    if (!adaptive.empty()) {
        runMetrics->appendText([&adaptive] { return adaptive.prometheusText(); });
    }

    // Read and queue the input as it is read, a chunk at a time, so memory
    // does not grow with the file (BatchStreamQueue). A line that cannot run
    // is rejected with its line number; the rest run.
    std::vector<RejectedLine> rejects;
    metrics::SpendEstimate estimate;
    std::vector<JobEstimate> chunkEstimates;  // of the lines not flushed yet, in order
    BatchStreamQueue::Options qo;
    qo.defaultPriority = config.defaults.priority;
    qo.start = clock.wallNow();
    qo.storeName = statePath;
    BatchStreamQueue queue(*st, qo, [&](const BatchStreamQueue::Queued& q) {
        if (q.fate == BatchStreamQueue::Fate::Added) {
            estimate.add(chunkEstimates[q.index]);
        } else if (q.fate == BatchStreamQueue::Fate::Resumed) {
            // Only what is still to send counts towards the spend.
            const auto job = st->job(q.id);
            if (!job || job->state == store::JobState::Pending || job->state == store::JobState::Leased) {
                estimate.add(chunkEstimates[q.index]);
            }
        }
    });
    try {
        readBatchLines(
            in,
            [&](BatchLine&& line) -> std::string {
                // The dispatcher's checks (a provider serves the model, a body
                // it can send), and the request's estimate in the same pass.
                try {
                    chunkEstimates.push_back(dispatcher.estimate(line.job));
                } catch (const InputError& e) {
                    return e.what();
                }
                queue.add(line);
                if (queue.pending() == 0) {
                    chunkEstimates.clear();
                }
                return {};
            },
            [&](RejectedLine&& r) { rejects.push_back(std::move(r)); });
        queue.flush();
        chunkEstimates.clear();
    } catch (const store::StoreError& e) {
        std::fprintf(stderr,
                     "sluice-cli batch: %s\nNothing was sent; what was queued so far stays in %s (rerun the same "
                     "command to go on).\n",
                     e.what(), statePath.c_str());
        return kExitFailure;
    }
    rejects.insert(rejects.end(), std::make_move_iterator(queue.rejects().begin()),
                   std::make_move_iterator(queue.rejects().end()));
    queue.rejects().clear();
    const std::size_t resumed = queue.resumed();
    const BatchIds& wanted = queue.ids();
    std::sort(rejects.begin(), rejects.end(),
              [](const RejectedLine& a, const RejectedLine& b) { return a.line < b.line; });
    for (const RejectedLine& r : rejects) {
        std::fprintf(stderr, "%s:%zu: %s\n", opt.input.c_str(), r.line, r.error.c_str());
    }
    if (!rejects.empty()) {
        try {
            writeBatchRejects(rejectsPath, rejects);
        } catch (const FileError& e) {
            std::fprintf(stderr, "sluice-cli batch: %s\n", e.what());
            return kExitFailure;
        }
    }

    // Compacted results cannot go into this run's output: refuse before
    // anything is sent.
    try {
        if (const std::string why = compactedOutputProblem(*st, &wanted); !why.empty()) {
            std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent; run new lines with a new --state.\n",
                         why.c_str());
            return kExitBadInput;
        }
    } catch (const store::StoreError& e) {
        std::fprintf(stderr, "sluice-cli batch: %s\nNothing was sent.\n", e.what());
        return kExitFailure;
    }
    const store::Counts before = st->counts();
    const std::uint64_t total = wanted.size();
    const std::uint64_t alreadyFinished = static_cast<std::uint64_t>(before.done + before.dead);
    if (resumed > 0 && alreadyFinished > 0) {
        std::fprintf(stderr, "sluice-cli batch: %llu of %llu requests already finished in %s; %s\n",
                     static_cast<unsigned long long>(alreadyFinished), static_cast<unsigned long long>(total),
                     statePath.c_str(), alreadyFinished >= total ? "nothing left to send" : "sending the rest");
    }

    std::fprintf(stderr, "sluice-cli batch: %s\n", spendEstimateText(estimate, config.pricing.asOf()).c_str());

    watchStopSignals();
    if (membership) {
        runMetrics->appendText([membership] { return membership->prometheusText(); });
    }
    try {
        const std::string url = runMetrics->start(metricsAddress);
        if (!url.empty()) {
            std::fprintf(stderr, "sluice-cli batch: metrics at %s\n", url.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli batch: --metrics: %s\nNothing was sent.\n", e.what());
        return kExitFailure;
    }
    std::unique_ptr<control::ControlServer> controlServer;
    try {
        control::ControlTarget target;
        target.kind = "batch";
        target.clock = &clock;
        target.dispatcher = &dispatcher;
        target.admission = &admission;
        target.metrics = &runMetrics->recorder();
        target.store = st.get();
        target.poke = [&runner] { runner.poke(); };
        // Its whole input is queued before the first send: there is no more
        // to close, and it already runs until its queue is empty.
        target.drain = [] {};
        target.events = &events;
        target.rollups = [&runMetrics, statePath](WallTime from, WallTime to) {
            return control::RollupPage{runMetrics->rollups(from, to), statePath};
        };
        controlServer = startControl(controlOptions, std::move(target), "batch");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli batch: --control: %s\nNothing was sent.\n", e.what());
        return kExitFailure;
    }
    const TimePoint started = clock.now();
    runtime.start();

    ProgressLine progress(stderr, progressWanted(opt.progress, stderr));
    const std::int64_t tokenLimit = tokenLimitPerMinute(admission);
    std::deque<std::pair<TimePoint, DispatcherStats>> history;
    while (!runner.drained()) {
        // A state file that cannot be written (full disk): the runner has
        // stopped leasing and says why; waiting would hang for ever.
        if (stopRequested() || runner.failed()) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the display's refresh rate
        const TimePoint now = clock.now();
        const DispatcherStats s = dispatcher.stats();
        history.emplace_back(now, s);
        while (history.size() > 2 && now - history.front().first > std::chrono::seconds(60)) {
            history.pop_front();
        }
        const auto& [then, old] = history.front();
        const double span = std::max(1e-3, std::chrono::duration<double>(now - then).count());
        const double rate = static_cast<double>(s.finished() - old.finished()) / span;
        const double tokensPerMin =
            static_cast<double>((s.inputTokens + s.outputTokens) - (old.inputTokens + old.outputTokens)) * 60.0 / span;
        const std::uint64_t done = std::min<std::uint64_t>(total, alreadyFinished + s.finished());
        std::string line = progressBar(total ? static_cast<double>(done) / static_cast<double>(total) : 1.0, 24) + " " +
                           groupThousands(static_cast<std::int64_t>(done)) + "/" +
                           groupThousands(static_cast<std::int64_t>(total)) + " · " +
                           std::to_string(static_cast<int>(rate * 60)) + " req/min · " +
                           groupThousands(static_cast<std::int64_t>(tokensPerMin)) + " tok/min";
        if (tokenLimit > 0) {
            line += " of " + groupThousands(tokenLimit);
        }
        line += " · 429 " + std::to_string(s.failures[static_cast<std::size_t>(FailureClass::RateLimited)]) +
                " · quota " + std::to_string(s.failures[static_cast<std::size_t>(FailureClass::QuotaExhausted)]) +
                " · 5xx/timeouts " +
                std::to_string(s.failures[static_cast<std::size_t>(FailureClass::ServerError)] +
                               s.failures[static_cast<std::size_t>(FailureClass::Overloaded)] +
                               s.failures[static_cast<std::size_t>(FailureClass::Timeout)] +
                               s.failures[static_cast<std::size_t>(FailureClass::ConnectionError)]) +
                " · " + formatUsd(s.spendMicroUsd);
        if (rate > 0 && done < total) {
            line += " · ETA " + shortDuration(Duration(static_cast<std::int64_t>(static_cast<double>(total - done) / rate * 1e9)));
        }
        progress.update(line);
    }
    if (controlServer) {
        controlServer->stop();
    }
    // The dispatcher first, so no outcome arrives after the runner's last
    // write; in-flight requests are abandoned and their leases released.
    runtime.stop();
    if (!adaptive.empty()) {
        std::fprintf(stderr, "sluice-cli batch: adaptive concurrency at the end: %s\n", adaptive.describe().c_str());
    }
    if (const std::string err = runMetrics->stop(); !err.empty()) {
        std::fprintf(stderr, "sluice-cli batch: metrics: %s\n", err.c_str());
    }
    progress.finish();
    const Duration elapsed = clock.now() - started;
    const DispatcherStats s = dispatcher.stats();
    if (runner.failed()) {
        std::fprintf(stderr, "sluice-cli batch: %s\n", runner.stats().failure.c_str());
        return kExitFailure;
    }
    if (const auto rs = runner.stats(); !rs.lastError.empty()) {
        std::fprintf(stderr, "sluice-cli batch: state store: %s\n", rs.lastError.c_str());
    }
    if (stopRequested()) {
        std::fprintf(stderr, "sluice-cli batch: interrupted; %s holds the progress, rerun the same command to resume\n",
                     statePath.c_str());
        return kExitFailure;
    }

    std::uint64_t completed = 0;
    std::uint64_t dead = 0;
    try {
        writeOutputFile(*st, opt.output, &wanted, completed, dead);
    } catch (const std::exception& e) {
        std::fprintf(stderr,
                     "sluice-cli batch: %s\n"
                     "The results are safe in %s; write them out with:\n"
                     "  sluice-cli batch --state %s --write-output %s\n",
                     e.what(), statePath.c_str(), shellWord(statePath).c_str(), shellWord(opt.output).c_str());
        return kExitFailure;
    }

    const double secs = std::max(1e-3, std::chrono::duration<double>(elapsed).count());
    std::fprintf(stderr, "%s: %llu completed, %llu dead-lettered, %zu rejected in %s\n", opt.output.c_str(),
                 static_cast<unsigned long long>(completed), static_cast<unsigned long long>(dead), rejects.size(),
                 shortDuration(elapsed).c_str());
    std::fprintf(stderr, "  this run: %s requests sent (%.1f/s), %s input + %s output tokens (%s tok/min), spend %s%s\n",
                 groupThousands(static_cast<std::int64_t>(s.attempts)).c_str(), static_cast<double>(s.attempts) / secs,
                 groupThousands(s.inputTokens).c_str(), groupThousands(s.outputTokens).c_str(),
                 groupThousands(static_cast<std::int64_t>(static_cast<double>(s.inputTokens + s.outputTokens) * 60.0 / secs)).c_str(),
                 formatUsd(s.spendMicroUsd).c_str(),
                 s.unpricedResponses ? (" + " + std::to_string(s.unpricedResponses) + " unpriced responses").c_str() : "");
    std::string classes;
    for (int c = 1; c < kFailureClassCount; ++c) {
        if (s.failures[static_cast<std::size_t>(c)] > 0) {
            classes += (classes.empty() ? "" : ", ") + std::string(failureClassName(static_cast<FailureClass>(c))) + " " +
                       std::to_string(s.failures[static_cast<std::size_t>(c)]);
        }
    }
    std::fprintf(stderr, "  failed attempts by class: %s\n", classes.empty() ? "none" : classes.c_str());
    if (!rejects.empty()) {
        std::fprintf(stderr, "  rejected lines written to %s\n", rejectsPath.c_str());
    }
    if (dead > 0) {
        std::fprintf(stderr,
                     "  dead letters stay in %s: see one with --explain CUSTOM_ID, send them again with "
                     "--retry-dead-letters\n",
                     statePath.c_str());
    }
    if (opt.compact && compactState(*st, &wanted, opt.output) != kExitOk) {
        return kExitFailure;
    }
    return (dead > 0 || !rejects.empty()) ? kExitFailure : kExitOk;
}

}  // namespace

void addBatchCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<BatchOptions>();
    CLI::App* cmd = app.add_subcommand("batch", "Run an OpenAI Batch API file within every rate limit");
    cmd->add_option("--config", opt->config, "Configuration file (docs/configuration.md)");
    cmd->add_option("--input", opt->input, "Batch input, one {custom_id, method, url, body} per line");
    cmd->add_option("--output", opt->output, "Batch output, one line per input line, in input order");
    cmd->add_option("--rejects", opt->rejects, "Where rejected input lines go (default: OUTPUT.rejects.jsonl)");
    cmd->add_option("--state", opt->state,
                    "State database; rerunning with the same state resumes (default: derived from input and output, "
                    "under $XDG_DATA_HOME/sluice)");
    cmd->add_flag("--durable-full", opt->durableFull, "Flush every commit to disk (SQLite synchronous=FULL)");
    cmd->add_flag("--compact", opt->compact,
                  "Once the output is written, drop its results from the state file and reclaim the space (a rerun "
                  "of the same input stays a no-op; dead letters are kept)");
    cmd->add_option("--explain", opt->explain, "Print one job's timeline from the state database and exit");
    cmd->add_option("--write-output", opt->writeOutput,
                    "Write the results held in --state to this file (Batch API output) and exit; sends nothing");
    cmd->add_option_function<std::vector<std::string>>(
           "--retry-dead-letters", [opt](const std::vector<std::string>& v) { opt->retryDead = v; },
           "Send this run's dead letters again: all, or those of the failure classes named (e.g. "
           "auth_failed,server_error)")
        ->expected(0, 1)
        ->allow_extra_args(false);
    cmd->add_option("--progress", opt->progress, "Live progress line: auto (on a terminal), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}));
    cmd->add_option("--seed", opt->seed, "Seed for retry jitter (0: random)");
    addMetricsOption(cmd, opt->metrics);
    addControlOptions(cmd, opt->control);
    cmd->add_option("--queue", opt->queue,
                    "local: a durable queue of this run (default); shared: the Redis namespace's queue, which "
                    "`sluice-cli worker` processes join")
        ->check(CLI::IsMember({"local", "shared"}));
    cmd->callback([opt, &exitCode, cmd] {
        if (!opt->writeOutput.empty()) {
            if (opt->state.empty() && (opt->input.empty() || opt->output.empty())) {
                std::fprintf(stderr, "sluice-cli batch --write-output: give --state, or the run's --input and --output\n");
                exitCode = kExitBadInput;
                return;
            }
            exitCode = runBatch(*opt);
            return;
        }
        // --queue shared: its own path (worker_command.cpp); the local
        // state, --explain and --metrics do not apply to it.
        if (opt->queue == "shared") {
            if (opt->config.empty() || opt->input.empty() || opt->output.empty()) {
                std::fprintf(stderr, "sluice-cli batch: --config, --input and --output are required\n");
                exitCode = kExitBadInput;
                return;
            }
            if (!opt->state.empty() || !opt->explain.empty() || !opt->metrics.empty() || opt->durableFull ||
                opt->compact) {
                std::fprintf(stderr, "sluice-cli batch: --state, --explain, --metrics, --durable-full and --compact do "
                                     "not apply "
                                     "with --queue shared (the state is in Redis)\n");
                exitCode = kExitBadInput;
                return;
            }
            exitCode = runSharedQueueBatch(SharedQueueBatch{opt->config, opt->input, opt->output, opt->rejects, opt->seed});
            return;
        }
        const bool explaining = !opt->explain.empty();
        if (!explaining && (opt->config.empty() || opt->input.empty() || opt->output.empty())) {
            std::fprintf(stderr, "sluice-cli batch: --config, --input and --output are required\n%s",
                         cmd->help().c_str());
            exitCode = kExitBadInput;
            return;
        }
        if (explaining && opt->state.empty() && (opt->input.empty() || opt->output.empty())) {
            std::fprintf(stderr, "sluice-cli batch --explain: give --state, or the run's --input and --output\n");
            exitCode = kExitBadInput;
            return;
        }
        exitCode = runBatch(*opt);
    });
}

}  // namespace sluice::cli
