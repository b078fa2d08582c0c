// `sluice-cli limits --config FILE`: what each scope of a configuration is
// held to before anything runs, and why: each limit as configured, the
// burst in force and where it came from (granularity_s set, or the
// one-second default), "auto" concurrency with its start and ceiling, what
// is left to be learned from the provider's headers, and the pacing margin.
// Needs no API keys: nothing is sent, so unset key variables are not errors.
#include "cli/commands.h"

#include "admission/admission.h"
#include "admission/ledger.h"
#include "config/config.h"
#include "core/json_source.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace sluice::cli {

namespace {

struct LimitsOptions {
    std::string config;
};

std::string fieldOf(const LimitSpec& s)
{
    if (s.measure == Measure::Concurrency) {
        return "concurrency";
    }
    const bool day = s.window == Window::Fixed;
    switch (s.measure) {
    case Measure::Requests: return day ? "rpd" : "rpm";
    case Measure::TotalTokens: return day ? "tpd" : "tpm";
    case Measure::InputTokens: return "itpm";
    case Measure::OutputTokens: return "otpm";
    case Measure::SpendMicroUsd: return day ? "spend_per_day_usd" : "spend_per_minute_usd";
    case Measure::Concurrency: break;
    }
    return std::string(measureName(s.measure));
}

std::string valueOf(const LimitSpec& s)
{
    if (s.measure == Measure::SpendMicroUsd) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(s.limit) / 1e6);
        return buf;
    }
    return std::to_string(s.limit);
}

// One line per limit of a scope. `limits` is the scope's "limits" object in
// the file (null when it has none), for whether granularity_s was set.
void printScope(const std::string& scope, const std::vector<LimitSpec>& specs,
                const std::optional<AutoConcurrency>& autoConcurrency, const nlohmann::json* limits)
{
    std::printf("%s\n", scope.c_str());
    if (specs.empty()) {
        std::printf("  (no limits configured)\n");
        return;
    }
    const nlohmann::json::const_iterator g =
        limits != nullptr ? limits->find("granularity_s") : nlohmann::json::const_iterator{};
    const bool granularitySet = limits != nullptr && g != limits->end();
    for (const LimitSpec& s : specs) {
        std::string line = "  " + fieldOf(s) + " " + valueOf(s);
        if (s.measure == Measure::Concurrency) {
            line += autoConcurrency ? "  adaptive (\"auto\"): starts at " + std::to_string(autoConcurrency->initial) +
                                          ", found at run time within [1, " + std::to_string(autoConcurrency->max) +
                                          "]"
                                    : "  configured";
        } else if (s.window == Window::Fixed) {
            line += "  configured, per day";
        } else {
            line += "  configured; burst " + std::to_string(s.capacity());
            // burstFor(): the provider's bucket less kArrivalJitterAllowance of rate.
            const std::string jitter =
                ", less " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(kArrivalJitterAllowance).count()) +
                " ms of rate for arrival jitter)";
            if (s.measure == Measure::SpendMicroUsd || s.burst == 0) {
                line += " (a minute's worth)";
            } else if (granularitySet) {
                char buf[64];
                std::snprintf(buf, sizeof buf, "%g", g->get<double>());
                line += std::string(" (granularity_s ") + buf + " configured" + jitter;
            } else {
                line += " (default granularity 1 s: a second's worth" + jitter;
            }
        }
        std::printf("%s\n", line.c_str());
    }
}

const nlohmann::json* limitsIn(const nlohmann::json& obj)
{
    const auto it = obj.find("limits");
    return it != obj.end() && it->is_object() ? &*it : nullptr;
}

const nlohmann::json* providerJson(const nlohmann::json& root, std::size_t i)
{
    const auto it = root.find("providers");
    return it != root.end() && it->is_array() && i < it->size() ? &(*it)[i] : nullptr;
}

int runLimits(const LimitsOptions& opt)
{
    Config config;
    std::unique_ptr<JsonSource> source;
    try {
        source = std::make_unique<JsonSource>(JsonSource::fromFile(opt.config));
        // Nothing is sent: a key's variable need not be set to see its limits.
        config = loadConfig(*source, [](const std::string&) { return std::optional<std::string>("unused"); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli limits: %s\n", e.what());
        return kExitBadInput;
    }
    const nlohmann::json& root = source->root();
    std::printf("Limits in %s (burst: the most sent at once from a full bucket)\n\n", config.source.c_str());
    const auto global = root.find("global");
    printScope("global", config.globalLimits, std::nullopt,
               global != root.end() && global->is_object() ? limitsIn(*global) : nullptr);
    for (std::size_t i = 0; i < config.providers.size(); ++i) {
        const ProviderConfig& p = config.providers[i];
        const nlohmann::json* pj = providerJson(root, i);
        std::printf("\n");
        printScope("provider " + p.name, p.limits, p.autoConcurrency, pj != nullptr ? limitsIn(*pj) : nullptr);
        if (p.learnLimits) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g", std::chrono::duration<double>(p.learnedGranularity).count());
            std::printf("  dimensions not set here: learned from the provider's rate-limit headers at run time, "
                        "burst = limit x %s s / 60 s (learned_granularity_s)\n",
                        buf);
        } else {
            std::printf("  learn_limits false: nothing is learned from the provider's headers\n");
        }
        const nlohmann::json* models = nullptr;
        if (pj != nullptr) {
            if (const auto it = pj->find("models"); it != pj->end() && it->is_object()) {
                models = &*it;
            }
        }
        for (const ModelConfig& m : p.models) {
            const nlohmann::json* mj = models != nullptr && models->contains(m.name) ? &(*models)[m.name] : nullptr;
            printScope("provider " + p.name + ", model " + m.name + " (per key)", m.limits, std::nullopt,
                       mj != nullptr ? limitsIn(*mj) : nullptr);
        }
        const nlohmann::json* keys = nullptr;
        if (pj != nullptr) {
            if (const auto it = pj->find("keys"); it != pj->end() && it->is_array()) {
                keys = &*it;
            }
        }
        for (std::size_t k = 0; k < p.keys.size(); ++k) {
            const KeyConfig& key = p.keys[k];
            const nlohmann::json* kj = keys != nullptr && k < keys->size() ? &(*keys)[k] : nullptr;
            printScope("provider " + p.name + ", key " + key.name + (key.enabled ? "" : " (disabled)"), key.limits,
                       key.autoConcurrency, kj != nullptr ? limitsIn(*kj) : nullptr);
            const nlohmann::json* kmodels = nullptr;
            if (kj != nullptr) {
                if (const auto it = kj->find("models"); it != kj->end() && it->is_object()) {
                    kmodels = &*it;
                }
            }
            for (const auto& [model, specs] : key.modelLimits) {
                const nlohmann::json* mj =
                    kmodels != nullptr && kmodels->contains(model) ? &(*kmodels)[model] : nullptr;
                printScope("provider " + p.name + ", key " + key.name + ", model " + model +
                               " (overrides the provider's)",
                           specs, std::nullopt, mj != nullptr ? limitsIn(*mj) : nullptr);
            }
        }
    }
    std::printf("\nPacing margin: each request on a per-minute limit is spaced %.1f%% of its refill time beyond "
                "the rate, up to %.1f%% after near-miss 429s (%.0f%% while a burst after idle is paid back); a "
                "request that fills a whole bucket %lld ms more, widened by near misses to cover the lateness they "
                "report, at most %.1f%% of its refill time. Against a provider found to count a window, requests go "
                "evenly, %.1f%% beyond the rate, widened by near misses up to %.1f%%\n",
                Ledger::kMarginPer10k / 100.0, Ledger::kMaxMarginPer10k / 100.0, Ledger::kPaybackPer10k / 100.0,
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(Admission::kDefaultArrivalMargin).count()),
                Ledger::kMaxWholeMarginPer10k / 100.0, Ledger::kPacedMarginPer10k / 100.0,
                Ledger::kMostPacedMarginPer10k / 100.0);
    return kExitOk;
}

}  // namespace

void addLimitsCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<LimitsOptions>();
    CLI::App* cmd = app.add_subcommand(
        "limits", "Show each scope's effective limits, their burst and where they come from, and the pacing margin");
    cmd->add_option("--config", opt->config, "Configuration file (docs/configuration.md)")->required();
    cmd->callback([opt, &exitCode] { exitCode = runLimits(*opt); });
}

}  // namespace sluice::cli
