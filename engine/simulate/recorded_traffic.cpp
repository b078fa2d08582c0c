#include "simulate/recorded_traffic.h"

#include "core/timefmt.h"
#include "metrics/rollup_store.h"
#include "store/sqlite.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <system_error>

namespace sluice::simulate {

namespace {

using namespace std::chrono_literals;

std::string windowLabel(const std::string& what, WallTime start, Duration length)
{
    return what + ", " + formatRfc3339(start) + " + " + formatGoDuration(std::chrono::ceil<std::chrono::seconds>(length));
}

std::vector<MinuteFigures> emptyMinutes(Duration length)
{
    const auto n = std::max<std::int64_t>(1, (length + 1min - 1ns) / 1min);
    return std::vector<MinuteFigures>(static_cast<std::size_t>(n));
}

std::size_t minuteIndex(Duration offset, std::size_t count)
{
    const auto i = std::max<std::int64_t>(0, offset / 1min);
    return std::min(static_cast<std::size_t>(i), count - 1);
}

// One minute's rollup row as requests spread evenly over the minute, and
// its minute's figures.
void addRollupRow(RecordedTraffic& t, const metrics::RollupRow& row)
{
    const metrics::Tally& tally = row.tally;
    // First attempts are the requests that arrived; retries were ours.
    const std::int64_t arrivals =
        std::max<std::int64_t>(static_cast<std::int64_t>(tally.sent) - static_cast<std::int64_t>(tally.retries),
                               static_cast<std::int64_t>(tally.completed));
    const Duration minuteOffset = row.minute - t.start;
    MinuteFigures& m = t.recorded.minutes[minuteIndex(minuteOffset, t.recorded.minutes.size())];
    m.completed += tally.completed;
    m.rateLimited += tally.failuresOf(FailureClass::RateLimited);
    m.spendMicroUsd += tally.spendMicroUsd;
    if (arrivals <= 0) {
        return;
    }
    // A minute's mean tokens per request; the reservation's mean as its
    // max_tokens, so the replay reserves what the real run reserved.
    const auto meanOf = [](std::int64_t sum, std::int64_t n) { return n > 0 ? (sum + n / 2) / n : 0; };
    const std::int64_t answered = tally.completed;
    const std::int64_t input = answered > 0 ? meanOf(tally.inputTokens, answered)
                                            : meanOf(tally.estimatedInputTokens, std::max<std::int64_t>(1, tally.sent));
    const std::int64_t output = answered > 0 ? meanOf(tally.outputTokens, answered) : 1;
    const std::int64_t reserved = answered > 0 ? meanOf(tally.estimatedOutputTokens, answered) : output;
    for (std::int64_t i = 0; i < arrivals; ++i) {
        RecordedRequest r;
        r.offset = minuteOffset + (2 * i + 1) * Duration(1min) / (2 * arrivals);
        r.provider = row.provider;
        r.model = row.model;
        r.inputTokens = std::max<std::int64_t>(1, input);
        r.outputTokens = std::max<std::int64_t>(1, output);
        r.maxTokens = std::max(r.outputTokens, reserved);
        t.requests.push_back(std::move(r));
    }
}

// The run's figures from the window's totals.
void fillRollupFigures(RecordedTraffic& t, const metrics::Totals& totals)
{
    RunFigures& f = t.recorded;
    f.requests = static_cast<std::int64_t>(t.requests.size());
    f.completed = static_cast<std::int64_t>(totals.completed);
    f.rateLimited = static_cast<std::int64_t>(totals.failuresOf(FailureClass::RateLimited));
    f.serverErrors = static_cast<std::int64_t>(totals.failuresOf(FailureClass::ServerError) +
                                               totals.failuresOf(FailureClass::Overloaded));
    f.timeouts = static_cast<std::int64_t>(totals.failuresOf(FailureClass::Timeout));
    f.attempts = static_cast<std::int64_t>(totals.sent);
    f.failed = std::max<std::int64_t>(0, f.requests - f.completed);
    f.spendMicroUsd = totals.spendMicroUsd;
    f.inputTokens = totals.inputTokens;
    f.outputTokens = totals.outputTokens;
    f.latencyP50 = totals.latency.quantile(0.5);
    f.latencyP95 = totals.latency.quantile(0.95);
    if (const std::uint64_t n = totals.latency.count(); n > 0) {
        t.meanLatency = std::chrono::microseconds(totals.latency.sumUs() / static_cast<std::int64_t>(n));
    }
    const std::int64_t missed = static_cast<std::int64_t>(totals.failuresOf(FailureClass::DeadlineExceeded));
    if (missed > 0) {
        f.missedDeadlines = missed;
    }
}

}  // namespace

RecordedTraffic readRollupTraffic(const std::filesystem::path& database, Duration window)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(database, ec)) {
        throw RecordedTrafficError(database.string() + ": no such workspace database");
    }
    std::vector<metrics::RollupRow> rows;
    std::optional<std::pair<WallTime, WallTime>> extent;
    try {
        store::StoreOptions options;
        options.readOnly = true;
        const metrics::RollupStore store(database, options);
        extent = store.extent();
        if (!extent) {
            throw RecordedTrafficError(database.string() + ": the workspace has no recorded usage (no per-minute rollups)");
        }
        const WallTime end = extent->second + 1min;
        const WallTime from = std::max(extent->first, end - window);
        rows = store.rows(from, end);
        extent->first = from;
        extent->second = end;
    } catch (const store::StoreError& e) {
        throw RecordedTrafficError(std::string(e.what()));
    }

    RecordedTraffic t;
    t.start = extent->first;
    t.length = extent->second - extent->first;
    t.source = windowLabel(database.filename().string(), t.start, t.length);
    t.recorded.span = t.length;
    t.recorded.minutes = emptyMinutes(t.length);
    metrics::Totals totals;
    for (const metrics::RollupRow& row : rows) {
        totals.merge(row.tally);
        addRollupRow(t, row);
    }
    std::stable_sort(t.requests.begin(), t.requests.end(),
                     [](const RecordedRequest& a, const RecordedRequest& b) { return a.offset < b.offset; });
    fillRollupFigures(t, totals);
    return t;
}

namespace {

// Prompt and output tokens from a response body, either dialect.
std::optional<std::pair<std::int64_t, std::int64_t>> usageOf(const std::string& body)
{
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object()) {
        return std::nullopt;
    }
    const auto usage = doc.find("usage");
    if (usage == doc.end() || !usage->is_object()) {
        return std::nullopt;
    }
    const auto number = [&](const char* a, const char* b) -> std::int64_t {
        for (const char* name : {a, b}) {
            if (const auto it = usage->find(name); it != usage->end() && it->is_number_integer()) {
                return it->get<std::int64_t>();
            }
        }
        return 0;
    };
    return std::make_pair(number("prompt_tokens", "input_tokens"), number("completion_tokens", "output_tokens"));
}

std::int64_t maxTokensOf(const std::string& body)
{
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_object()) {
        for (const char* name : {"max_tokens", "max_completion_tokens"}) {
            if (const auto it = doc.find(name); it != doc.end() && it->is_number_integer()) {
                return it->get<std::int64_t>();
            }
        }
    }
    return 0;
}

// One job of a workspace's store, as a replay needs it.
struct JobRow {
    std::int64_t createdMs = 0;
    std::string model;
    std::string provider;
    std::optional<std::int64_t> deadlineMs;
    int state = 0;
    std::optional<std::int64_t> finishedMs;
    std::int64_t maxTokens = 0;
    std::optional<std::pair<std::int64_t, std::int64_t>> usage;
    std::optional<std::int64_t> firstSentMs;
    std::optional<std::int64_t> lastSentMs;
    std::int64_t rateLimited = 0;
    std::int64_t serverErrors = 0;
    std::int64_t timeouts = 0;
};

// The jobs created in the last `window` of the store's recording, oldest
// first, with their results' usage and their attempts' failures.
std::vector<JobRow> readJobRows(const std::filesystem::path& database, Duration window)
{
    std::vector<JobRow> jobs;
    try {
        store::Database db(database, store::OpenMode::ReadOnly);
        if (db.queryInt64("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'") == 0) {
            throw RecordedTrafficError(database.string() + ": not a workspace database (no job store)");
        }
        const std::int64_t last = db.queryInt64("SELECT coalesce(max(created_ms), 0) FROM jobs");
        const std::int64_t from = last - std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
        store::Statement sel(db,
                             "SELECT j.created_ms, j.model, j.provider, j.deadline_ms, j.state, j.finished_ms, j.body, "
                             "r.body, "
                             "(SELECT min(at_ms) FROM events e WHERE e.job_id = j.id AND e.kind = 'sent'), "
                             "(SELECT max(at_ms) FROM events e WHERE e.job_id = j.id AND e.kind = 'sent'), "
                             "(SELECT count(*) FROM attempts a WHERE a.job_id = j.id AND a.error_class = 'rate_limited'), "
                             "(SELECT count(*) FROM attempts a WHERE a.job_id = j.id "
                             "AND a.error_class IN ('server_error', 'overloaded')), "
                             "(SELECT count(*) FROM attempts a WHERE a.job_id = j.id AND a.error_class = 'timeout') "
                             "FROM jobs j LEFT JOIN results r ON r.job_id = j.id "
                             "WHERE j.created_ms >= ?1 ORDER BY j.created_ms, j.id");
        sel.bind(1, from);
        while (sel.step()) {
            JobRow j;
            j.createdMs = sel.int64(0);
            j.model = sel.text(1);
            j.provider = sel.text(2);
            j.deadlineMs = sel.optionalInt64(3);
            j.state = sel.int32(4);
            j.finishedMs = sel.optionalInt64(5);
            j.maxTokens = maxTokensOf(sel.text(6));
            if (const auto result = sel.optionalText(7)) {
                j.usage = usageOf(*result);
            }
            j.firstSentMs = sel.optionalInt64(8);
            j.lastSentMs = sel.optionalInt64(9);
            j.rateLimited = sel.int64(10);
            j.serverErrors = sel.int64(11);
            j.timeouts = sel.int64(12);
            jobs.push_back(std::move(j));
        }
    } catch (const store::StoreError& e) {
        throw RecordedTrafficError(std::string(e.what()));
    }
    return jobs;
}

// What the per-job pass gathers beyond the run's figures.
struct JobTallies {
    std::vector<Duration> waits;
    std::vector<Duration> latencies;
    Duration latencySum{};
    std::int64_t missed = 0;
    bool anyDeadline = false;
};

// One job as a request to replay, counted into the run's figures and its
// minute's.
RecordedRequest recordJob(const JobRow& j, WallTime start, std::int64_t meanIn, std::int64_t meanOut,
                          RunFigures& f, JobTallies& acc)
{
    const auto ms = [](std::int64_t v) { return WallTime(std::chrono::milliseconds(v)); };
    RecordedRequest r;
    r.offset = ms(j.createdMs) - start;
    r.provider = j.provider;
    r.model = j.model;
    r.inputTokens = std::max<std::int64_t>(1, j.usage ? j.usage->first : meanIn);
    r.outputTokens = std::max<std::int64_t>(1, j.usage ? j.usage->second : meanOut);
    r.maxTokens = std::max(r.outputTokens, j.maxTokens);
    if (j.deadlineMs) {
        r.deadline = std::max<Duration>(1ms, std::chrono::milliseconds(*j.deadlineMs - j.createdMs));
        acc.anyDeadline = true;
        acc.missed += j.state == 3 || (j.finishedMs && *j.finishedMs > *j.deadlineMs);
    }
    ++f.requests;
    f.rateLimited += j.rateLimited;
    f.serverErrors += j.serverErrors;
    f.timeouts += j.timeouts;
    f.attempts += j.rateLimited + j.serverErrors + j.timeouts + (j.firstSentMs ? 1 : 0);
    if (j.firstSentMs) {
        acc.waits.push_back(std::chrono::milliseconds(std::max<std::int64_t>(0, *j.firstSentMs - j.createdMs)));
    }
    const std::int64_t endedMs = j.finishedMs.value_or(j.createdMs);
    MinuteFigures& m = f.minutes[minuteIndex(ms(endedMs) - start, f.minutes.size())];
    m.rateLimited += j.rateLimited;
    if (j.state == 2) {
        ++f.completed;
        ++m.completed;
        if (j.usage) {
            f.inputTokens += j.usage->first;
            f.outputTokens += j.usage->second;
        }
        if (j.lastSentMs && j.finishedMs) {
            const Duration latency = std::chrono::milliseconds(std::max<std::int64_t>(0, *j.finishedMs - *j.lastSentMs));
            acc.latencies.push_back(latency);
            acc.latencySum += latency;
        }
    } else if (j.state == 3) {
        ++f.failed;
    }
    return r;
}

}  // namespace

RecordedTraffic readJobStoreTraffic(const std::filesystem::path& database, Duration window)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(database, ec)) {
        throw RecordedTrafficError(database.string() + ": no such workspace database");
    }
    const std::vector<JobRow> jobs = readJobRows(database, window);
    RecordedTraffic t;
    t.spendRecorded = false;
    if (jobs.empty()) {
        return t;
    }
    const auto ms = [](std::int64_t v) { return WallTime(std::chrono::milliseconds(v)); };
    t.start = ms(jobs.front().createdMs);
    std::int64_t endMs = jobs.back().createdMs + 1;
    // Jobs with no usage (failed, unfinished) take the mean of those with.
    std::int64_t inSum = 0;
    std::int64_t outSum = 0;
    std::int64_t withUsage = 0;
    for (const JobRow& j : jobs) {
        endMs = std::max(endMs, j.finishedMs.value_or(0));
        if (j.usage) {
            inSum += j.usage->first;
            outSum += j.usage->second;
            ++withUsage;
        }
    }
    const std::int64_t meanIn = withUsage > 0 ? inSum / withUsage : 100;
    const std::int64_t meanOut = withUsage > 0 ? outSum / withUsage : 50;
    t.length = std::max<Duration>(1s, ms(jobs.back().createdMs) - t.start + 1ms);
    t.source = windowLabel(database.filename().string() + " (jobs)", t.start, t.length);
    RunFigures& f = t.recorded;
    f.span = ms(endMs) - t.start;
    f.minutes = emptyMinutes(std::max(t.length, f.span));
    JobTallies acc;
    for (const JobRow& j : jobs) {
        t.requests.push_back(recordJob(j, t.start, meanIn, meanOut, f, acc));
    }
    f.waitP50 = quantileOf(acc.waits, 0.5);
    f.waitP95 = quantileOf(acc.waits, 0.95);
    if (!acc.latencies.empty()) {
        t.meanLatency = acc.latencySum / static_cast<std::int64_t>(acc.latencies.size());
    }
    f.latencyP50 = quantileOf(acc.latencies, 0.5);
    f.latencyP95 = quantileOf(acc.latencies, 0.95);
    if (acc.anyDeadline) {
        f.missedDeadlines = acc.missed;
    }
    return t;
}

RecordedTraffic readWorkspaceTraffic(const std::filesystem::path& database, Duration window)
{
    RecordedTraffic jobs = readJobStoreTraffic(database, window);
    if (!jobs.requests.empty()) {
        return jobs;
    }
    return readRollupTraffic(database, window);
}

namespace {

struct JsonlLine {
    std::size_t line = 0;
    WallTime at{};
    RecordedRequest request;
    std::optional<Duration> wait;
    std::optional<Duration> latency;
    long status = 200;
};

[[noreturn]] void badLine(const std::filesystem::path& file, std::size_t line, const std::string& what)
{
    throw RecordedTrafficError(file.string() + ":" + std::to_string(line) + ": " + what);
}

std::int64_t wholeField(const nlohmann::json& doc, const char* name, const std::filesystem::path& file,
                        std::size_t line, bool required, std::int64_t min)
{
    const auto it = doc.find(name);
    if (it == doc.end()) {
        if (required) {
            badLine(file, line, std::string("missing field \"") + name + "\"");
        }
        return min;
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() < min) {
        badLine(file, line, std::string("\"") + name + "\" must be a whole number of at least " + std::to_string(min));
    }
    return it->get<std::int64_t>();
}

JsonlLine parseLine(const std::string& text, const std::filesystem::path& file, std::size_t line)
{
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        badLine(file, line, "not a JSON object");
    }
    JsonlLine l;
    l.line = line;
    if (const auto at = doc.find("at"); at != doc.end()) {
        const auto parsed = at->is_string() ? parseRfc3339(at->get<std::string>()) : std::nullopt;
        if (!parsed) {
            badLine(file, line, "\"at\" must be an RFC 3339 time such as 2026-01-01T00:00:00Z");
        }
        l.at = *parsed;
    } else if (doc.contains("at_ms")) {
        l.at = WallTime(std::chrono::milliseconds(wholeField(doc, "at_ms", file, line, true, 0)));
    } else {
        badLine(file, line, "missing field \"at_ms\" (or \"at\")");
    }
    const auto model = doc.find("model");
    if (model == doc.end() || !model->is_string() || model->get<std::string>().empty()) {
        badLine(file, line, "\"model\" must be a model name");
    }
    l.request.model = model->get<std::string>();
    if (const auto p = doc.find("provider"); p != doc.end()) {
        if (!p->is_string()) {
            badLine(file, line, "\"provider\" must be a provider name");
        }
        l.request.provider = p->get<std::string>();
    }
    l.request.inputTokens = wholeField(doc, "input_tokens", file, line, true, 1);
    l.request.outputTokens = wholeField(doc, "output_tokens", file, line, true, 1);
    l.request.maxTokens = std::max(l.request.outputTokens, wholeField(doc, "max_tokens", file, line, false, 0));
    if (doc.contains("deadline_s")) {
        l.request.deadline = std::chrono::seconds(wholeField(doc, "deadline_s", file, line, true, 1));
    }
    if (doc.contains("wait_ms")) {
        l.wait = std::chrono::milliseconds(wholeField(doc, "wait_ms", file, line, true, 0));
    }
    if (doc.contains("latency_ms")) {
        l.latency = std::chrono::milliseconds(wholeField(doc, "latency_ms", file, line, true, 0));
    }
    if (doc.contains("status")) {
        l.status = static_cast<long>(wholeField(doc, "status", file, line, true, 0));
    }
    return l;
}

// Every non-blank line of a recorded JSONL file, or an error naming the
// file and line.
std::vector<JsonlLine> readJsonlLines(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw RecordedTrafficError(file.string() + ": cannot be read");
    }
    std::vector<JsonlLine> lines;
    std::string text;
    std::size_t number = 0;
    while (std::getline(in, text)) {
        ++number;
        if (text.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        lines.push_back(parseLine(text, file, number));
    }
    if (in.bad()) {
        throw RecordedTrafficError(file.string() + ": read error");
    }
    if (lines.empty()) {
        throw RecordedTrafficError(file.string() + ": no recorded requests");
    }
    return lines;
}

// One recorded request's outcome in the run's figures and its minute's.
void countStatus(const JsonlLine& l, RunFigures& f, MinuteFigures& m)
{
    ++f.requests;
    if (l.status == 200) {
        ++f.completed;
        ++m.completed;
        f.inputTokens += l.request.inputTokens;
        f.outputTokens += l.request.outputTokens;
    } else if (l.status == 429) {
        ++f.rateLimited;
        ++m.rateLimited;
        ++f.failed;
    } else if (l.status == 0 || l.status == 408 || l.status == 504) {
        // No answer in time (0: the client gave up).
        ++f.timeouts;
        ++f.failed;
    } else if (l.status >= 500) {
        ++f.serverErrors;
        ++f.failed;
    } else {
        ++f.failed;
    }
}

}  // namespace

RecordedTraffic readRecordedJsonl(const std::filesystem::path& file, Duration window)
{
    std::vector<JsonlLine> lines = readJsonlLines(file);
    std::stable_sort(lines.begin(), lines.end(), [](const JsonlLine& a, const JsonlLine& b) { return a.at < b.at; });
    const WallTime last = lines.back().at;
    const WallTime from = std::max(lines.front().at, last - window);

    RecordedTraffic t;
    t.start = from;
    t.length = std::max<Duration>(1s, last - from + 1ms);
    t.source = windowLabel(file.filename().string(), t.start, t.length);
    t.spendRecorded = false;
    RunFigures& f = t.recorded;
    f.minutes = emptyMinutes(t.length);
    f.span = t.length;
    std::vector<Duration> waits;
    std::vector<Duration> latencies;
    Duration latencySum{};
    std::int64_t missed = 0;
    bool anyDeadline = false;
    bool everyWait = true;
    for (JsonlLine& l : lines) {
        if (l.at < from) {
            continue;
        }
        l.request.offset = l.at - from;
        MinuteFigures& m = f.minutes[minuteIndex(l.request.offset, f.minutes.size())];
        countStatus(l, f, m);
        if (l.wait) {
            waits.push_back(*l.wait);
        } else {
            everyWait = false;
        }
        if (l.latency) {
            latencies.push_back(*l.latency);
            latencySum += *l.latency;
        }
        if (l.request.deadline) {
            anyDeadline = true;
            const Duration took = l.wait.value_or(Duration::zero()) + l.latency.value_or(Duration::zero());
            missed += (l.wait || l.latency) && (took > *l.request.deadline || l.status != 200);
        }
        t.requests.push_back(std::move(l.request));
    }
    f.attempts = f.requests;
    if (everyWait) {
        f.waitP50 = quantileOf(waits, 0.5);
        f.waitP95 = quantileOf(waits, 0.95);
    }
    if (!latencies.empty()) {
        t.meanLatency = latencySum / static_cast<std::int64_t>(latencies.size());
    }
    f.latencyP50 = quantileOf(latencies, 0.5);
    f.latencyP95 = quantileOf(latencies, 0.95);
    if (anyDeadline) {
        f.missedDeadlines = missed;
    }
    return t;
}

std::optional<Duration> quantileOf(std::vector<Duration>& values, double q)
{
    if (values.empty()) {
        return std::nullopt;
    }
    std::sort(values.begin(), values.end());
    const double rank = std::ceil(q * static_cast<double>(values.size()));
    const auto i = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
    return values[std::min(i, values.size() - 1)];
}

}  // namespace sluice::simulate
