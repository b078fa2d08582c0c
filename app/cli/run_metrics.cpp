#include "cli/run_metrics.h"
#include "cli/progress.h"

#include "metrics/gauges.h"
#include "mock/mock_config.h"

#include <CLI/CLI.hpp>

#include <stdexcept>

namespace sluice::cli {

void addMetricsOption(CLI::App* command, std::string& listen)
{
    command->add_option("--metrics", listen,
                        "Serve Prometheus metrics at http://HOST:PORT/metrics while running (e.g. 127.0.0.1:9464; "
                        "port 0 picks a free one)");
}

std::optional<MetricsAddress> parseMetricsAddress(const std::string& listen)
{
    if (listen.empty()) {
        return std::nullopt;
    }
    MetricsAddress a;
    try {
        mock::parseListenAddress(listen, "--metrics", a.host, a.port);
    } catch (const mock::ConfigError& e) {
        throw std::invalid_argument(e.what());
    }
    return a;
}

std::string spendEstimateText(const metrics::SpendEstimate& estimate, const std::string& pricesAsOf)
{
    std::string text = groupThousands(estimate.jobs) + " requests to send, estimated spend at most " +
                       formatUsd(estimate.microUsd) + " (prompt estimate + max_tokens, prices as of " +
                       (pricesAsOf.empty() ? std::string("?") : pricesAsOf) + ")";
    std::string unpriced;
    for (const auto& [model, jobs] : estimate.unpricedModels) {
        unpriced += (unpriced.empty() ? "" : ", ") + model + " (" + groupThousands(jobs) + ")";
    }
    if (!unpriced.empty()) {
        text += "; not included, unpriced models: " + unpriced;
    }
    return text;
}

RunMetrics::RunMetrics(Clock& clock, const std::string& statePath)
    : m_rollups(statePath), m_recorder(clock, metrics::RecorderOptions{}, &m_rollups)
{
}

RunMetrics::~RunMetrics()
{
    stop();
}

std::vector<metrics::RollupRow> RunMetrics::rollups(WallTime from, WallTime to)
{
    (void)m_recorder.flush();  // what it could not write yet is left out
    return m_rollups.rows(from, to);
}

void RunMetrics::watch(const Dispatcher& dispatcher, const Admission& admission)
{
    m_recorder.setGaugeSource(
        [&dispatcher, &admission] { return metrics::gaugeSampleOf(dispatcher.stats(), admission.snapshotAll()); });
}

std::string RunMetrics::start(const std::optional<MetricsAddress>& address)
{
    std::string url;
    if (address) {
        std::function<std::string()> render = metrics::prometheusRenderer(m_recorder);
        if (!m_extraTexts.empty()) {
            render = [base = std::move(render), extras = m_extraTexts] {
                std::string text = base();
                for (const auto& extra : extras) {
                    text += extra();
                }
                return text;
            };
        }
        m_endpoint = std::make_unique<metrics::MetricsEndpoint>(address->host, address->port, std::move(render));
        const std::uint16_t port = m_endpoint->start();
        const bool v6 = address->host.find(':') != std::string::npos;
        url = "http://" + (v6 ? "[" + address->host + "]" : address->host) + ":" + std::to_string(port) + "/metrics";
    }
    m_recorder.start();
    return url;
}

std::string RunMetrics::stop()
{
    if (m_endpoint) {
        m_endpoint->stop();
        m_endpoint.reset();
    }
    m_recorder.stop();
    if (!m_recorder.flush()) {
        return m_recorder.snapshot().rollupError;
    }
    return {};
}

}  // namespace sluice::cli
