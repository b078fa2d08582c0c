#include "dispatch/adaptive_concurrency.h"

#include <algorithm>
#include <cmath>

namespace sluice {

AdaptiveConcurrency::AdaptiveConcurrency(AdaptiveConcurrencyOptions options)
    : m_options(options)
{
    m_options.max = std::max<std::int64_t>(1, m_options.max);
    m_limit = static_cast<double>(std::clamp<std::int64_t>(m_options.initial, 1, m_options.max));
    m_applied = rounded();
}

std::int64_t AdaptiveConcurrency::rounded() const noexcept
{
    return std::clamp<std::int64_t>(std::llround(m_limit), 1, m_options.max);
}

std::int64_t AdaptiveConcurrency::limit() const noexcept
{
    return m_applied;
}

AdaptiveConcurrency::Decision AdaptiveConcurrency::onSample(TimePoint now, const ConcurrencySample& sample)
{
    Decision d;
    switch (sample.kind) {
    case ConcurrencySample::Kind::RateLimited:
        if (sample.retryAfter && *sample.retryAfter > Duration::zero()) {
            d.coolUntil = now + *sample.retryAfter;
        }
        // Requests sent before the last decrease went out under the old
        // limit: their 429s are the same episode, not a new one.
        if (!m_decreased || sample.sentAt >= m_lastDecrease) {
            m_lossLevel = m_limit;
            m_limit = std::max(1.0, m_limit * m_options.backoff);
            m_lastDecrease = now;
            m_decreased = true;
            // What the window saw was at the old limit.
            m_samples = 0;
            m_latencySum = Duration::zero();
            m_maxInFlight = 0;
        }
        break;
    case ConcurrencySample::Kind::Success:
        if (sample.sentAt < m_lastDecrease && m_decreased) {
            break;  // measured at the old limit
        }
        ++m_samples;
        m_latencySum += sample.latency;
        m_maxInFlight = std::max(m_maxInFlight, sample.inFlight);
        if (m_samples >= std::max<std::int64_t>(m_options.minWindowSamples, rounded())) {
            closeWindow(now);
        }
        break;
    case ConcurrencySample::Kind::Ignored:
        break;
    }
    const std::int64_t next = rounded();
    d.changed = next != m_applied;
    m_applied = next;
    d.limit = next;
    return d;
}

void AdaptiveConcurrency::closeWindow(TimePoint now)
{
    const Duration mean = m_latencySum / m_samples;
    const std::int64_t maxInFlight = m_maxInFlight;
    m_samples = 0;
    m_latencySum = Duration::zero();
    m_maxInFlight = 0;

    m_windowMeans.push_back(mean);
    while (static_cast<int>(m_windowMeans.size()) > std::max(1, m_options.baselineWindows)) {
        m_windowMeans.pop_front();
    }
    m_baseline = *std::min_element(m_windowMeans.begin(), m_windowMeans.end());
    if (mean <= Duration::zero()) {
        return;
    }
    const double gradient = std::clamp(
        m_options.tolerance * static_cast<double>(m_baseline.count()) / static_cast<double>(mean.count()), 0.5, 1.0);
    if (gradient < 1.0) {
        // Like a 429: the level where latency broke is approached slowly
        // again, and answers to requests sent before this decrease (at the
        // higher limit) do not lower it a second time.
        m_lossLevel = m_limit;
        m_limit = std::max(1.0, m_limit * gradient);
        m_lastDecrease = now;
        m_decreased = true;
        return;
    }
    // Growth only when demand reaches the limit: a limit never tested
    // against the provider must not climb.
    if (static_cast<double>(maxInFlight) * 2 < m_limit) {
        return;
    }
    const bool nearLoss = m_lossLevel > 0 && m_limit >= m_lossLevel * m_options.backoff;
    const double step = nearLoss ? 1.0 : std::max(1.0, std::sqrt(m_limit));
    m_limit = std::min(static_cast<double>(m_options.max), m_limit + step);
    if (m_limit > m_lossLevel * 1.5) {
        m_lossLevel = 0;  // well past the last 429: that level no longer says anything
    }
}

}  // namespace sluice
