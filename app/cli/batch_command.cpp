// `sluice-cli batch`: runs an OpenAI Batch API input file at synchronous-API
// speed, as fast as every configured (or learned) limit allows and no faster,
// and writes the Batch API output format.
#include "cli/batch_input.h"
#include "cli/commands.h"
#include "cli/progress.h"

#include "admission/admission.h"
#include "config/config.h"
#include "core/atomic_file.h"
#include "core/timefmt.h"
#include "dispatch/dispatcher.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <unordered_map>

namespace sluice::cli {

namespace {

using nlohmann::json;

struct BatchOptions {
    std::string config;
    std::string input;
    std::string output;
    std::string rejects;
    std::string progress = "auto";
    std::uint64_t seed = 0;
};

// Collects outcomes on the dispatcher thread; read after the run.
class Collector : public DispatchListener {
public:
    void onFinished(JobOutcome&& outcome) override
    {
        std::lock_guard guard(m_mutex);
        m_outcomes[outcome.customId] = std::move(outcome);
    }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override
    {
        // Loud on purpose: a quarantined key is money or access lost.
        std::fprintf(stderr, "\nsluice-cli: key %s/%s quarantined: %s\n", provider.c_str(), key.c_str(), reason.c_str());
    }
    std::unordered_map<std::string, JobOutcome> take()
    {
        std::lock_guard guard(m_mutex);
        return std::move(m_outcomes);
    }

private:
    std::mutex m_mutex;
    std::unordered_map<std::string, JobOutcome> m_outcomes;
};

std::string batchRequestId(const std::string& customId)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : customId) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "batch_req_%016llx", static_cast<unsigned long long>(h));
    return buf;
}

json outputLine(const std::string& customId, const JobOutcome* o)
{
    json line = {{"id", batchRequestId(customId)}, {"custom_id", customId}};
    if (o == nullptr) {
        line["response"] = nullptr;
        line["error"] = {{"code", "not_run"}, {"message", "the run stopped before this request finished"}};
        return line;
    }
    if (o->status != 0) {
        line["response"] = {{"status_code", o->status}, {"request_id", o->requestId}, {"body", o->body}};
    } else {
        line["response"] = nullptr;
    }
    if (o->result == JobResult::Completed) {
        line["error"] = nullptr;
    } else {
        line["error"] = {{"code", std::string(failureClassName(o->cls))}, {"message", o->reason}};
    }
    return line;
}

// The TPM limit the progress line compares against: the per-minute token
// limits of every key's scope for the models in use, summed.
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

std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int)
{
    g_interrupted = true;
}

int runBatch(const BatchOptions& opt)
{
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

    SystemClock clock;
    Admission admission(clock);
    Collector collector;
    DispatcherOptions dopt;
    dopt.seed = opt.seed;
    Dispatcher dispatcher(config, clock, admission, collector, dopt);

    BatchInput input = readBatchInput(in, [&](const BatchLine& line) { return dispatcher.validate(line.job); });
    for (const RejectedLine& r : input.rejects) {
        std::fprintf(stderr, "%s:%zu: %s\n", opt.input.c_str(), r.line, r.error.c_str());
    }
    const std::string rejectsPath = opt.rejects.empty() ? opt.output + ".rejects.jsonl" : opt.rejects;
    if (!input.rejects.empty()) {
        try {
            writeFileAtomically(rejectsPath, [&](std::ostream& out) {
                for (const RejectedLine& r : input.rejects) {
                    out << json{{"line", r.line}, {"custom_id", r.customId}, {"error", r.error}, {"input", r.text}}.dump()
                        << '\n';
                }
            });
        } catch (const FileError& e) {
            std::fprintf(stderr, "sluice-cli batch: %s\n", e.what());
            return kExitFailure;
        }
    }

    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    const TimePoint started = clock.now();
    dispatcher.start();
    for (BatchLine& line : input.lines) {
        if (line.deadlineSeconds) {
            line.job.deadline = started + Duration(static_cast<std::int64_t>(*line.deadlineSeconds * 1e9));
        }
        dispatcher.submit(line.job);
    }

    // Progress: a rate over the last few seconds, tokens over the last minute.
    ProgressLine progress(stderr, progressWanted(opt.progress, stderr));
    const std::int64_t tokenLimit = tokenLimitPerMinute(admission);
    std::deque<std::pair<TimePoint, DispatcherStats>> history;
    const std::uint64_t total = input.lines.size();
    while (!dispatcher.waitIdle(std::chrono::milliseconds(250))) {
        if (g_interrupted) {
            break;
        }
        const TimePoint now = clock.now();
        DispatcherStats s = dispatcher.stats();
        history.emplace_back(now, s);
        while (history.size() > 2 && now - history.front().first > std::chrono::seconds(60)) {
            history.pop_front();
        }
        const auto& [then, old] = history.front();
        const double span = std::max(1e-3, std::chrono::duration<double>(now - then).count());
        const double rate = static_cast<double>(s.finished() - old.finished()) / span;
        const double tokensPerMin = static_cast<double>((s.inputTokens + s.outputTokens) - (old.inputTokens + old.outputTokens)) *
                                    60.0 / span;
        std::string line = progressBar(total ? static_cast<double>(s.finished()) / static_cast<double>(total) : 1.0, 24) +
                           " " + groupThousands(static_cast<std::int64_t>(s.finished())) + "/" +
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
                " · " + usd(s.spendMicroUsd);
        if (rate > 0 && s.finished() < total) {
            line += " · ETA " + shortDuration(Duration(static_cast<std::int64_t>(
                                    static_cast<double>(total - s.finished()) / rate * 1e9)));
        }
        progress.update(line);
    }
    dispatcher.stop();
    progress.finish();
    const Duration elapsed = clock.now() - started;
    const DispatcherStats s = dispatcher.stats();
    auto outcomes = collector.take();

    try {
        writeFileAtomically(opt.output, [&](std::ostream& out) {
            for (const BatchLine& line : input.lines) {
                const auto it = outcomes.find(line.job.customId);
                out << outputLine(line.job.customId, it == outcomes.end() ? nullptr : &it->second).dump() << '\n';
            }
        });
    } catch (const FileError& e) {
        std::fprintf(stderr, "sluice-cli batch: %s\n", e.what());
        return kExitFailure;
    }

    const double secs = std::max(1e-3, std::chrono::duration<double>(elapsed).count());
    std::fprintf(stderr, "%s: %llu completed, %llu dead-lettered, %zu rejected, %zu duplicate lines skipped in %s\n",
                 opt.output.c_str(), static_cast<unsigned long long>(s.completed),
                 static_cast<unsigned long long>(s.deadLettered), input.rejects.size(), input.duplicates,
                 shortDuration(elapsed).c_str());
    std::fprintf(stderr, "  %s requests sent (%.1f/s), %s input + %s output tokens (%.0f tok/min), spend %s%s\n",
                 groupThousands(static_cast<std::int64_t>(s.attempts)).c_str(), static_cast<double>(s.attempts) / secs,
                 groupThousands(s.inputTokens).c_str(), groupThousands(s.outputTokens).c_str(),
                 static_cast<double>(s.inputTokens + s.outputTokens) * 60.0 / secs, usd(s.spendMicroUsd).c_str(),
                 s.unpricedResponses ? (" + " + std::to_string(s.unpricedResponses) + " unpriced").c_str() : "");
    std::string classes;
    for (int c = 1; c < kFailureClassCount; ++c) {
        if (s.failures[static_cast<std::size_t>(c)] > 0) {
            classes += (classes.empty() ? "" : ", ") + std::string(failureClassName(static_cast<FailureClass>(c))) + " " +
                       std::to_string(s.failures[static_cast<std::size_t>(c)]);
        }
    }
    std::fprintf(stderr, "  failed attempts by class: %s\n", classes.empty() ? "none" : classes.c_str());
    if (!input.rejects.empty()) {
        std::fprintf(stderr, "  rejected lines written to %s\n", rejectsPath.c_str());
    }
    if (g_interrupted) {
        std::fprintf(stderr, "  interrupted: unfinished requests are marked not_run\n");
        return kExitFailure;
    }
    return (s.deadLettered > 0 || !input.rejects.empty()) ? kExitFailure : kExitOk;
}

}  // namespace

void addBatchCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<BatchOptions>();
    CLI::App* cmd = app.add_subcommand("batch", "Run an OpenAI Batch API file within every rate limit");
    cmd->add_option("--config", opt->config, "Configuration file (docs/configuration.md)")->required();
    cmd->add_option("--input", opt->input, "Batch input, one {custom_id, method, url, body} per line")->required();
    cmd->add_option("--output", opt->output, "Batch output, one line per input line, in input order")->required();
    cmd->add_option("--rejects", opt->rejects, "Where rejected input lines go (default: OUTPUT.rejects.jsonl)");
    cmd->add_option("--progress", opt->progress, "Live progress line: auto (on a terminal), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}));
    cmd->add_option("--seed", opt->seed, "Seed for retry jitter (0: random)");
    cmd->callback([opt, &exitCode] { exitCode = runBatch(*opt); });
}

}  // namespace sluice::cli
