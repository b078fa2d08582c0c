// The three report formats. CSV and JSON carry the same numbers; the HTML
// file adds charts drawn as inline SVG (no script, no external resource), so
// it opens offline and prints as it shows.
#include "core/numbers.h"
#include "core/timefmt.h"
#include "metrics/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

namespace sluice::metrics {

namespace {

using nlohmann::json;

// The classes a 429 can mean: their rates are what operators tune by.
constexpr std::array<FailureClass, 3> k429Classes = {FailureClass::RateLimited, FailureClass::QuotaExhausted,
                                                     FailureClass::RequestTooLarge};

bool is429Class(FailureClass c)
{
    return std::find(k429Classes.begin(), k429Classes.end(), c) != k429Classes.end();
}

// The other classes, in enum order, for the fixed CSV columns.
std::vector<FailureClass> otherClasses()
{
    std::vector<FailureClass> out;
    for (int c = 1; c < kFailureClassCount; ++c) {
        if (!is429Class(static_cast<FailureClass>(c))) {
            out.push_back(static_cast<FailureClass>(c));
        }
    }
    return out;
}

double rateOf(std::uint64_t n, const Totals& t)
{
    const std::uint64_t finished = t.finished();
    return finished == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(finished);
}

std::uint64_t count429(const Totals& t)
{
    std::uint64_t n = 0;
    for (const FailureClass c : k429Classes) {
        n += t.failuresOf(c);
    }
    return n;
}

std::string fixed(double v, int digits)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string usdText(std::int64_t microUsd)
{
    return fixed(static_cast<double>(microUsd) / 1e6, 6);
}

std::optional<double> millis(const HistogramTotals& h, double q)
{
    const auto d = h.quantile(q);
    if (!d) {
        return std::nullopt;
    }
    return std::chrono::duration<double, std::milli>(*d).count();
}

std::string joined(const std::vector<std::string>& parts, std::string_view sep)
{
    std::string out;
    for (const std::string& p : parts) {
        if (!out.empty()) {
            out += sep;
        }
        out += p;
    }
    return out;
}

std::vector<std::string> groupColumns(ReportGrouping by)
{
    switch (by) {
    case ReportGrouping::Key: return {"provider", "key"};
    case ReportGrouping::Model: return {"provider", "model"};
    case ReportGrouping::Provider: return {"provider"};
    case ReportGrouping::Hour:
    case ReportGrouping::Day: return {"period_start"};
    }
    return {};
}

std::vector<std::string> groupValues(const ReportRow& row, ReportGrouping by)
{
    switch (by) {
    case ReportGrouping::Key: return {row.provider, row.key};
    case ReportGrouping::Model: return {row.provider, row.model};
    case ReportGrouping::Provider: return {row.provider};
    case ReportGrouping::Hour:
    case ReportGrouping::Day: return {row.period ? formatRfc3339(*row.period) : std::string()};
    }
    return {};
}

std::string groupLabel(const ReportRow& row, ReportGrouping by)
{
    return joined(groupValues(row, by), "/");
}

}  // namespace

// ---- CSV ---------------------------------------------------------------------

std::string reportCsv(const Report& report)
{
    std::vector<std::string> header = groupColumns(report.by);
    for (const char* h : {"requests", "completed", "failed", "retries"}) {
        header.emplace_back(h);
    }
    for (const FailureClass c : k429Classes) {
        header.emplace_back(failureClassName(c));
        header.push_back(std::string(failureClassName(c)) + "_rate");
    }
    for (const FailureClass c : otherClasses()) {
        header.emplace_back(failureClassName(c));
    }
    for (const char* h : {"input_tokens", "output_tokens", "estimated_input_tokens", "estimated_output_tokens",
                          "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "ttft_p50_ms", "ttft_p95_ms",
                          "ttft_p99_ms", "spend_usd", "unpriced_responses", "unpriced_models"}) {
        header.emplace_back(h);
    }

    // RFC 4180: CRLF after every record, the header included.
    std::string out;
    const auto record = [&out](const std::vector<std::string>& fields) {
        for (std::size_t i = 0; i < fields.size(); ++i) {
            out += (i == 0 ? "" : ",") + csvField(fields[i]);
        }
        out += "\r\n";
    };
    record(header);
    for (const ReportRow& row : report.rows) {
        const Totals& t = row.totals;
        std::vector<std::string> f = groupValues(row, report.by);
        f.push_back(std::to_string(t.sent));
        f.push_back(std::to_string(t.completed));
        f.push_back(std::to_string(t.failed()));
        f.push_back(std::to_string(t.retries));
        for (const FailureClass c : k429Classes) {
            f.push_back(std::to_string(t.failuresOf(c)));
            f.push_back(fixed(rateOf(t.failuresOf(c), t), 6));
        }
        for (const FailureClass c : otherClasses()) {
            f.push_back(std::to_string(t.failuresOf(c)));
        }
        f.push_back(std::to_string(t.inputTokens));
        f.push_back(std::to_string(t.outputTokens));
        f.push_back(std::to_string(t.estimatedInputTokens));
        f.push_back(std::to_string(t.estimatedOutputTokens));
        for (const HistogramTotals* h : {&t.latency, &t.timeToFirstToken}) {
            for (const double q : {0.5, 0.95, 0.99}) {
                const auto v = millis(*h, q);
                f.push_back(v ? fixed(*v, 1) : std::string());
            }
        }
        f.push_back(usdText(t.spendMicroUsd));
        f.push_back(std::to_string(t.unpriced));
        f.push_back(joined(row.unpricedModels, ";"));
        record(f);
    }
    return out;
}

// ---- JSON --------------------------------------------------------------------

namespace {

json percentilesJson(const HistogramTotals& h)
{
    json out = json::object();
    for (const auto& [name, q] : {std::pair{"p50", 0.5}, std::pair{"p95", 0.95}, std::pair{"p99", 0.99}}) {
        const auto v = millis(h, q);
        out[name] = v ? json(std::round(*v * 10) / 10) : json(nullptr);
    }
    out["count"] = h.count();
    return out;
}

json rowJson(const ReportRow& row, ReportGrouping by)
{
    const Totals& t = row.totals;
    json j = json::object();
    const auto columns = groupColumns(by);
    const auto values = groupValues(row, by);
    for (std::size_t i = 0; i < columns.size(); ++i) {
        j[columns[i]] = values[i];
    }
    j["requests"] = t.sent;
    j["completed"] = t.completed;
    j["failed"] = t.failed();
    j["retries"] = t.retries;
    j["rate_429"] = rateOf(count429(t), t);
    json failures = json::object();
    for (int c = 1; c < kFailureClassCount; ++c) {
        const auto cls = static_cast<FailureClass>(c);
        if (const auto n = t.failuresOf(cls); n != 0) {
            failures[std::string(failureClassName(cls))] = {{"count", n}, {"rate", rateOf(n, t)}};
        }
    }
    j["failures"] = std::move(failures);
    j["tokens"] = {{"input", t.inputTokens},
                   {"output", t.outputTokens},
                   {"estimated_input", t.estimatedInputTokens},
                   {"estimated_output", t.estimatedOutputTokens}};
    j["latency_ms"] = percentilesJson(t.latency);
    j["time_to_first_token_ms"] = percentilesJson(t.timeToFirstToken);
    j["spend_usd"] = static_cast<double>(t.spendMicroUsd) / 1e6;
    j["spend_micro_usd"] = t.spendMicroUsd;
    j["unpriced_responses"] = t.unpriced;
    j["unpriced_models"] = row.unpricedModels;
    return j;
}

}  // namespace

std::string reportJson(const Report& report)
{
    json j;
    j["report"] = "sluice usage";
    j["source"] = report.source;
    j["generated_at"] = formatRfc3339(report.generatedAt);
    j["from"] = formatRfc3339(report.from);
    j["to"] = formatRfc3339(report.to);
    j["by"] = groupingName(report.by);
    j["spend_note"] = "spend as priced when the requests ran; responses of unknown spend are counted in "
                      "unpriced_responses, not as free";
    j["unpriced_models"] = report.unpricedModels;
    json rows = json::array();
    for (const ReportRow& row : report.rows) {
        rows.push_back(rowJson(row, report.by));
    }
    j["rows"] = std::move(rows);
    json total = rowJson(report.total, ReportGrouping::Provider);
    total.erase("provider");
    j["total"] = std::move(total);
    json timeline = json::array();
    for (const TimelinePoint& p : report.timeline) {
        timeline.push_back({{"start", formatRfc3339(p.start)},
                            {"requests", p.totals.sent},
                            {"completed", p.totals.completed},
                            {"failed", p.totals.failed()},
                            {"input_tokens", p.totals.inputTokens},
                            {"output_tokens", p.totals.outputTokens},
                            {"spend_micro_usd", p.totals.spendMicroUsd}});
    }
    j["timeline"] = {{"step_seconds", std::chrono::duration_cast<std::chrono::seconds>(report.timelineStep).count()},
                     {"points", std::move(timeline)}};
    return j.dump(2) + "\n";
}

// ---- HTML --------------------------------------------------------------------

namespace {

std::string esc(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string percent(double fraction)
{
    return fixed(fraction * 100, fraction < 0.1 ? 2 : 1) + "%";
}

std::string msText(const std::optional<double>& v)
{
    if (!v) {
        return "–";
    }
    return *v >= 1000 ? fixed(*v / 1000, 2) + " s" : fixed(*v, 0) + " ms";
}

// "HH:MM" within a day, "MM-DD HH:MM" otherwise, "YYYY-MM-DD" for day steps.
std::string shortTime(WallTime t, Duration step)
{
    const std::string full = formatRfc3339(t);  // 2026-01-01T12:34:56Z
    if (step >= std::chrono::hours(24)) {
        return full.substr(0, 10);
    }
    return full.substr(5, 5) + " " + full.substr(11, 5);
}

// The top of a y axis: 1, 2 or 5 × a power of ten, at least `v`.
double niceCeiling(double v)
{
    if (v <= 0) {
        return 1;
    }
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        if (m * p >= v) {
            return m * p;
        }
    }
    return 10 * p;
}

struct Layer {
    std::string name;
    std::string color;
    std::vector<double> values;
};

constexpr double kW = 900;
constexpr double kH = 220;
constexpr double kLeft = 70;
constexpr double kRight = 10;
constexpr double kTop = 10;
constexpr double kBottom = 28;

std::string legend(const std::vector<Layer>& layers)
{
    std::string out = "<div class=\"legend\">";
    for (const Layer& l : layers) {
        out += "<span><i style=\"background:" + l.color + "\"></i>" + esc(l.name) + "</span>";
    }
    return out + "</div>";
}

std::string axes(double yMax, const std::function<std::string(double)>& fmt, const std::vector<WallTime>& x,
                 Duration step)
{
    std::string out;
    const double plotH = kH - kTop - kBottom;
    for (int i = 0; i <= 4; ++i) {
        const double y = kTop + plotH - plotH * i / 4.0;
        out += "<line x1=\"" + fixed(kLeft, 1) + "\" x2=\"" + fixed(kW - kRight, 1) + "\" y1=\"" + fixed(y, 1) +
               "\" y2=\"" + fixed(y, 1) + "\" class=\"grid\"/>";
        out += "<text x=\"" + fixed(kLeft - 6, 1) + "\" y=\"" + fixed(y + 4, 1) + "\" class=\"yl\">" +
               esc(fmt(yMax * i / 4.0)) + "</text>";
    }
    if (!x.empty()) {
        const double plotW = kW - kLeft - kRight;
        const std::size_t n = x.size();
        // The outer labels lean inwards so they are not cut at the edges.
        const std::array<std::pair<std::size_t, const char*>, 3> ticks = {
            std::pair{std::size_t{0}, "start"}, std::pair{n / 2, "middle"}, std::pair{n - 1, "end"}};
        for (const auto& [i, anchor] : ticks) {
            const double cx = kLeft + plotW * (static_cast<double>(i) + 0.5) / static_cast<double>(n);
            out += "<text x=\"" + fixed(cx, 1) + "\" y=\"" + fixed(kH - 8, 1) + "\" class=\"xl\" text-anchor=\"" +
                   anchor + "\">" + esc(shortTime(x[i], step)) + "</text>";
        }
    }
    return out;
}

std::string svgOpen(const std::string& label)
{
    return "<svg viewBox=\"0 0 " + fixed(kW, 0) + " " + fixed(kH, 0) + "\" role=\"img\" aria-label=\"" + esc(label) +
           "\">";
}

std::string stackedBars(const std::string& title, const std::vector<WallTime>& x, Duration step,
                        const std::vector<Layer>& layers, const std::function<std::string(double)>& fmt)
{
    double top = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        double sum = 0;
        for (const Layer& l : layers) {
            sum += l.values[i];
        }
        top = std::max(top, sum);
    }
    const double yMax = niceCeiling(top);
    const double plotW = kW - kLeft - kRight;
    const double plotH = kH - kTop - kBottom;
    const double barW = x.empty() ? 0 : plotW / static_cast<double>(x.size());
    std::string out = "<figure><figcaption>" + esc(title) + "</figcaption>" + legend(layers) + svgOpen(title);
    out += axes(yMax, fmt, x, step);
    for (std::size_t i = 0; i < x.size(); ++i) {
        double base = 0;
        for (const Layer& l : layers) {
            const double v = l.values[i];
            if (v <= 0) {
                continue;
            }
            const double h = plotH * v / yMax;
            const double y = kTop + plotH - plotH * base / yMax - h;
            out += "<rect x=\"" + fixed(kLeft + barW * static_cast<double>(i) + barW * 0.1, 2) + "\" y=\"" +
                   fixed(y, 2) + "\" width=\"" + fixed(std::max(barW * 0.8, 0.5), 2) + "\" height=\"" + fixed(h, 2) +
                   "\" fill=\"" + l.color + "\"><title>" + esc(shortTime(x[i], step) + " " + l.name + ": " + fmt(v)) +
                   "</title></rect>";
            base += v;
        }
    }
    return out + "</svg></figure>";
}

std::string lines(const std::string& title, const std::vector<WallTime>& x, Duration step,
                  const std::vector<std::pair<Layer, std::vector<bool>>>& series,
                  const std::function<std::string(double)>& fmt)
{
    double top = 0;
    std::vector<Layer> layers;
    for (const auto& [layer, present] : series) {
        layers.push_back(layer);
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (present[i]) {
                top = std::max(top, layer.values[i]);
            }
        }
    }
    const double yMax = niceCeiling(top);
    const double plotW = kW - kLeft - kRight;
    const double plotH = kH - kTop - kBottom;
    std::string out = "<figure><figcaption>" + esc(title) + "</figcaption>" + legend(layers) + svgOpen(title);
    out += axes(yMax, fmt, x, step);
    for (const auto& entry : series) {
        // Named, not a structured binding: clang 14 cannot capture one in a lambda.
        const auto& layer = entry.first;
        const auto& present = entry.second;
        std::string points;
        const auto emit = [&] {
            if (!points.empty()) {
                out += "<polyline fill=\"none\" stroke=\"" + layer.color + "\" stroke-width=\"2\" points=\"" + points +
                       "\"/>";
                points.clear();
            }
        };
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!present[i]) {
                emit();  // a gap in the data is a gap in the line
                continue;
            }
            const double cx = kLeft + plotW * (static_cast<double>(i) + 0.5) / static_cast<double>(x.size());
            const double cy = kTop + plotH - plotH * layer.values[i] / yMax;
            points += fixed(cx, 2) + "," + fixed(cy, 2) + " ";
            out += "<circle cx=\"" + fixed(cx, 2) + "\" cy=\"" + fixed(cy, 2) + "\" r=\"2\" fill=\"" + layer.color +
                   "\"><title>" + esc(shortTime(x[i], step) + " " + layer.name + ": " + fmt(layer.values[i])) +
                   "</title></circle>";
        }
        emit();
    }
    return out + "</svg></figure>";
}

struct GroupBar {
    std::string label;
    double value = 0;
    std::string text;  // what the bar says
};

std::string groupBars(const std::string& title, const std::vector<GroupBar>& bars, const std::string& color)
{
    double top = 0;
    for (const GroupBar& b : bars) {
        top = std::max(top, b.value);
    }
    const double rowH = 22;
    const double h = rowH * static_cast<double>(bars.size()) + 10;
    const double labelW = 260;
    const double plotW = kW - labelW - 110;
    std::string out = "<figure><figcaption>" + esc(title) + "</figcaption><svg viewBox=\"0 0 " + fixed(kW, 0) + " " +
                      fixed(h, 0) + "\" role=\"img\" aria-label=\"" + esc(title) + "\">";
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const double y = 5 + rowH * static_cast<double>(i);
        const double w = top > 0 ? plotW * bars[i].value / top : 0;
        out += "<text x=\"" + fixed(labelW - 8, 1) + "\" y=\"" + fixed(y + 15, 1) + "\" class=\"yl\">" +
               esc(bars[i].label) + "</text>";
        out += "<rect x=\"" + fixed(labelW, 1) + "\" y=\"" + fixed(y + 3, 1) + "\" width=\"" + fixed(w, 2) +
               "\" height=\"16\" fill=\"" + color + "\"><title>" + esc(bars[i].label + ": " + bars[i].text) +
               "</title></rect>";
        out += "<text x=\"" + fixed(labelW + w + 6, 1) + "\" y=\"" + fixed(y + 15, 1) + "\" class=\"vl\">" +
               esc(bars[i].text) + "</text>";
    }
    return out + "</svg></figure>";
}

constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:24px auto;max-width:960px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#5b6573;margin:0 0 16px}.meta td{padding:1px 14px 1px 0}
.warn{background:#fff4e0;border:1px solid #f0b44c;border-radius:6px;padding:8px 12px;margin:12px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #d9dee5;border-radius:8px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#5b6573;font-size:12px}
figure{margin:18px 0}figcaption{font-weight:600;margin-bottom:2px}
svg{width:100%;height:auto;display:block}
.grid{stroke:#e6e9ee;stroke-width:1}.yl{font-size:11px;fill:#5b6573;text-anchor:end}
.xl{font-size:11px;fill:#5b6573}.vl{font-size:11px;fill:#1d2430}
.legend{font-size:12px;color:#5b6573}.legend span{margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:-1px}
table.data{border-collapse:collapse;width:100%;font-size:12.5px}
table.data th,table.data td{border-bottom:1px solid #e6e9ee;padding:4px 6px;text-align:right;white-space:nowrap}
table.data th:first-child,table.data td:first-child{text-align:left}
table.data tr.total td{font-weight:600;border-top:2px solid #1d2430}
@media print{body{margin:0}}
)css";

std::string tableRow(const ReportRow& row, const std::string& label, bool total)
{
    const Totals& t = row.totals;
    std::string tr = total ? "<tr class=\"total\">" : "<tr>";
    const auto cell = [&tr](const std::string& v) { tr += "<td>" + esc(v) + "</td>"; };
    cell(label);
    cell(groupThousands(static_cast<std::int64_t>(t.sent)));
    cell(groupThousands(static_cast<std::int64_t>(t.completed)));
    cell(groupThousands(static_cast<std::int64_t>(t.failed())));
    cell(percent(rateOf(t.failuresOf(FailureClass::RateLimited), t)));
    cell(percent(rateOf(t.failuresOf(FailureClass::QuotaExhausted), t)));
    cell(percent(rateOf(t.failuresOf(FailureClass::RequestTooLarge), t)));
    cell(groupThousands(static_cast<std::int64_t>(t.retries)));
    cell(groupThousands(static_cast<std::int64_t>(t.inputTokens)));
    cell(groupThousands(static_cast<std::int64_t>(t.outputTokens)));
    cell(msText(millis(t.latency, 0.5)));
    cell(msText(millis(t.latency, 0.95)));
    cell(msText(millis(t.latency, 0.99)));
    cell(msText(millis(t.timeToFirstToken, 0.5)));
    cell(formatUsd(t.spendMicroUsd) + (t.unpriced > 0 ? " +?" : ""));
    cell(groupThousands(static_cast<std::int64_t>(t.unpriced)));
    return tr + "</tr>";
}

// "Over time": attempts, tokens and spend per step, and latency lines.
void writeTimeline(std::ostringstream& h, const Report& report)
{
    std::vector<WallTime> x;
    const std::size_t n = report.timeline.size();
    std::vector<double> completed(n), limited(n), other(n), input(n), output(n), spend(n), p50(n), p95(n), p99(n);
    std::vector<bool> hasLatency(n);
    for (std::size_t i = 0; i < n; ++i) {
        const Totals& t = report.timeline[i].totals;
        x.push_back(report.timeline[i].start);
        completed[i] = static_cast<double>(t.completed);
        limited[i] = static_cast<double>(count429(t));
        other[i] = static_cast<double>(t.failed() - count429(t));
        input[i] = static_cast<double>(t.inputTokens);
        output[i] = static_cast<double>(t.outputTokens);
        spend[i] = static_cast<double>(t.spendMicroUsd) / 1e6;
        hasLatency[i] = !t.latency.empty();
        p50[i] = millis(t.latency, 0.5).value_or(0);
        p95[i] = millis(t.latency, 0.95).value_or(0);
        p99[i] = millis(t.latency, 0.99).value_or(0);
    }
    const auto count = [](double v) { return groupThousands(std::llround(v)); };
    const auto dollars = [](double v) { return formatUsd(v); };
    const auto ms = [](double v) { return msText(v); };
    const std::string per = " per " + std::string(report.timelineStep >= std::chrono::hours(24) ? "day"
                                                  : report.timelineStep >= std::chrono::hours(1)
                                                      ? (report.timelineStep == std::chrono::hours(1) ? "hour" : "6 hours")
                                                      : std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                                                                           report.timelineStep)
                                                                           .count()) +
                                                            " min");
    h << "<h2>Over time</h2>\n";
    h << stackedBars("Attempts" + per, x, report.timelineStep,
                     {{"completed", "#2f9e6a", completed}, {"429", "#f0a030", limited}, {"other failures", "#d64545", other}},
                     count);
    h << stackedBars("Tokens" + per, x, report.timelineStep,
                     {{"input", "#4a78c2", input}, {"output", "#8fb3e8", output}}, count);
    h << stackedBars("Spend" + per + " (priced responses)", x, report.timelineStep, {{"spend", "#7a5cc2", spend}},
                     dollars);
    h << lines("Latency of completed requests", x, report.timelineStep,
               {{{"p50", "#2f9e6a", p50}, hasLatency}, {{"p95", "#f0a030", p95}, hasLatency},
                {{"p99", "#d64545", p99}, hasLatency}},
               ms);
}

// "By <grouping>": requests and spend per group (not for hours or days,
// which the timeline shows).
void writeGroupBars(std::ostringstream& h, const Report& report)
{
    const auto count = [](double v) { return groupThousands(std::llround(v)); };
    const auto dollars = [](double v) { return formatUsd(v); };
    const bool byPeriod = report.by == ReportGrouping::Hour || report.by == ReportGrouping::Day;
    if (byPeriod || report.rows.empty()) {
        return;
    }
    std::vector<GroupBar> spendBars;
    std::vector<GroupBar> requestBars;
    for (const ReportRow& row : report.rows) {
        const Totals& t = row.totals;
        const double dollarsSpent = static_cast<double>(t.spendMicroUsd) / 1e6;
        // A group whose spend is unknown says so rather than showing $0.
        std::string spendText = t.unpriced == 0 ? dollars(dollarsSpent)
                                : t.spendMicroUsd == 0 ? std::string("unpriced")
                                                       : dollars(dollarsSpent) + " + unpriced";
        spendBars.push_back(GroupBar{groupLabel(row, report.by), dollarsSpent, std::move(spendText)});
        requestBars.push_back(
            GroupBar{groupLabel(row, report.by), static_cast<double>(t.sent), count(static_cast<double>(t.sent))});
    }
    h << "<h2>By " << esc(groupingName(report.by)) << "</h2>\n";
    h << groupBars("Requests sent", requestBars, "#4a78c2");
    h << groupBars("Spend (priced responses)", spendBars, "#7a5cc2");
}

}  // namespace

std::string reportHtml(const Report& report)
{
    const Totals& total = report.total.totals;
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      << "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      << "<title>Sluice usage report " << esc(formatRfc3339(report.from)) << " – " << esc(formatRfc3339(report.to))
      << "</title><style>" << kStyle << "</style></head><body>\n";
    h << "<h1>Sluice usage report</h1><table class=\"meta\">"
      << "<tr><td>State</td><td>" << esc(report.source) << "</td></tr>"
      << "<tr><td>From</td><td>" << esc(formatRfc3339(report.from)) << "</td></tr>"
      << "<tr><td>To</td><td>" << esc(formatRfc3339(report.to)) << " (exclusive; hours and days are UTC)</td></tr>"
      << "<tr><td>Grouped by</td><td>" << esc(groupingName(report.by)) << "</td></tr>"
      << "<tr><td>Generated</td><td>" << esc(formatRfc3339(report.generatedAt)) << "</td></tr></table>\n";
    if (!report.unpricedModels.empty()) {
        h << "<div class=\"warn\"><b>Spend is incomplete.</b> " << groupThousands(static_cast<std::int64_t>(total.unpriced))
          << " responses have no known spend (a model without a price, or no usage reported); they are not "
             "counted as free. Models: "
          << esc(joined(report.unpricedModels, ", ")) << ".</div>\n";
    }
    h << "<div class=\"cards\">"
      << "<div class=\"card\"><b>" << groupThousands(static_cast<std::int64_t>(total.sent)) << "</b><span>requests sent</span></div>"
      << "<div class=\"card\"><b>" << groupThousands(static_cast<std::int64_t>(total.completed))
      << "</b><span>completed</span></div>"
      << "<div class=\"card\"><b>" << percent(rateOf(count429(total), total)) << "</b><span>answered 429</span></div>"
      << "<div class=\"card\"><b>" << groupThousands(static_cast<std::int64_t>(total.inputTokens + total.outputTokens))
      << "</b><span>tokens</span></div>"
      << "<div class=\"card\"><b>" << formatUsd(total.spendMicroUsd) << (total.unpriced > 0 ? "+" : "")
      << "</b><span>spend" << (total.unpriced > 0 ? " (incomplete)" : "") << "</span></div>"
      << "<div class=\"card\"><b>" << msText(millis(total.latency, 0.95)) << "</b><span>p95 latency</span></div>"
      << "</div>\n";

    writeTimeline(h, report);

    writeGroupBars(h, report);

    h << "<h2>Table</h2><table class=\"data\"><thead><tr><th>" << esc(joined(groupColumns(report.by), "/"))
      << "</th><th>requests</th><th>completed</th><th>failed</th><th>429 rate limited</th><th>429 quota</th>"
      << "<th>429 too large</th><th>retries</th><th>input tokens</th><th>output tokens</th><th>p50</th><th>p95</th>"
      << "<th>p99</th><th>TTFT p50</th><th>spend</th><th>unpriced</th></tr></thead><tbody>\n";
    for (const ReportRow& row : report.rows) {
        h << tableRow(row, groupLabel(row, report.by), false) << "\n";
    }
    h << tableRow(report.total, "total", true) << "\n</tbody></table>\n";
    h << "<p class=\"meta\">Rates are shares of finished attempts. Percentiles come from latency histograms "
         "(within a factor of √2). Spend is as priced when the requests ran; \"+?\" marks rows with responses "
         "of unknown spend.</p>\n</body></html>\n";
    return h.str();
}

}  // namespace sluice::metrics
