// What a command that runs a Dispatcher needs for metrics: a recorder that
// writes per-minute rollups into the run's state database, its gauges read
// from the dispatcher and admission, and, with `--metrics HOST:PORT`, the
// Prometheus endpoint. `sluice-cli batch` uses it; later commands (load
// tests, the gateway) take the same option.
//
// Thread-safety: one controlling thread; the recorder itself is the
// dispatcher's listener (see MetricsRecorder).
#pragma once

#include "admission/admission.h"
#include "dispatch/dispatcher.h"
#include "metrics/metrics_recorder.h"
#include "metrics/prometheus.h"
#include "metrics/rollup_store.h"
#include "metrics/spend_estimate.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sluice::cli {

struct MetricsAddress {
    std::string host;
    std::uint16_t port = 0;
};

// Adds `--metrics HOST:PORT` to a command.
void addMetricsOption(CLI::App* command, std::string& listen);
// Parses the option's value; an empty value is no endpoint. Throws
// std::invalid_argument naming the flag.
std::optional<MetricsAddress> parseMetricsAddress(const std::string& listen);

// "1,000 requests to send, estimated spend at most $1.2345 (…); not
// included, unpriced models: p/m (12)": said before a run sends anything.
std::string spendEstimateText(const metrics::SpendEstimate& estimate, const std::string& pricesAsOf);

class RunMetrics {
public:
    // Opens the rollups of the state database (throws store::StoreError).
    RunMetrics(Clock& clock, const std::string& statePath);
    ~RunMetrics();
    RunMetrics(const RunMetrics&) = delete;
    RunMetrics& operator=(const RunMetrics&) = delete;

    metrics::MetricsRecorder& recorder() noexcept { return m_recorder; }
    // The state file's rollups in [from, to), this run's recent ones
    // written first (for the control endpoint's usage reports).
    std::vector<metrics::RollupRow> rollups(WallTime from, WallTime to);
    // Gauges come from these from now on; both must outlive this object's
    // stop().
    void watch(const Dispatcher& dispatcher, const Admission& admission);
    // More series appended to every /metrics scrape (the gateway's per-token
    // ones, the shared state's), in the order added; before start().
    void appendText(std::function<std::string()> text) { m_extraTexts.push_back(std::move(text)); }
    // Starts recording and, given an address, serves /metrics; returns the
    // endpoint's URL (empty without one). Throws std::runtime_error when it
    // cannot listen.
    std::string start(const std::optional<MetricsAddress>& address);
    // Stops serving, then writes every rollup left. Returns the last error
    // writing rollups, empty when all were written.
    std::string stop();

private:
    metrics::RollupStore m_rollups;
    metrics::MetricsRecorder m_recorder;
    std::unique_ptr<metrics::MetricsEndpoint> m_endpoint;
    std::vector<std::function<std::string()>> m_extraTexts;
};

}  // namespace sluice::cli
