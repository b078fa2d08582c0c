#include "loadtest/workload.h"

#include "core/json_reader.h"
#include "core/timefmt.h"
#include "loadtest/replay_file.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace sluice::loadtest {

using nlohmann::json;

std::string_view arrivalProcessName(ArrivalProcess p) noexcept
{
    switch (p) {
    case ArrivalProcess::Constant: return "constant";
    case ArrivalProcess::Poisson: return "poisson";
    case ArrivalProcess::Ramp: return "ramp";
    case ArrivalProcess::Step: return "step";
    case ArrivalProcess::Spike: return "spike";
    }
    return "constant";
}

ArrivalSpec ArrivalSpec::scaled(double factor) const
{
    ArrivalSpec s = *this;
    s.rate *= factor;
    s.fromRate *= factor;
    s.toRate *= factor;
    for (RateStep& step : s.steps) {
        step.rate *= factor;
    }
    for (Spike& spike : s.spikes) {
        spike.rate *= factor;
        spike.count = static_cast<std::int64_t>(std::llround(static_cast<double>(spike.count) * factor));
    }
    return s;
}

std::int64_t Distribution::draw(std::mt19937_64& rng) const
{
    double v = value;
    switch (kind) {
    case Kind::Fixed: break;
    case Kind::Uniform:
        return std::uniform_int_distribution<std::int64_t>(static_cast<std::int64_t>(min),
                                                           static_cast<std::int64_t>(max))(rng);
    case Kind::Normal: v = std::normal_distribution<double>(value, sigma)(rng); break;
    case Kind::LogNormal: v = value * std::exp(std::normal_distribution<double>(0.0, sigma)(rng)); break;
    }
    if (kind != Kind::Fixed) {
        v = std::clamp(v, min, max);
    }
    return std::max<std::int64_t>(1, std::llround(v));
}

std::int64_t Distribution::upperBound() const
{
    return std::max<std::int64_t>(1, std::llround(kind == Kind::Fixed ? value : max));
}

namespace {

Duration recordingLength(const Replay& rp)
{
    const Duration span = rp.entries.empty() ? Duration::zero() : rp.entries.back().at.value_or(Duration::zero());
    // A millisecond past the last record, so the last one is inside the run.
    return Duration(static_cast<std::int64_t>(static_cast<double>(span.count()) / rp.speed)) +
           std::chrono::milliseconds(1);
}

}  // namespace

Workload Workload::withOverrides(std::optional<Duration> newDuration, double scale) const
{
    Workload w = *this;
    w.arrival = arrival.scaled(scale);
    if (w.replay) {
        w.replay->speed *= scale;
    }
    if (newDuration) {
        w.duration = *newDuration;
        w.durationFromRecording = false;
    } else if (w.durationFromRecording && w.replay) {
        w.duration = recordingLength(*w.replay);
    }
    return w;
}

std::int64_t Workload::callsPerArrival() const
{
    if (!pipeline) {
        return 1;
    }
    std::int64_t n = 0;
    for (const Stage& s : pipeline->stages) {
        n += s.count;
    }
    return n;
}

namespace {

constexpr double kMaxRate = 1e6;
constexpr double kMaxSeconds = 30.0 * 86400;
constexpr std::int64_t kMaxTokens = kMaxReplayTokens;

// Reads the workload document, collecting every problem.
class WorkloadReader {
public:
    WorkloadReader(const JsonSource& src, std::vector<std::string>& problems) : r(src, problems) {}

    JsonReader r;

    std::string where(std::string_view pointer) const
    {
        std::string s = r.src().describe(pointer, "");
        s.resize(s.size() - 2);  // the ": " before the (empty) message
        return s;
    }

    std::optional<Duration> secondsField(const json& obj, std::string_view p, const char* field, double min = 0)
    {
        if (auto v = r.number(obj, p, field, min, kMaxSeconds)) {
            return secondsToDuration(*v);
        }
        return std::nullopt;
    }

    void readSteps(const json& obj, const std::string& p, ArrivalSpec& a)
    {
        r.onlyKnown(obj, p, {"process", "steps", "poisson"});
        const std::string sp = jsonPointerAppend(p, "steps");
        const auto steps = obj.find("steps");
        if (steps == obj.end() || !steps->is_array() || steps->empty()) {
            r.problem(steps == obj.end() ? std::string_view(p) : std::string_view(sp),
                      "needs a non-empty \"steps\" array of {\"at_s\", \"rate\"}");
            return;
        }
        for (std::size_t i = 0; i < steps->size(); ++i) {
            const std::string one = jsonPointerAppend(sp, i);
            const json& s = (*steps)[i];
            if (!s.is_object()) {
                r.problem(one, "must be an object {\"at_s\", \"rate\"}");
                continue;
            }
            r.onlyKnown(s, one, {"at_s", "rate"});
            RateStep step;
            step.at = secondsField(s, one, "at_s").value_or(Duration::zero());
            step.rate = requiredRate(s, one, "rate");
            if (!a.steps.empty() && step.at < a.steps.back().at) {
                r.problem(jsonPointerAppend(one, "at_s"), "steps must be in order of at_s");
            }
            a.steps.push_back(step);
        }
    }

    void readSpikes(const json& obj, const std::string& p, ArrivalSpec& a)
    {
        r.onlyKnown(obj, p, {"process", "rate", "spikes", "poisson"});
        a.rate = requiredRate(obj, p, "rate");
        const std::string sp = jsonPointerAppend(p, "spikes");
        const auto spikes = obj.find("spikes");
        if (spikes == obj.end() || !spikes->is_array() || spikes->empty()) {
            r.problem(spikes == obj.end() ? std::string_view(p) : std::string_view(sp),
                      "needs a non-empty \"spikes\" array of {\"at_s\", \"for_s\", \"rate\"} or {\"at_s\", \"count\"}");
            return;
        }
        for (std::size_t i = 0; i < spikes->size(); ++i) {
            const std::string one = jsonPointerAppend(sp, i);
            const json& s = (*spikes)[i];
            if (!s.is_object()) {
                r.problem(one, "must be an object");
                continue;
            }
            r.onlyKnown(s, one, {"at_s", "for_s", "rate", "count"});
            Spike spike;
            if (!s.contains("at_s")) {
                r.problem(one, "missing \"at_s\"");
            }
            spike.at = secondsField(s, one, "at_s").value_or(Duration::zero());
            if (s.contains("count")) {
                if (s.contains("for_s") || s.contains("rate")) {
                    r.problem(one, "a burst has \"count\"; a spike has \"for_s\" and \"rate\"; not both");
                }
                spike.count = r.integer(s, one, "count", 1, 10'000'000).value_or(0);
            } else {
                spike.length = secondsField(s, one, "for_s", 0.001).value_or(Duration::zero());
                if (!s.contains("for_s")) {
                    r.problem(one, "missing \"for_s\" (or give \"count\" for a burst)");
                }
                spike.rate = requiredRate(s, one, "rate");
            }
            if (!a.spikes.empty() && spike.at < a.spikes.back().at) {
                r.problem(jsonPointerAppend(one, "at_s"), "spikes must be in order of at_s");
            }
            a.spikes.push_back(spike);
        }
        for (std::size_t i = 1; i < a.spikes.size(); ++i) {
            const Spike& prev = a.spikes[i - 1];
            if (prev.length > Duration::zero() && a.spikes[i].at < prev.at + prev.length) {
                r.problem(jsonPointerAppend(jsonPointerAppend(sp, i), "at_s"), "overlaps the spike before it");
            }
        }
    }

    ArrivalSpec arrival(const json& obj, const std::string& p)
    {
        ArrivalSpec a;
        const std::string process = r.string(obj, p, "process", true).value_or("constant");
        if (process == "constant") {
            a.process = ArrivalProcess::Constant;
        } else if (process == "poisson") {
            a.process = ArrivalProcess::Poisson;
        } else if (process == "ramp") {
            a.process = ArrivalProcess::Ramp;
        } else if (process == "step") {
            a.process = ArrivalProcess::Step;
        } else if (process == "spike" || process == "burst") {
            a.process = ArrivalProcess::Spike;
        } else {
            r.problem(jsonPointerAppend(p, "process"),
                      "must be one of \"constant\", \"poisson\", \"ramp\", \"step\", \"spike\" (got \"" + process + "\")");
        }
        switch (a.process) {
        case ArrivalProcess::Constant:
        case ArrivalProcess::Poisson:
            r.onlyKnown(obj, p, {"process", "rate"});
            a.rate = requiredRate(obj, p, "rate");
            a.poisson = a.process == ArrivalProcess::Poisson;
            break;
        case ArrivalProcess::Ramp:
            r.onlyKnown(obj, p, {"process", "from", "to", "ramp_s", "poisson"});
            a.fromRate = requiredRate(obj, p, "from");
            a.toRate = requiredRate(obj, p, "to");
            a.rampTime = secondsField(obj, p, "ramp_s", 0.001);
            break;
        case ArrivalProcess::Step:
            readSteps(obj, p, a);
            break;
        case ArrivalProcess::Spike:
            readSpikes(obj, p, a);
            break;
        }
        if (a.process != ArrivalProcess::Constant && a.process != ArrivalProcess::Poisson) {
            a.poisson = r.boolean(obj, p, "poisson").value_or(false);
        }
        return a;
    }

    double requiredRate(const json& obj, std::string_view p, const char* field)
    {
        if (!obj.contains(field)) {
            r.problem(p, std::string("missing \"") + field + "\" (arrivals per second)");
            return 0;
        }
        return r.number(obj, p, field, 0, kMaxRate).value_or(0);
    }

    std::optional<Distribution> distribution(const json& obj, std::string_view p, const char* field)
    {
        const auto it = obj.find(field);
        if (it == obj.end()) {
            return std::nullopt;
        }
        const std::string dp = jsonPointerAppend(p, field);
        Distribution d;
        if (it->is_number()) {
            const auto v = r.integer(obj, p, field, 1, kMaxTokens);
            d.value = static_cast<double>(v.value_or(1));
            return d;
        }
        if (!it->is_object()) {
            r.problem(dp, "must be a number or an object like {\"dist\": \"uniform\", \"min\": 100, \"max\": 900}");
            return std::nullopt;
        }
        const json& o = *it;
        const std::string kind = r.string(o, dp, "dist", true).value_or("fixed");
        const auto num = [&](const char* f, bool required, double fallback) {
            if (required && !o.contains(f)) {
                r.problem(dp, "\"" + kind + "\" needs \"" + f + "\"");
            }
            return r.number(o, dp, f, 0, static_cast<double>(kMaxTokens)).value_or(fallback);
        };
        if (kind == "fixed") {
            r.onlyKnown(o, dp, {"dist", "value"});
            d.kind = Distribution::Kind::Fixed;
            d.value = std::max(1.0, num("value", true, 1));
        } else if (kind == "uniform") {
            r.onlyKnown(o, dp, {"dist", "min", "max"});
            d.kind = Distribution::Kind::Uniform;
            d.min = std::max(1.0, num("min", true, 1));
            d.max = num("max", true, d.min);
        } else if (kind == "normal") {
            r.onlyKnown(o, dp, {"dist", "mean", "sigma", "min", "max"});
            d.kind = Distribution::Kind::Normal;
            d.value = num("mean", true, 1);
            d.sigma = num("sigma", true, 0);
            d.min = std::max(1.0, num("min", false, 1));
            d.max = num("max", false, d.value + 6 * d.sigma);
        } else if (kind == "lognormal") {
            r.onlyKnown(o, dp, {"dist", "median", "sigma", "min", "max"});
            d.kind = Distribution::Kind::LogNormal;
            d.value = num("median", true, 1);
            d.sigma = num("sigma", true, 0);
            d.min = std::max(1.0, num("min", false, 1));
            d.max = num("max", false, d.value * std::exp(4 * d.sigma));
        } else {
            r.problem(jsonPointerAppend(dp, "dist"),
                      "must be \"fixed\", \"uniform\", \"normal\" or \"lognormal\" (got \"" + kind + "\")");
            return std::nullopt;
        }
        if (d.kind != Distribution::Kind::Fixed && d.max < d.min) {
            r.problem(dp, "max must be at least min");
        }
        return d;
    }

    std::optional<ApiFlavor> flavor(const json& obj, std::string_view p)
    {
        if (auto f = r.string(obj, p, "flavor", false)) {
            ApiFlavor out = ApiFlavor::OpenAI;
            if (parseFlavor(*f, out)) {
                return out;
            }
            r.problem(jsonPointerAppend(p, "flavor"), "must be \"openai\" or \"anthropic\"");
        }
        return std::nullopt;
    }

    std::vector<ModelChoice> models(const json& list, const std::string& p)
    {
        std::vector<ModelChoice> out;
        if (list.is_string()) {
            ModelChoice m;
            m.model = list.get<std::string>();
            m.where = where(p);
            out.push_back(m);
            return out;
        }
        if (!list.is_array() || list.empty()) {
            r.problem(p, "must be a model name or a non-empty array of {\"model\", \"weight\"}");
            return out;
        }
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string one = jsonPointerAppend(p, i);
            ModelChoice m;
            m.where = where(one);
            if (list[i].is_string() && !list[i].get_ref<const std::string&>().empty()) {
                m.model = list[i].get<std::string>();
                out.push_back(m);
                continue;
            }
            if (!list[i].is_object()) {
                r.problem(one, "must be a model name or an object {\"model\", \"weight\"}");
                continue;
            }
            const json& o = list[i];
            r.onlyKnown(o, one, {"model", "weight", "flavor", "provider"});
            m.model = r.string(o, one, "model", true).value_or("");
            m.where = where(jsonPointerAppend(one, "model"));
            m.weight = r.number(o, one, "weight", 0, 1e9).value_or(1);
            m.flavor = flavor(o, one);
            m.provider = r.string(o, one, "provider", false).value_or("");
            out.push_back(m);
        }
        return out;
    }

    // Fields a mix and a stage share: models, sizes, streaming.
    void mixFields(const json& obj, const std::string& p, RequestMix& mix)
    {
        if (const auto m = obj.find("models"); m != obj.end()) {
            mix.models = models(*m, jsonPointerAppend(p, "models"));
        } else if (const auto one = obj.find("model"); one != obj.end()) {
            mix.models = models(*one, jsonPointerAppend(p, "model"));
        }
        if (auto d = distribution(obj, p, "prompt_tokens")) {
            mix.promptTokens = *d;
        }
        if (auto d = distribution(obj, p, "max_tokens")) {
            mix.maxTokens = *d;
        }
        mix.streamShare = r.number(obj, p, "stream_share", 0, 1).value_or(mix.streamShare);
    }

    RequestMix mix(const json& obj, const std::string& p)
    {
        r.onlyKnown(obj, p, {"models", "model", "prompt_tokens", "max_tokens", "stream_share", "tenants"});
        RequestMix m;
        mixFields(obj, p, m);
        if (m.models.empty() && !obj.contains("models") && !obj.contains("model")) {
            r.problem(p, "missing \"models\"");
        }
        if (const auto t = obj.find("tenants"); t != obj.end()) {
            const std::string tp = jsonPointerAppend(p, "tenants");
            if (!t->is_array()) {
                r.problem(tp, "must be an array of {\"name\", \"weight\", \"priority\"}");
            } else {
                for (std::size_t i = 0; i < t->size(); ++i) {
                    const std::string one = jsonPointerAppend(tp, i);
                    if (!(*t)[i].is_object()) {
                        r.problem(one, "must be an object {\"name\", \"weight\", \"priority\"}");
                        continue;
                    }
                    const json& o = (*t)[i];
                    r.onlyKnown(o, one, {"name", "weight", "priority"});
                    TenantChoice tc;
                    tc.name = r.string(o, one, "name", true).value_or("");
                    tc.weight = r.number(o, one, "weight", 0, 1e9).value_or(1);
                    if (auto pr = r.integer(o, one, "priority", -1000, 1000)) {
                        tc.priority = static_cast<int>(*pr);
                    }
                    m.tenants.push_back(tc);
                }
            }
        }
        checkWeights(m, p);
        return m;
    }

    void checkWeights(const RequestMix& m, const std::string& p)
    {
        double models = 0;
        for (const ModelChoice& c : m.models) {
            models += c.weight;
        }
        if (!m.models.empty() && models <= 0) {
            r.problem(jsonPointerAppend(p, "models"), "the weights must not all be zero");
        }
        double tenants = 0;
        for (const TenantChoice& t : m.tenants) {
            tenants += t.weight;
        }
        if (!m.tenants.empty() && tenants <= 0) {
            r.problem(jsonPointerAppend(p, "tenants"), "the weights must not all be zero");
        }
    }

    Pipeline pipeline(const json& obj, const std::string& p, const RequestMix& base)
    {
        r.onlyKnown(obj, p, {"name", "stages"});
        Pipeline pl;
        pl.name = r.string(obj, p, "name", false).value_or("pipeline");
        const std::string sp = jsonPointerAppend(p, "stages");
        const auto stages = obj.find("stages");
        if (stages == obj.end() || !stages->is_array() || stages->empty()) {
            r.problem(stages == obj.end() ? std::string_view(p) : std::string_view(sp),
                      "needs a non-empty \"stages\" array");
            return pl;
        }
        std::map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < stages->size(); ++i) {
            const std::string one = jsonPointerAppend(sp, i);
            const json& s = (*stages)[i];
            if (!s.is_object()) {
                r.problem(one, "must be an object with a \"name\"");
                continue;
            }
            r.onlyKnown(s, one,
                        {"name", "count", "after", "models", "model", "prompt_tokens", "max_tokens", "stream_share"});
            Stage st;
            st.name = r.string(s, one, "name", true).value_or("");
            if (!st.name.empty() && !index.emplace(st.name, pl.stages.size()).second) {
                r.problem(jsonPointerAppend(one, "name"), "duplicate stage name \"" + st.name + "\"");
            }
            st.count = static_cast<int>(r.integer(s, one, "count", 1, 10'000).value_or(1));
            st.mix = base;
            mixFields(s, one, st.mix);
            checkWeights(st.mix, one);
            if (const auto after = s.find("after"); after != s.end()) {
                const std::string ap = jsonPointerAppend(one, "after");
                const json list = after->is_string() ? json::array({*after}) : *after;
                if (!list.is_array()) {
                    r.problem(ap, "must be a stage name or an array of stage names");
                } else {
                    for (std::size_t k = 0; k < list.size(); ++k) {
                        const std::string name = list[k].is_string() ? list[k].get<std::string>() : std::string();
                        const auto it = index.find(name);
                        if (it == index.end() || it->second >= pl.stages.size()) {
                            r.problem(after->is_string() ? ap : jsonPointerAppend(ap, k),
                                      "\"" + name + "\" is not an earlier stage (a stage runs after stages above it)");
                            continue;
                        }
                        st.after.push_back(it->second);
                    }
                }
            } else if (!pl.stages.empty()) {
                // Without "after", stages run one after another.
                st.after.push_back(pl.stages.size() - 1);
            }
            pl.stages.push_back(std::move(st));
        }
        return pl;
    }

    Replay replay(const json& obj, const std::string& p, const std::string& baseDir)
    {
        r.onlyKnown(obj, p, {"file", "format", "timing", "speed", "loop"});
        Replay rp;
        const std::string file = r.string(obj, p, "file", true).value_or("");
        const std::string format = r.string(obj, p, "format", false).value_or("batch");
        if (format == "usage") {
            rp.format = ReplayFormat::Usage;
        } else if (format != "batch") {
            r.problem(jsonPointerAppend(p, "format"), "must be \"batch\" or \"usage\"");
        }
        const std::string timing =
            r.string(obj, p, "timing", false).value_or(rp.format == ReplayFormat::Usage ? "recorded" : "arrival");
        if (timing == "arrival") {
            rp.timing = ReplayTiming::Arrival;
        } else if (timing != "recorded") {
            r.problem(jsonPointerAppend(p, "timing"), "must be \"recorded\" or \"arrival\"");
        }
        rp.speed = r.number(obj, p, "speed", 1e-6, 1e6).value_or(1);
        rp.loop = r.boolean(obj, p, "loop").value_or(false);
        if (file.empty()) {
            return rp;
        }
        const std::filesystem::path path(file);
        rp.file = path.is_absolute() || baseDir.empty() ? file : (std::filesystem::path(baseDir) / path).string();
        std::ifstream in(rp.file, std::ios::binary);
        if (!in) {
            r.problem(jsonPointerAppend(p, "file"), "cannot open " + rp.file);
            return rp;
        }
        std::ostringstream text;
        text << in.rdbuf();
        readReplayEntries(text.str(), rp, replayProblems);
        return rp;
    }

    // Problems inside the replay file, named by that file and its line.
    std::vector<std::string> replayProblems;
};

}  // namespace

Workload loadWorkload(const JsonSource& src, const std::string& baseDir)
{
    std::vector<std::string> problems;
    WorkloadReader w(src, problems);
    JsonReader& r = w.r;
    const json& root = src.root();
    if (!root.is_object()) {
        throw InputError(src.describe("", "the workload must be a JSON object"));
    }
    r.onlyKnown(root, "",
                {"name", "duration_s", "seed", "arrival", "mix", "pipeline", "replay", "end", "drain_timeout_s",
                 "$schema", "comment"});
    Workload wl;
    wl.source = src.name();
    wl.name = r.string(root, "", "name", false).value_or(std::filesystem::path(src.name()).stem().string());
    if (auto s = r.integer(root, "", "seed", 0, std::numeric_limits<std::int64_t>::max())) {
        wl.seed = static_cast<std::uint64_t>(*s);
    }
    if (const json* rp = r.object(root, "", "replay", false)) {
        wl.replay = w.replay(*rp, "/replay", baseDir);
    }
    const bool recorded = wl.replay && wl.replay->timing == ReplayTiming::Recorded;
    if (auto d = w.secondsField(root, "", "duration_s", 0.001)) {
        wl.duration = *d;
    } else if (!root.contains("duration_s")) {
        if (recorded) {
            wl.duration = recordingLength(*wl.replay);
            wl.durationFromRecording = true;
        } else {
            r.problem("", "missing \"duration_s\"");
        }
    }
    if (const json* a = r.object(root, "", "arrival", !recorded)) {
        if (recorded) {
            r.problem("/arrival", "a replay with \"timing\": \"recorded\" keeps the recorded times; remove \"arrival\"");
        } else {
            wl.arrival = w.arrival(*a, "/arrival");
        }
    }
    const bool mixNeeded = !wl.replay;
    if (const json* m = r.object(root, "", "mix", mixNeeded)) {
        if (wl.replay) {
            r.problem("/mix", "a replay takes its requests from the file; remove \"mix\"");
        } else {
            wl.mix = w.mix(*m, "/mix");
        }
    }
    if (const json* p = r.object(root, "", "pipeline", false)) {
        if (wl.replay) {
            r.problem("/pipeline", "a replay cannot also be a pipeline");
        } else {
            wl.pipeline = w.pipeline(*p, "/pipeline", wl.mix);
        }
    }
    if (auto e = r.string(root, "", "end", false)) {
        if (*e == "cut") {
            wl.end = EndMode::Cut;
        } else if (*e != "drain") {
            r.problem("/end", "must be \"drain\" (wait for every request) or \"cut\" (stop at the duration)");
        }
    }
    if (auto d = w.secondsField(root, "", "drain_timeout_s", 0)) {
        wl.drainTimeout = *d;
    }
    problems.insert(problems.end(), w.replayProblems.begin(), w.replayProblems.end());
    throwIfProblems(src.name(), problems);
    return wl;
}

Workload loadWorkloadFile(const std::string& path)
{
    return loadWorkload(JsonSource::fromFile(path), std::filesystem::path(path).parent_path().string());
}

}  // namespace sluice::loadtest
