// Prometheus text exposition (format 0.0.4) of a MetricsSnapshot, and the
// small HTTP endpoint that serves it at GET /metrics for teams that already
// run Prometheus and Grafana.
//
// Series and labels (keys by their config label, never their value):
//   sluice_requests_sent_total{provider,key,model}                counter
//   sluice_requests_total{provider,key,model,class}               counter: finished attempts, class "ok" or a triage class
//   sluice_retries_total{provider,key,model}                      counter
//   sluice_tokens_total{provider,key,model,direction}             counter: reported usage, input|output
//   sluice_estimated_tokens_total{provider,key,model,direction}   counter: what those requests reserved
//   sluice_spend_usd_total{provider,key,model}                    counter: priced responses
//   sluice_unpriced_responses_total{provider,key,model}           counter: responses whose spend is unknown
//   sluice_request_duration_seconds{provider,key,model}           histogram: completed attempts
//   sluice_time_to_first_token_seconds{provider,key,model}        histogram: completed streams
//   sluice_in_flight{provider,key,model}                          gauge
//   sluice_queue_depth{provider,model}                            gauge
//   sluice_limit / sluice_limit_used / sluice_headroom{scope,provider,key,model,measure,window,period_seconds} gauges
//   sluice_metrics_dropped_events_total                           counter
//
// Thread-safety: prometheusText is pure; MetricsEndpoint as net::HttpServer
// (start and stop from one controlling thread; `render` runs on its io
// thread).
#pragma once

#include "metrics/metrics_recorder.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sluice::net {
class HttpServer;
}

namespace sluice::metrics {

std::string prometheusText(const MetricsSnapshot& snapshot);

class MetricsEndpoint {
public:
    // `render` produces the body of each GET /metrics.
    MetricsEndpoint(std::string host, std::uint16_t port, std::function<std::string()> render);
    ~MetricsEndpoint();
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

    // Binds and serves; returns the bound port. Throws std::runtime_error
    // naming the address when it cannot.
    std::uint16_t start();
    void stop();
    std::uint16_t port() const noexcept;

private:
    std::unique_ptr<net::HttpServer> m_server;
};

// Serves a recorder: each scrape samples its gauges, then renders a snapshot.
std::function<std::string()> prometheusRenderer(MetricsRecorder& recorder);

}  // namespace sluice::metrics
