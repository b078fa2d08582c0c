#include "metrics/prometheus.h"

#include "net/http_server.h"

#include <cstdio>

namespace sluice::metrics {

namespace {

std::string escapeLabel(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    return out;
}

// Millionths as a decimal without float noise: 1000 → "0.001". Serves
// microseconds as seconds and micro-USD as USD.
std::string millionths(std::int64_t n)
{
    char buf[48];
    std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(n / 1'000'000),
                  static_cast<long long>(n % 1'000'000));
    std::string s = buf;
    while (s.back() == '0') {
        s.pop_back();
    }
    if (s.back() == '.') {
        s.pop_back();
    }
    return s;
}

class Writer {
public:
    void family(const char* name, const char* type, const char* help)
    {
        m_out += "# HELP ";
        m_out += name;
        m_out += ' ';
        m_out += help;
        m_out += "\n# TYPE ";
        m_out += name;
        m_out += ' ';
        m_out += type;
        m_out += '\n';
    }
    void sample(std::string_view name, const std::string& labels, const std::string& value)
    {
        m_out += name;
        if (!labels.empty()) {
            m_out += '{';
            m_out += labels;
            m_out += '}';
        }
        m_out += ' ';
        m_out += value;
        m_out += '\n';
    }
    std::string take() { return std::move(m_out); }

private:
    std::string m_out;
};

std::string label(std::string_view name, std::string_view value)
{
    return std::string(name) + "=\"" + escapeLabel(value) + "\"";
}

std::string leafLabels(const ScopeKey& s)
{
    return label("provider", s.provider) + "," + label("key", s.key) + "," + label("model", s.model);
}

template <typename Count>
void histogram(Writer& w, const char* name, const std::string& labels, const BasicHistogram<Count>& h)
{
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (int i = 0; i < kHistogramBuckets - 1; ++i) {
        cumulative += h.bucket(i);
        // Every other bound: powers of two from 1 ms to 524 s are enough for
        // dashboards and keep the series count down.
        if (i % 2 == 0) {
            w.sample(bucket, labels + "," + label("le", millionths(histogramUpperBoundUs(i))), std::to_string(cumulative));
        }
    }
    w.sample(bucket, labels + "," + label("le", "+Inf"), std::to_string(h.count()));
    w.sample(std::string(name) + "_sum", labels, millionths(h.sumUs()));
    w.sample(std::string(name) + "_count", labels, std::to_string(h.count()));
}

std::string usd(std::int64_t microUsd)
{
    return microUsd < 0 ? "-" + millionths(-microUsd) : millionths(microUsd);
}

// The counters per key and model (the scopes' leaves).
void writeLeafCounters(Writer& w, const std::vector<const ScopeTotals*>& leaves)
{
    w.family("sluice_requests_sent_total", "counter", "HTTP requests sent to providers.");
    for (const ScopeTotals* s : leaves) {
        w.sample("sluice_requests_sent_total", leafLabels(s->scope), std::to_string(s->totals.sent));
    }
    w.family("sluice_requests_total", "counter",
             "Attempts finished, by outcome: class=\"ok\" for success, else the triage class of the failure.");
    for (const ScopeTotals* s : leaves) {
        const std::string labels = leafLabels(s->scope);
        w.sample("sluice_requests_total", labels + "," + label("class", "ok"), std::to_string(s->totals.completed));
        for (int c = 1; c < kFailureClassCount; ++c) {
            if (const auto n = s->totals.failuresOf(static_cast<FailureClass>(c)); n != 0) {
                w.sample("sluice_requests_total",
                         labels + "," + label("class", failureClassName(static_cast<FailureClass>(c))),
                         std::to_string(n));
            }
        }
    }
    w.family("sluice_retries_total", "counter", "Sends that retried a failed attempt.");
    for (const ScopeTotals* s : leaves) {
        w.sample("sluice_retries_total", leafLabels(s->scope), std::to_string(s->totals.retries));
    }
    w.family("sluice_tokens_total", "counter", "Tokens the providers reported for completed requests.");
    for (const ScopeTotals* s : leaves) {
        const std::string labels = leafLabels(s->scope);
        w.sample("sluice_tokens_total", labels + "," + label("direction", "input"), std::to_string(s->totals.inputTokens));
        w.sample("sluice_tokens_total", labels + "," + label("direction", "output"), std::to_string(s->totals.outputTokens));
    }
    w.family("sluice_estimated_tokens_total", "counter", "Tokens reserved (estimated) for the same completed requests.");
    for (const ScopeTotals* s : leaves) {
        const std::string labels = leafLabels(s->scope);
        w.sample("sluice_estimated_tokens_total", labels + "," + label("direction", "input"),
                 std::to_string(s->totals.estimatedInputTokens));
        w.sample("sluice_estimated_tokens_total", labels + "," + label("direction", "output"),
                 std::to_string(s->totals.estimatedOutputTokens));
    }
    w.family("sluice_spend_usd_total", "counter", "Spend of priced responses, in US dollars.");
    for (const ScopeTotals* s : leaves) {
        w.sample("sluice_spend_usd_total", leafLabels(s->scope), usd(s->totals.spendMicroUsd));
    }
    w.family("sluice_unpriced_responses_total", "counter",
             "Completed responses whose spend is unknown (model without a price, or no usage reported).");
    for (const ScopeTotals* s : leaves) {
        w.sample("sluice_unpriced_responses_total", leafLabels(s->scope), std::to_string(s->totals.unpriced));
    }
}

// Each limit's size, use and headroom.
void writeLimitGauges(Writer& w, const std::vector<LimitGauge>& limits)
{
    const auto limitLabels = [](const LimitGauge& g) {
        return label("scope", scopeKindName(g.scope.kind)) + "," + label("provider", g.scope.provider) + "," +
               label("key", g.scope.key) + "," + label("model", g.scope.model) + "," +
               label("measure", measureName(g.spec.measure)) + "," + label("window", windowName(g.spec.window)) + "," +
               label("period_seconds",
                     g.spec.measure == Measure::Concurrency
                         ? std::string("0")
                         : std::to_string(std::chrono::duration_cast<std::chrono::seconds>(g.spec.period).count()));
    };
    w.family("sluice_limit", "gauge", "A limit, per period (or at once, for concurrency); spend in micro-USD.");
    for (const LimitGauge& g : limits) {
        w.sample("sluice_limit", limitLabels(g), std::to_string(g.spec.limit));
    }
    w.family("sluice_limit_used", "gauge", "What a limit has counted now (in flight, for concurrency).");
    for (const LimitGauge& g : limits) {
        w.sample("sluice_limit_used", limitLabels(g), std::to_string(g.used));
    }
    w.family("sluice_headroom", "gauge", "What a limit would admit now: its capacity less what it has counted.");
    for (const LimitGauge& g : limits) {
        w.sample("sluice_headroom", limitLabels(g), std::to_string(g.available));
    }
}

}  // namespace

std::string prometheusText(const MetricsSnapshot& snap)
{
    std::vector<const ScopeTotals*> leaves;
    for (const ScopeTotals& s : snap.scopes) {
        if (s.scope.kind == ScopeKind::KeyModel) {
            leaves.push_back(&s);
        }
    }
    Writer w;
    writeLeafCounters(w, leaves);
    w.family("sluice_request_duration_seconds", "histogram", "Latency of completed requests, sent to last byte.");
    for (const ScopeTotals* s : leaves) {
        histogram(w, "sluice_request_duration_seconds", leafLabels(s->scope), s->totals.latency);
    }
    w.family("sluice_time_to_first_token_seconds", "histogram", "Time to the first token of completed streams.");
    for (const ScopeTotals* s : leaves) {
        histogram(w, "sluice_time_to_first_token_seconds", leafLabels(s->scope), s->totals.timeToFirstToken);
    }
    w.family("sluice_in_flight", "gauge", "Requests sent and not yet answered.");
    for (const ScopeTotals* s : leaves) {
        w.sample("sluice_in_flight", leafLabels(s->scope), std::to_string(s->inFlight));
    }
    w.family("sluice_jobs_queued", "gauge", "Jobs waiting for admission or for a retry.");
    w.sample("sluice_jobs_queued", "", std::to_string(snap.gauges.queued));
    w.family("sluice_queue_depth", "gauge", "Jobs waiting for admission, by provider and model.");
    for (const QueueDepth& lane : snap.gauges.lanes) {
        w.sample("sluice_queue_depth", label("provider", lane.provider) + "," + label("model", lane.model),
                 std::to_string(lane.queued));
    }
    writeLimitGauges(w, snap.gauges.limits);
    w.family("sluice_metrics_dropped_events_total", "counter",
             "Metrics events dropped because nothing drained the recorder's buffer.");
    w.sample("sluice_metrics_dropped_events_total", "", std::to_string(snap.droppedEvents));
    return w.take();
}

std::function<std::string()> prometheusRenderer(MetricsRecorder& recorder)
{
    return [&recorder] {
        recorder.sampleGauges();
        return prometheusText(recorder.snapshot());
    };
}

MetricsEndpoint::MetricsEndpoint(std::string host, std::uint16_t port, std::function<std::string()> render)
{
    net::HttpServerOptions options;
    options.host = std::move(host);
    options.port = port;
    options.maxBodyBytes = 64 * 1024;
    m_server = std::make_unique<net::HttpServer>(
        options, [render = std::move(render)](net::InboundRequest&& request, net::HttpResponder responder) {
            if (request.path() != "/metrics") {
                responder.send(net::HttpReply::whole(404, "text/plain; charset=utf-8", "Not found: try /metrics\n"));
                return;
            }
            if (request.method != "GET") {
                net::HttpReply reply = net::HttpReply::whole(405, "text/plain; charset=utf-8", "Use GET\n");
                reply.headers.emplace_back("Allow", "GET");
                responder.send(std::move(reply));
                return;
            }
            responder.send(net::HttpReply::whole(200, "text/plain; version=0.0.4; charset=utf-8", render()));
        });
}

MetricsEndpoint::~MetricsEndpoint()
{
    stop();
}

std::uint16_t MetricsEndpoint::start()
{
    return m_server->start();
}

void MetricsEndpoint::stop()
{
    m_server->stop();
}

std::uint16_t MetricsEndpoint::port() const noexcept
{
    return m_server->port();
}

}  // namespace sluice::metrics
