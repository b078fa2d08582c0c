#include "loadtest/replay_file.h"

#include "core/json_reader.h"
#include "core/timefmt.h"
#include "queue/batch_input.h"

#include <algorithm>
#include <sstream>

namespace sluice::loadtest {

namespace {

using nlohmann::json;

// Reads one replay file's lines, collecting problems named by file and line.
class ReplayFileReader {
public:
    explicit ReplayFileReader(std::vector<std::string>& out) : problems(out) {}

    std::vector<std::string>& problems;

    void lineProblem(const Replay& rp, std::size_t line, const std::string& what)
    {
        if (problems.size() < 50) {
            problems.push_back(rp.file + ":" + std::to_string(line) + ": " + what);
        }
    }

    static std::vector<std::string> splitLines(const std::string& text)
    {
        std::vector<std::string> lines;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            lines.push_back(line);
        }
        return lines;
    }

    // Seconds since the recording started: "at_s", or an RFC 3339 "at".
    std::optional<Duration> recordedTime(const Replay& rp, std::size_t line, const json& obj)
    {
        if (const auto s = obj.find("at_s"); s != obj.end()) {
            if (!s->is_number() || s->get<double>() < 0) {
                lineProblem(rp, line, "at_s: must be a number of seconds >= 0");
                return std::nullopt;
            }
            return secondsToDuration(s->get<double>());
        }
        if (const auto a = obj.find("at"); a != obj.end()) {
            const auto t = a->is_string() ? parseRfc3339(a->get<std::string>()) : std::nullopt;
            if (!t) {
                lineProblem(rp, line, "at: must be an RFC 3339 time like \"2026-01-01T12:00:00.250Z\"");
                return std::nullopt;
            }
            return t->time_since_epoch();
        }
        if (rp.timing == ReplayTiming::Recorded) {
            lineProblem(rp, line, "at_s or at: required for \"timing\": \"recorded\" (or use \"timing\": \"arrival\")");
        }
        return std::nullopt;
    }

    void readBatchReplay(const std::string& text, Replay& rp)
    {
        std::istringstream in(text);
        BatchInput input = readBatchInput(in);
        for (const RejectedLine& bad : input.rejects) {
            lineProblem(rp, bad.line, bad.error);
        }
        const std::vector<std::string> lines = splitLines(text);
        for (BatchLine& bl : input.lines) {
            const json obj = json::parse(lines[bl.line - 1], nullptr, false);
            ReplayEntry e;
            e.line = bl.line;
            e.at = recordedTime(rp, bl.line, obj);
            e.job = std::move(bl.job);
            rp.entries.push_back(std::move(e));
        }
    }

    void readUsageReplay(const std::string& text, Replay& rp)
    {
        const std::vector<std::string> lines = splitLines(text);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const std::size_t line = i + 1;
            if (lines[i].find_first_not_of(" \t") == std::string::npos) {
                continue;
            }
            const json obj = json::parse(lines[i], nullptr, false);
            if (!obj.is_object()) {
                lineProblem(rp, line, "must be a JSON object");
                continue;
            }
            ReplayEntry e;
            e.line = line;
            e.at = recordedTime(rp, line, obj);
            const auto str = [&](const char* f) {
                const auto it = obj.find(f);
                return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
            };
            const auto count = [&](const char* f, bool required) -> std::int64_t {
                const auto it = obj.find(f);
                if (it == obj.end()) {
                    if (required) {
                        lineProblem(rp, line, std::string(f) + ": required");
                    }
                    return 0;
                }
                if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > kMaxReplayTokens) {
                    lineProblem(rp, line, std::string(f) + ": must be a whole number of tokens");
                    return 0;
                }
                return it->get<std::int64_t>();
            };
            e.model.model = str("model");
            if (e.model.model.empty()) {
                lineProblem(rp, line, "model: required");
            }
            e.model.provider = str("provider");
            e.model.where = rp.file + ":" + std::to_string(line) + ": model";
            if (const std::string f = str("flavor"); !f.empty()) {
                ApiFlavor fl = ApiFlavor::OpenAI;
                if (!parseFlavor(f, fl)) {
                    lineProblem(rp, line, "flavor: must be \"openai\" or \"anthropic\"");
                }
                e.model.flavor = fl;
            }
            e.inputTokens = count("input_tokens", true);
            e.outputTokens = std::max<std::int64_t>(1, count("output_tokens", true));
            e.tenant = str("tenant");
            if (const auto pr = obj.find("priority"); pr != obj.end()) {
                if (!pr->is_number_integer()) {
                    lineProblem(rp, line, "priority: must be a whole number");
                } else {
                    e.priority = pr->get<int>();
                }
            }
            if (const auto s = obj.find("stream"); s != obj.end()) {
                e.stream = s->is_boolean() && s->get<bool>();
            }
            rp.entries.push_back(std::move(e));
        }
    }
};

}  // namespace

void readReplayEntries(const std::string& text, Replay& rp, std::vector<std::string>& problems)
{
    ReplayFileReader reader(problems);
    if (rp.format == ReplayFormat::Batch) {
        reader.readBatchReplay(text, rp);
    } else {
        reader.readUsageReplay(text, rp);
    }
    if (rp.entries.empty() && problems.empty()) {
        problems.push_back(rp.file + ": no requests to replay");
    }
    std::stable_sort(rp.entries.begin(), rp.entries.end(), [](const ReplayEntry& a, const ReplayEntry& b) {
        return a.at.value_or(Duration::zero()) < b.at.value_or(Duration::zero());
    });
    if (rp.timing == ReplayTiming::Recorded && !rp.entries.empty()) {
        const Duration first = rp.entries.front().at.value_or(Duration::zero());
        for (ReplayEntry& e : rp.entries) {
            e.at = e.at.value_or(Duration::zero()) - first;
        }
    }
}

}  // namespace sluice::loadtest
