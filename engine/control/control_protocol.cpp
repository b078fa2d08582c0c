#include "control/control_protocol.h"
#include "control/protocol_fields.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sluice::control {

using nlohmann::json;
using namespace fields;

namespace {

template <typename Count>
json histogramToJson(const metrics::BasicHistogram<Count>& h)
{
    json buckets = json::array();
    for (int i = 0; i < metrics::kHistogramBuckets; ++i) {
        if (const std::uint64_t n = h.bucket(i); n != 0) {
            buckets.push_back(json::array({i, n}));
        }
    }
    return json{{"buckets", std::move(buckets)}, {"sum_us", h.sumUs()}};
}

template <typename Count>
void histogramFromJson(const json& j, metrics::BasicHistogram<Count>& h)
{
    bool first = true;
    const auto sum = std::chrono::microseconds(get<std::int64_t>(j, "sum_us"));
    for (const json& b : arrayAt(j, "buckets")) {
        if (!b.is_array() || b.size() != 2) {
            throw ProtocolError("a histogram bucket is not [index, count]");
        }
        const int index = b[0].get<int>();
        if (index < 0 || index >= metrics::kHistogramBuckets) {
            throw ProtocolError("a histogram bucket index is out of range");
        }
        // The whole sum rides on the first bucket: only the total is kept.
        h.addToBucket(index, b[1].get<std::uint64_t>(), first ? std::chrono::duration_cast<Duration>(sum) : Duration{});
        first = false;
    }
}

json failuresToJson(const std::array<std::uint64_t, kFailureClassCount>& failures)
{
    json out = json::object();
    for (int i = 0; i < kFailureClassCount; ++i) {
        if (failures[static_cast<std::size_t>(i)] != 0) {
            out[std::string(failureClassName(static_cast<FailureClass>(i)))] = failures[static_cast<std::size_t>(i)];
        }
    }
    return out;
}

template <typename Count>
void failuresFromJson(const json& j, std::array<Count, kFailureClassCount>& out)
{
    if (!j.is_object()) {
        throw ProtocolError("\"failures\" is not an object");
    }
    for (const auto& [name, value] : j.items()) {
        FailureClass c{};
        // A class this build does not know (a newer instance) is left out.
        if (parseFailureClass(name, c)) {
            out[static_cast<std::size_t>(c)] = static_cast<Count>(value.template get<std::uint64_t>());
        }
    }
}

json dispatchToJson(const DispatcherStats& d, const Clock& clock)
{
    json j{{"submitted", d.submitted},
           {"queued", d.queued},
           {"in_flight", d.inFlight},
           {"completed", d.completed},
           {"dead_lettered", d.deadLettered},
           {"cancelled", d.cancelled},
           {"attempts", d.attempts},
           {"retries", d.retries},
           {"failures", failuresToJson(d.failures)},
           {"input_tokens", d.inputTokens},
           {"output_tokens", d.outputTokens},
           {"estimated_input_tokens", d.estimatedInputTokens},
           {"estimated_output_tokens", d.estimatedOutputTokens},
           {"spend_micro_usd", d.spendMicroUsd},
           {"unpriced_responses", d.unpricedResponses},
           {"paused", d.paused}};
    json providers = json::array();
    for (const ProviderStatus& p : d.providers) {
        providers.push_back({{"provider", p.provider},
                             {"state", static_cast<int>(p.state)},
                             {"reason", p.reason},
                             {"until_ms", wallMs(clock, p.until)}});
    }
    json keys = json::array();
    for (const KeyStatus& k : d.keys) {
        keys.push_back({{"provider", k.provider},
                        {"key", k.key},
                        {"fingerprint", k.fingerprint},
                        {"state", static_cast<int>(k.state)},
                        {"reason", k.reason},
                        {"until_ms", wallMs(clock, k.until)}});
    }
    json lanes = json::array();
    for (const LaneStatus& l : d.lanes) {
        lanes.push_back({{"provider", l.provider},
                         {"model", l.model},
                         {"queued", l.queued},
                         {"blocked", l.blocked},
                         {"until_ms", wallMs(clock, l.until)},
                         {"waits_for_release", l.waitsForRelease},
                         {"waiting_for", l.waitingFor}});
    }
    j["providers"] = std::move(providers);
    j["keys"] = std::move(keys);
    j["lanes"] = std::move(lanes);
    return j;
}

DispatcherStats dispatchFromJson(const json& j, const Clock& clock)
{
    DispatcherStats d;
    d.submitted = get<std::uint64_t>(j, "submitted");
    d.queued = get<std::uint64_t>(j, "queued");
    d.inFlight = get<std::uint64_t>(j, "in_flight");
    d.completed = get<std::uint64_t>(j, "completed");
    d.deadLettered = get<std::uint64_t>(j, "dead_lettered");
    d.cancelled = get<std::uint64_t>(j, "cancelled");
    d.attempts = get<std::uint64_t>(j, "attempts");
    d.retries = get<std::uint64_t>(j, "retries");
    failuresFromJson(need(j, "failures"), d.failures);
    d.inputTokens = get<std::int64_t>(j, "input_tokens");
    d.outputTokens = get<std::int64_t>(j, "output_tokens");
    d.estimatedInputTokens = get<std::int64_t>(j, "estimated_input_tokens");
    d.estimatedOutputTokens = get<std::int64_t>(j, "estimated_output_tokens");
    d.spendMicroUsd = get<std::int64_t>(j, "spend_micro_usd");
    d.unpricedResponses = get<std::uint64_t>(j, "unpriced_responses");
    d.paused = get<bool>(j, "paused");
    for (const json& p : arrayAt(j, "providers")) {
        ProviderStatus s;
        s.provider = get<std::string>(p, "provider");
        s.state = enumFrom<ProviderStatus::State>(p, "state", 3);
        s.reason = get<std::string>(p, "reason");
        s.until = fromWallMs(clock, get<std::int64_t>(p, "until_ms"));
        d.providers.push_back(std::move(s));
    }
    for (const json& k : arrayAt(j, "keys")) {
        KeyStatus s;
        s.provider = get<std::string>(k, "provider");
        s.key = get<std::string>(k, "key");
        s.fingerprint = get<std::string>(k, "fingerprint");
        s.state = enumFrom<KeyStatus::State>(k, "state", 4);
        s.reason = get<std::string>(k, "reason");
        s.until = fromWallMs(clock, get<std::int64_t>(k, "until_ms"));
        d.keys.push_back(std::move(s));
    }
    for (const json& l : arrayAt(j, "lanes")) {
        LaneStatus s;
        s.provider = get<std::string>(l, "provider");
        s.model = get<std::string>(l, "model");
        s.queued = get<std::size_t>(l, "queued");
        s.blocked = get<bool>(l, "blocked");
        s.until = fromWallMs(clock, get<std::int64_t>(l, "until_ms"));
        s.waitsForRelease = get<bool>(l, "waits_for_release");
        s.waitingFor = get<std::string>(l, "waiting_for");
        d.lanes.push_back(std::move(s));
    }
    return d;
}

json scopeToJson(const ScopeState& s)
{
    json dims = json::array();
    for (const DimensionState& d : s.dimensions) {
        dims.push_back({{"spec", limitToJson(d.spec)},
                        {"used", d.used},
                        {"available", d.available},
                        {"time_to_full_ms", durationMs(d.timeToFull)}});
    }
    return {{"id", s.id}, {"parent", s.parent}, {"name", s.name}, {"removed", s.removed}, {"dimensions", dims}};
}

ScopeState scopeFromJson(const json& j)
{
    ScopeState s;
    s.id = get<ScopeId>(j, "id");
    s.parent = get<ScopeId>(j, "parent");
    s.name = get<std::string>(j, "name");
    s.removed = get<bool>(j, "removed");
    for (const json& d : arrayAt(j, "dimensions")) {
        DimensionState ds;
        ds.spec = limitFromJson(need(d, "spec"));
        ds.used = get<std::int64_t>(d, "used");
        ds.available = get<std::int64_t>(d, "available");
        ds.timeToFull = msDuration(get<std::int64_t>(d, "time_to_full_ms"));
        s.dimensions.push_back(std::move(ds));
    }
    return s;
}


}  // namespace

std::int64_t wallMs(WallTime t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime wallFromMs(std::int64_t ms)
{
    return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

// Times further than this from now (a cool-down "until forever", the
// clock's epoch) saturate: about 31 years either way, so neither side's
// arithmetic in nanoseconds overflows.
constexpr double kFarMs = 1e12;

std::int64_t wallMs(const Clock& clock, TimePoint t)
{
    const auto ms = [](TimePoint p) { return std::chrono::duration<double, std::milli>(p.time_since_epoch()).count(); };
    const double ahead = std::clamp(ms(t) - ms(clock.now()), -kFarMs, kFarMs);
    return wallMs(clock.wallNow()) + static_cast<std::int64_t>(std::llround(ahead));
}

TimePoint fromWallMs(const Clock& clock, std::int64_t ms)
{
    const double ahead = std::clamp(static_cast<double>(ms) - static_cast<double>(wallMs(clock.wallNow())), -kFarMs, kFarMs);
    return clock.now() + msDuration(static_cast<std::int64_t>(std::llround(ahead)));
}

json limitToJson(const LimitSpec& spec)
{
    json j{{"measure", std::string(measureName(spec.measure))},
           {"limit", spec.limit},
           {"period_ms", durationMs(spec.period)},
           {"burst", spec.burst},
           {"window", std::string(windowName(spec.window))}};
    if (spec.utcOffset != Duration::zero()) {
        j["utc_offset_ms"] = durationMs(spec.utcOffset);
    }
    return j;
}

LimitSpec limitFromJson(const json& j)
{
    LimitSpec s;
    const auto measure = get<std::string>(j, "measure");
    if (!parseMeasure(measure, s.measure)) {
        throw ProtocolError("\"measure\": unknown measure \"" + measure + "\"");
    }
    s.limit = get<std::int64_t>(j, "limit");
    s.period = msDuration(getOr<std::int64_t>(j, "period_ms", 60000));
    s.burst = getOr<std::int64_t>(j, "burst", 0);
    const auto window = getOr<std::string>(j, "window", std::string(windowName(Window::Rolling)));
    if (window == windowName(Window::Rolling)) {
        s.window = Window::Rolling;
    } else if (window == windowName(Window::Fixed)) {
        s.window = Window::Fixed;
    } else {
        throw ProtocolError("\"window\": unknown window \"" + window + "\"");
    }
    s.utcOffset = msDuration(getOr<std::int64_t>(j, "utc_offset_ms", 0));
    if (std::string why = s.validate(); !why.empty()) {
        throw ProtocolError("limit: " + why);
    }
    return s;
}

json limitsToJson(const std::vector<LimitSpec>& specs)
{
    json a = json::array();
    for (const LimitSpec& s : specs) {
        a.push_back(limitToJson(s));
    }
    return a;
}

std::vector<LimitSpec> limitsFromJson(const json& j)
{
    if (!j.is_array()) {
        throw ProtocolError("\"limits\" is not an array");
    }
    std::vector<LimitSpec> out;
    for (const json& s : j) {
        out.push_back(limitFromJson(s));
    }
    return out;
}

json statusToJson(const ControlStatus& status, const Clock& clock)
{
    json scopes = json::array();
    for (const ScopeState& s : status.scopes) {
        scopes.push_back(scopeToJson(s));
    }
    json events = json::array();
    for (const ControlEvent& e : status.events) {
        events.push_back({{"at_ms", wallMs(e.at)}, {"text", e.text}});
    }
    json j{{"kind", status.kind},
           {"dispatch", dispatchToJson(status.dispatch, clock)},
           {"scopes", std::move(scopes)},
           {"events", std::move(events)},
           {"spend_today_micro_usd", status.spendTodayMicroUsd},
           {"dead_letters", status.deadLetters},
           {"requeue_refusal", status.requeueRefusal},
           {"can_drain", status.canDrain},
           {"draining", status.draining}};
    if (status.queue) {
        j["queue"] = {{"pending", status.queue->pending},
                      {"leased", status.queue->leased},
                      {"done", status.queue->done},
                      {"dead", status.queue->dead}};
    }
    if (status.seriesSince) {
        j["series_since_ms"] = wallMs(clock, *status.seriesSince);
    }
    return j;
}

ControlStatus statusFromJson(const json& j, const Clock& clock)
{
    ControlStatus s;
    s.kind = get<std::string>(j, "kind");
    s.dispatch = dispatchFromJson(need(j, "dispatch"), clock);
    for (const json& scope : arrayAt(j, "scopes")) {
        s.scopes.push_back(scopeFromJson(scope));
    }
    for (const json& e : arrayAt(j, "events")) {
        s.events.push_back({wallFromMs(get<std::int64_t>(e, "at_ms")), get<std::string>(e, "text")});
    }
    s.spendTodayMicroUsd = get<std::int64_t>(j, "spend_today_micro_usd");
    s.deadLetters = get<bool>(j, "dead_letters");
    // Absent from an instance older than the drain command: it cannot drain.
    s.requeueRefusal = getOr<std::string>(j, "requeue_refusal", std::string());
    s.canDrain = getOr<bool>(j, "can_drain", false);
    s.draining = getOr<bool>(j, "draining", false);
    if (const auto q = j.find("queue"); q != j.end()) {
        store::Counts c;
        c.pending = get<std::int64_t>(*q, "pending");
        c.leased = get<std::int64_t>(*q, "leased");
        c.done = get<std::int64_t>(*q, "done");
        c.dead = get<std::int64_t>(*q, "dead");
        s.queue = c;
    }
    if (const auto since = optionalField<std::int64_t>(j, "series_since_ms")) {
        s.seriesSince = fromWallMs(clock, *since);
    }
    return s;
}

namespace {

json tallyToJson(const metrics::Tally& t)
{
    std::array<std::uint64_t, kFailureClassCount> failures{};
    for (std::size_t i = 0; i < failures.size(); ++i) {
        failures[i] = t.failures[i];
    }
    return {{"sent", t.sent},
            {"completed", t.completed},
            {"retries", t.retries},
            {"unpriced", t.unpriced},
            {"failures", failuresToJson(failures)},
            {"input_tokens", t.inputTokens},
            {"output_tokens", t.outputTokens},
            {"estimated_input_tokens", t.estimatedInputTokens},
            {"estimated_output_tokens", t.estimatedOutputTokens},
            {"spend_micro_usd", t.spendMicroUsd},
            {"latency", histogramToJson(t.latency)},
            {"time_to_first_token", histogramToJson(t.timeToFirstToken)}};
}

void tallyFromJson(const json& p, metrics::Tally& t)
{
    t.sent = get<std::uint32_t>(p, "sent");
    t.completed = get<std::uint32_t>(p, "completed");
    t.retries = get<std::uint32_t>(p, "retries");
    t.unpriced = get<std::uint32_t>(p, "unpriced");
    failuresFromJson(need(p, "failures"), t.failures);
    t.inputTokens = get<std::int64_t>(p, "input_tokens");
    t.outputTokens = get<std::int64_t>(p, "output_tokens");
    t.estimatedInputTokens = get<std::int64_t>(p, "estimated_input_tokens");
    t.estimatedOutputTokens = get<std::int64_t>(p, "estimated_output_tokens");
    t.spendMicroUsd = get<std::int64_t>(p, "spend_micro_usd");
    histogramFromJson(need(p, "latency"), t.latency);
    histogramFromJson(need(p, "time_to_first_token"), t.timeToFirstToken);
}

}  // namespace

json seriesToJson(const SeriesPage& page, const Clock& clock)
{
    json points = json::array();
    for (const metrics::SeriesPoint& p : page.points) {
        json point = tallyToJson(p.tally);
        point["start_ms"] = wallMs(clock, p.start);
        point["gauges"] = {{"sampled", p.gauges.sampled},
                           {"in_flight", p.gauges.inFlight},
                           {"in_flight_max", p.gauges.inFlightMax},
                           {"queued", p.gauges.queued},
                           {"queued_max", p.gauges.queuedMax}};
        points.push_back(std::move(point));
    }
    json j{{"points", std::move(points)}};
    j["cursor_ms"] = page.cursor ? json(wallMs(clock, *page.cursor)) : json(nullptr);
    return j;
}

SeriesPage seriesFromJson(const json& j, const Clock& clock)
{
    SeriesPage page;
    for (const json& p : arrayAt(j, "points")) {
        metrics::SeriesPoint sp;
        sp.start = fromWallMs(clock, get<std::int64_t>(p, "start_ms"));
        tallyFromJson(p, sp.tally);
        const json& g = need(p, "gauges");
        sp.gauges.sampled = get<bool>(g, "sampled");
        sp.gauges.inFlight = get<std::int64_t>(g, "in_flight");
        sp.gauges.inFlightMax = get<std::int64_t>(g, "in_flight_max");
        sp.gauges.queued = get<std::int64_t>(g, "queued");
        sp.gauges.queuedMax = get<std::int64_t>(g, "queued_max");
        page.points.push_back(std::move(sp));
    }
    if (const auto c = optionalField<std::int64_t>(j, "cursor_ms")) {
        page.cursor = fromWallMs(clock, *c);
    }
    return page;
}

json rollupsToJson(const RollupPage& page)
{
    json rows = json::array();
    for (const metrics::RollupRow& r : page.rows) {
        json row = tallyToJson(r.tally);
        row["minute_ms"] = wallMs(r.minute);
        row["provider"] = r.provider;
        row["key"] = r.key;
        row["model"] = r.model;
        rows.push_back(std::move(row));
    }
    return {{"rows", std::move(rows)}, {"source", page.source}};
}

RollupPage rollupsFromJson(const json& j)
{
    RollupPage page;
    for (const json& r : arrayAt(j, "rows")) {
        metrics::RollupRow row;
        row.minute = wallFromMs(get<std::int64_t>(r, "minute_ms"));
        row.provider = get<std::string>(r, "provider");
        row.key = get<std::string>(r, "key");
        row.model = get<std::string>(r, "model");
        tallyFromJson(r, row.tally);
        page.rows.push_back(std::move(row));
    }
    page.source = getOr<std::string>(j, "source", std::string());
    return page;
}

}  // namespace sluice::control
