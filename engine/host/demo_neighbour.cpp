#include "host/demo_neighbour.h"

#include "core/secret.h"
#include "http/http_client.h"

#include <algorithm>

namespace sluice::host {

DemoNeighbour::DemoNeighbour(Clock& clock, std::string baseUrl, DemoNeighbourOptions options)
    : m_clock(clock), m_baseUrl(std::move(baseUrl)), m_options(std::move(options))
{
}

DemoNeighbour::~DemoNeighbour()
{
    stop();
}

void DemoNeighbour::start()
{
    if (!m_thread.joinable() && m_options.rate > 0) {
        m_thread = std::jthread([this](std::stop_token stop) { run(stop); });
    }
}

void DemoNeighbour::stop()
{
    if (m_thread.joinable()) {
        m_thread.request_stop();
        m_thread.join();
    }
}

void DemoNeighbour::run(std::stop_token stop)
{
    using namespace std::chrono;
    http::HttpClient client;
    const std::string body = R"({"model":")" + m_options.model + R"(","max_tokens":)" +
                             std::to_string(m_options.maxTokens) +
                             R"(,"messages":[{"role":"user","content":"Draft the weekly status mail for the platform team."}]})";
    const Duration gap = duration_cast<Duration>(duration<double>(1.0 / m_options.rate));
    const TimePoint start = m_clock.now() + m_options.firstAfter;
    TimePoint next = start;
    // Polling in short steps bounds how long stop() waits; the clock here is
    // the demo's real one.
    const Duration step = milliseconds(50);
    while (!stop.stop_requested()) {
        const TimePoint now = m_clock.now();
        if (now >= next) {
            const Duration intoPeriod = (now - start) % m_options.period;
            if (intoPeriod < m_options.burst) {
                http::HttpRequest r;
                r.url = m_baseUrl + "/v1/chat/completions";
                r.headers = {"Content-Type: application/json"};
                r.secretHeader = Secret(m_options.apiKey).prefixed("Authorization: Bearer ");
                r.body = body;
                r.totalTimeout = seconds(30);
                client.start(std::move(r), {});
                m_sent.fetch_add(1, std::memory_order_relaxed);
                next += gap;
            } else {
                next = now + (m_options.period - intoPeriod);
            }
            continue;
        }
        client.poll(std::min(step, next - now));
    }
}

}  // namespace sluice::host
