// A load-test workload: when requests arrive (an arrival process), what they
// are (a request mix, or a pipeline of dependent calls), or a replay of a
// recorded request file. Read from JSON (docs/loadtest.md); every problem is
// reported with its file, line and JSON pointer before anything runs.
//
// Thread-safety: plain values; the loaders are pure apart from reading files.
#pragma once

#include "core/clock.h"
#include "core/json_source.h"
#include "dispatch/job.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sluice::loadtest {

enum class ArrivalProcess : std::uint8_t { Constant, Poisson, Ramp, Step, Spike };
std::string_view arrivalProcessName(ArrivalProcess p) noexcept;

// From `at` on, arrivals come at `rate` per second (until the next step).
struct RateStep {
    Duration at{};
    double rate = 0;
};

// A spike replaces the base rate with `rate` during [at, at + length); a
// burst (length zero) adds `count` arrivals all at `at`.
struct Spike {
    Duration at{};
    Duration length{};
    double rate = 0;
    std::int64_t count = 0;
};

// Rates are arrivals per second. Every process is an intensity over time;
// arrivals are spaced evenly along it, or drawn as a Poisson process with
// that intensity (always for Poisson, on request for the others).
struct ArrivalSpec {
    ArrivalProcess process = ArrivalProcess::Constant;
    double rate = 1;       // Constant, Poisson; Spike: the base rate
    double fromRate = 0;   // Ramp: linear from → to over rampTime, then holds
    double toRate = 0;
    std::optional<Duration> rampTime;  // default: the whole duration
    std::vector<RateStep> steps;       // Step, sorted by `at`
    std::vector<Spike> spikes;         // Spike, sorted by `at`
    bool poisson = false;

    // Every rate and burst count multiplied by `factor` ("5× traffic").
    ArrivalSpec scaled(double factor) const;
};

// A whole number drawn per request.
struct Distribution {
    enum class Kind : std::uint8_t { Fixed, Uniform, Normal, LogNormal };
    Kind kind = Kind::Fixed;
    double value = 0;  // Fixed; Normal: mean; LogNormal: median
    double min = 1;    // Uniform bounds; Normal and LogNormal are clamped to them
    double max = 1;
    double sigma = 0;  // Normal: standard deviation; LogNormal: shape

    std::int64_t draw(std::mt19937_64& rng) const;
    // The largest value draw() can return.
    std::int64_t upperBound() const;
};

struct ModelChoice {
    std::string model;
    double weight = 1;
    std::optional<ApiFlavor> flavor;  // resolved from the config when absent
    std::string provider;             // pin to a configured provider
    std::string where;                // "file:line: /pointer", for messages
};

struct TenantChoice {
    std::string name;
    double weight = 1;  // share of arrivals
    std::optional<int> priority;
};

struct RequestMix {
    std::vector<ModelChoice> models;
    Distribution promptTokens{Distribution::Kind::Fixed, 200, 1, 1, 0};
    Distribution maxTokens{Distribution::Kind::Fixed, 200, 1, 1, 0};
    double streamShare = 0;
    std::vector<TenantChoice> tenants;  // empty: the config's default tenant
};

// One step of a pipeline: `count` calls in parallel, started when every call
// of every stage in `after` has completed.
struct Stage {
    std::string name;
    int count = 1;
    std::vector<std::size_t> after;  // indices of earlier stages
    RequestMix mix;                  // the workload's mix with this stage's overrides
};

struct Pipeline {
    std::string name;
    std::vector<Stage> stages;
};

// A recorded request: a Batch API line, or a usage record turned into a
// request of the same size.
struct ReplayEntry {
    std::size_t line = 0;  // in the replay file
    std::optional<Duration> at;  // since the first record
    std::optional<JobSpec> job;  // batch format
    // Usage format.
    ModelChoice model;
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    bool stream = false;
    std::string tenant;
    std::optional<int> priority;
};

enum class ReplayFormat : std::uint8_t { Batch, Usage };
enum class ReplayTiming : std::uint8_t { Recorded, Arrival };

struct Replay {
    std::string file;  // as resolved against the workload file's folder
    ReplayFormat format = ReplayFormat::Batch;
    ReplayTiming timing = ReplayTiming::Recorded;
    double speed = 1;  // recorded timing: 2 plays twice as fast
    bool loop = false; // arrival timing: start over when the file runs out
    std::vector<ReplayEntry> entries;
};

// What happens when the arrivals end: wait for every request to finish
// (Drain, up to drainTimeout), or stop sending, let what is in flight
// finish, and count the rest as not sent (Cut).
enum class EndMode : std::uint8_t { Drain, Cut };

struct Workload {
    std::string source;  // the workload file, for messages
    std::string name;
    Duration duration{};
    std::uint64_t seed = 1;
    ArrivalSpec arrival;
    RequestMix mix;
    std::optional<Pipeline> pipeline;
    std::optional<Replay> replay;
    EndMode end = EndMode::Drain;
    Duration drainTimeout = std::chrono::minutes(2);
    bool durationFromRecording = false;  // no duration_s: a recorded replay's length

    // Calls one arrival makes: 1, or the sum of the pipeline's stage counts.
    std::int64_t callsPerArrival() const;
    // The same workload run for `duration` (when given) with every arrival
    // rate, burst and recorded replay speed multiplied by `scale`.
    Workload withOverrides(std::optional<Duration> duration, double scale) const;
};

// Throws InputError listing every problem as "file:line: /pointer: problem";
// a replay file's problems as "replay-file:line: problem". Relative replay
// paths are resolved against `baseDir`.
Workload loadWorkload(const JsonSource& source, const std::string& baseDir);
Workload loadWorkloadFile(const std::string& path);

}  // namespace sluice::loadtest
