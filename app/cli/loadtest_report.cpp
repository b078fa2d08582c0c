#include "cli/loadtest_report.h"

#include "cli/progress.h"

#include <cstdio>

namespace sluice::cli {

using loadtest::LoadTestSnapshot;
using loadtest::LoadTestSummary;
using loadtest::Percentiles;

namespace {

std::string count(std::uint64_t n)
{
    return groupThousands(static_cast<std::int64_t>(n));
}

std::string percent(double fraction)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, fraction < 0.001 && fraction > 0 ? "%.2f%%" : "%.1f%%", fraction * 100);
    return buf;
}

std::string triple(const Percentiles& p)
{
    if (p.count == 0) {
        return "-";
    }
    return seconds(p.p50) + " / " + seconds(p.p95) + " / " + seconds(p.p99);
}

std::string rateLimitBreakdown(const LoadTestSummary& s)
{
    std::string out;
    for (std::size_t k = 0; k < loadtest::kRateLimitKinds; ++k) {
        if (s.rateLimited[k] > 0) {
            out += (out.empty() ? "" : ", ") +
                   std::string(loadtest::rateLimitKindName(static_cast<loadtest::RateLimitKind>(k))) + " " +
                   count(s.rateLimited[k]);
        }
    }
    return out.empty() ? "-" : out;
}

std::string classes(const std::map<std::string, std::uint64_t>& byClass)
{
    std::string out;
    for (const auto& [name, n] : byClass) {
        out += (out.empty() ? "" : ", ") + name + " " + count(n);
    }
    return out.empty() ? "-" : out;
}

std::string limitText(const LoadTestSummary& s)
{
    if (s.bindingLimit.empty()) {
        return "no per-minute limit configured";
    }
    return percent(s.limitUtilisation) + " of " + s.bindingLimit;
}

}  // namespace

std::string seconds(Duration d)
{
    char buf[32];
    const double s = std::chrono::duration<double>(d).count();
    if (s < 1) {
        std::snprintf(buf, sizeof buf, "%.0fms", s * 1000);
    } else {
        std::snprintf(buf, sizeof buf, "%.2fs", s);
    }
    return buf;
}

std::string loadTestProgress(const std::string& label, const LoadTestSnapshot& s)
{
    std::string line = (label.empty() ? "" : label + " ") + progressBar(s.progress, 20) + " " + shortDuration(s.elapsed) + "/" +
                       shortDuration(s.planned) + " · " + count(s.completed) + " done";
    if (s.failed > 0) {
        line += " · " + count(s.failed) + " failed";
    }
    line += " · " + count(s.inFlight) + " in flight · " + count(s.queued) + " queued · " +
            groupThousands(static_cast<std::int64_t>(s.requestsPerMinute)) + " req/min · " +
            groupThousands(static_cast<std::int64_t>(s.tokensPerMinute)) + " tok/min";
    if (s.limits.tpm) {
        line += " of " + groupThousands(*s.limits.tpm);
    }
    line += " · 429 " + count(s.rateLimited);
    if (s.recentLatencyP95 > Duration::zero()) {
        line += " · p95 " + seconds(s.recentLatencyP95);
    }
    if (s.pipelinesStarted > 0) {
        line += " · pipelines " + count(s.pipelinesCompleted) + "/" + count(s.pipelinesStarted);
    }
    line += " · " + formatUsd(s.spendMicroUsd);
    if (s.state == loadtest::LoadTestState::Ending) {
        line += " · finishing";
    }
    return line;
}

std::string sideBySide(const std::vector<LoadTestSummary>& runs)
{
    std::vector<std::pair<std::string, std::vector<std::string>>> rows;
    const auto row = [&](const std::string& name, auto cell) {
        std::vector<std::string> cells;
        for (const LoadTestSummary& s : runs) {
            cells.push_back(cell(s));
        }
        rows.emplace_back(name, std::move(cells));
    };
    const bool pipelines = std::any_of(runs.begin(), runs.end(), [](const auto& s) { return s.pipelinesStarted > 0; });
    const bool streams =
        std::any_of(runs.begin(), runs.end(), [](const auto& s) { return s.timeToFirstToken.count > 0; });
    row("", [](const LoadTestSummary& s) { return s.label; });
    row("elapsed (planned)", [](const auto& s) { return shortDuration(s.elapsed) + " (" + shortDuration(s.planned) + ")"; });
    row("requests submitted", [](const auto& s) { return count(s.requests); });
    row("completed", [](const auto& s) { return count(s.completed); });
    row("failed", [](const auto& s) { return count(s.failed); });
    row("  by class", [](const auto& s) { return classes(s.failedByClass); });
    row("cancelled at the end", [](const auto& s) { return count(s.cancelled); });
    row("HTTP attempts (retries)", [](const auto& s) { return count(s.attempts) + " (" + count(s.retries) + ")"; });
    row("429 answers (share)",
        [](const auto& s) { return count(s.rateLimitedTotal()) + " (" + percent(s.rateLimitedShare()) + ")"; });
    row("  by limit", rateLimitBreakdown);
    row("requests/min", [](const auto& s) { return groupThousands(static_cast<std::int64_t>(s.requestsPerMinute)); });
    row("tokens/min", [](const auto& s) {
        std::string t = groupThousands(static_cast<std::int64_t>(s.tokensPerMinute));
        if (s.limits.tpm) {
            t += " of " + groupThousands(*s.limits.tpm);
        }
        return t;
    });
    row("goodput vs binding limit", limitText);
    row("latency p50/p95/p99", [](const auto& s) { return triple(s.latency); });
    row("queue time p50/p95/p99", [](const auto& s) { return triple(s.queueTime); });
    if (streams) {
        row("first token p50/p95/p99", [](const auto& s) { return triple(s.timeToFirstToken); });
    }
    if (pipelines) {
        row("pipelines done/failed",
            [](const auto& s) { return count(s.pipelinesCompleted) + "/" + count(s.pipelinesFailed); });
        row("pipeline p50/p95/p99", [](const auto& s) { return triple(s.pipelineLatency); });
    }
    row("spend", [](const auto& s) {
        return formatUsd(s.spendMicroUsd) + (s.unpricedResponses ? " + " + count(s.unpricedResponses) + " unpriced" : "");
    });

    std::size_t nameWidth = 0;
    std::vector<std::size_t> widths(runs.size(), 0);
    for (const auto& [name, cells] : rows) {
        nameWidth = std::max(nameWidth, name.size());
        for (std::size_t i = 0; i < cells.size(); ++i) {
            widths[i] = std::max(widths[i], cells[i].size());
        }
    }
    std::string out;
    for (const auto& [name, cells] : rows) {
        std::string line = name + std::string(nameWidth - name.size() + 2, ' ');
        for (std::size_t i = 0; i < cells.size(); ++i) {
            line += cells[i];
            if (i + 1 < cells.size()) {
                line += std::string(widths[i] - cells[i].size() + 3, ' ');
            }
        }
        out += line + "\n";
    }
    // Per-lane, stage and tenant breakdowns: one line each per run.
    for (const LoadTestSummary& s : runs) {
        if (s.lanes.size() > 1) {
            for (const auto& l : s.lanes) {
                out += "  " + s.label + " " + l.provider + "/" + l.model + ": " + count(l.completed) + " done, " +
                       groupThousands(static_cast<std::int64_t>(l.tokensPerMinute)) + " tok/min" +
                       (l.bindingLimit.empty() ? std::string()
                                               : ", " + percent(l.limitUtilisation) + " of " + l.bindingLimit) +
                       "\n";
            }
        }
        for (const auto& g : s.stages) {
            out += "  " + s.label + " stage " + g.name + ": " + count(g.completed) + " done, " + count(g.failed) +
                   " failed, latency p50/p95/p99 " + triple(g.latency) + ", queue p95 " +
                   (g.queueTime.count ? seconds(g.queueTime.p95) : std::string("-")) + "\n";
        }
        if (s.tenants.size() > 1) {
            for (const auto& g : s.tenants) {
                out += "  " + s.label + " tenant " + g.name + ": " + count(g.completed) + " done, latency p50/p95 " +
                       (g.latency.count ? seconds(g.latency.p50) + " / " + seconds(g.latency.p95) : std::string("-")) +
                       ", queue p95 " + (g.queueTime.count ? seconds(g.queueTime.p95) : std::string("-")) + "\n";
            }
        }
    }
    return out;
}

std::string describeEstimate(const loadtest::WorkloadEstimate& e, const std::string& pricesAsOf)
{
    std::string out = count(e.requests) + " requests (" + count(e.arrivals) + " arrivals), about " +
                      groupThousands(e.inputTokens) + " input tokens and at most " +
                      groupThousands(e.maxOutputTokens) + " output tokens; cost at most " + formatUsd(e.costMicroUsd) +
                      " at list prices" + (pricesAsOf.empty() ? "" : " as of " + pricesAsOf) +
                      " (retries add to it)";
    if (!e.unpricedModels.empty()) {
        out += "; no price known for";
        for (const std::string& m : e.unpricedModels) {
            out += " " + m;
        }
    }
    return out;
}

}  // namespace sluice::cli
