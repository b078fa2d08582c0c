// ConsoleBackend: the narrow view of a running engine the console's panels
// read and command: the status snapshot, the configuration, live series,
// the limit history, today's spend, and the immediate commands (pause,
// resume, intake, limits, keys). EmbeddedBackend is the workspace's own
// EngineHost; RemoteBackend (remote_backend.h) is a headless instance
// attached over its control endpoint. Store work (queue counts, dead
// letters, requeue) goes through StoreClient, which has both forms too.
//
// Thread-safety: GUI thread only. Every member returns at once: reads take
// short locks or return the latest snapshot fetched; commands are handed
// on and applied within a second.
#pragma once

#include "host/engine_host.h"

#include <memory>
#include <string>
#include <vector>

namespace sluice::ui {

class ConsoleBackend {
public:
    virtual ~ConsoleBackend() = default;

    virtual host::HostStatus status() const = 0;
    virtual std::shared_ptr<const Config> config() const = 0;
    // The clock series and status times are on (local for a remote one).
    virtual Clock& clock() = 0;
    // When the live series start: nothing before is drawn.
    virtual TimePoint metricsSince() = 0;
    virtual std::vector<metrics::SeriesPoint> series(const metrics::ScopeKey& scope, Duration width, TimePoint from,
                                                     TimePoint to) = 0;
    virtual std::vector<host::CapacityChange> limitHistory(TimePoint from, TimePoint to) const = 0;
    virtual std::int64_t spendTodayMicroUsd() = 0;
    virtual std::string mockUrl() const = 0;

    virtual void pause() = 0;
    virtual void resume() = 0;
    virtual void setIntakeOpen(bool open) = 0;
    // Throws InputError when an embedded engine refuses; a remote one says
    // so later, through its problem callback.
    virtual void setLimits(const LimitTarget& target, std::vector<LimitSpec> limits) = 0;
    virtual void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled) = 0;
};

// The workspace's own engine.
class EmbeddedBackend final : public ConsoleBackend {
public:
    explicit EmbeddedBackend(host::EngineHost& host) : m_host(host) {}

    host::HostStatus status() const override { return m_host.status(); }
    std::shared_ptr<const Config> config() const override { return m_host.config(); }
    Clock& clock() override { return m_host.clock(); }
    TimePoint metricsSince() override { return m_host.metrics().snapshot().since; }
    std::vector<metrics::SeriesPoint> series(const metrics::ScopeKey& scope, Duration width, TimePoint from,
                                             TimePoint to) override
    {
        return m_host.metrics().series(scope, width, from, to);
    }
    std::vector<host::CapacityChange> limitHistory(TimePoint from, TimePoint to) const override
    {
        return m_host.limitHistory().between(from, to);
    }
    std::int64_t spendTodayMicroUsd() override { return m_host.spendTodayMicroUsd(); }
    std::string mockUrl() const override { return m_host.mockUrl(); }

    void pause() override { m_host.pause(); }
    void resume() override { m_host.resume(); }
    void setIntakeOpen(bool open) override { m_host.setIntakeOpen(open); }
    void setLimits(const LimitTarget& target, std::vector<LimitSpec> limits) override
    {
        m_host.setLimits(target, std::move(limits));
    }
    void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled) override
    {
        m_host.setKeyEnabled(provider, key, enabled);
    }

private:
    host::EngineHost& m_host;
};

}  // namespace sluice::ui
