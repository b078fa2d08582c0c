// RemoteBackend: a headless instance (sluice-cli serve, batch or worker
// with --control) as the console's backend. A thread of its own talks to
// the instance's control endpoint (ControlClient): it sends the commands in
// the order given, fetches the status about three times a second and, for
// each series a panel asked for in the last seconds, the buckets since the
// last one it has; the GUI thread reads what was fetched last and never
// waits on the network. The instance's times arrive as wall-clock times
// and are placed on this process's clock.
//
// Thread-safety: the ConsoleBackend members from the GUI thread; the
// problem callback runs on the backend's thread.
#pragma once

#include "console_backend.h"
#include "control/control_client.h"
#include "host/workspace.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace sluice::ui {

struct RemoteTarget {
    std::string address;  // HOST:PORT or http://HOST:PORT
    std::optional<Secret> token;
};

// What an attach fetched first: the proof the instance answers, and the
// backend's starting snapshot.
struct RemoteFirstLook {
    control::ControlStatus status;
    Config config;
};

// Connects and fetches status and configuration, waiting for them: call it
// off the GUI thread. Throws ControlError (unreachable, refused token) or
// InputError (a bad address).
RemoteFirstLook firstLook(const RemoteTarget& target, const Clock& clock);

// A target's limits with one field set (nullopt removes it), as the
// workspace file would compute them (host::WorkspaceConfig::setLimit),
// for an instance that has no workspace file. Throws InputError.
std::vector<LimitSpec> withLimitField(const std::vector<LimitSpec>& current, host::LimitField field,
                                      std::optional<double> value);

class RemoteBackend final : public ConsoleBackend {
public:
    using Problem = std::function<void(const std::string& message)>;
    RemoteBackend(RemoteTarget target, RemoteFirstLook first, Problem onProblem);
    ~RemoteBackend() override;
    RemoteBackend(const RemoteBackend&) = delete;
    RemoteBackend& operator=(const RemoteBackend&) = delete;

    const std::string& baseUrl() const noexcept { return m_baseUrl; }
    std::string kind() const;
    std::optional<store::Counts> queueCounts() const;
    bool hasDeadLetters() const;
    // Why its dead letters cannot be requeued (serve); empty when they can.
    std::string requeueRefusal() const;

    host::HostStatus status() const override;
    std::shared_ptr<const Config> config() const override;
    Clock& clock() override { return m_clock; }
    TimePoint metricsSince() override;
    std::vector<metrics::SeriesPoint> series(const metrics::ScopeKey& scope, Duration width, TimePoint from,
                                             TimePoint to) override;
    std::vector<host::CapacityChange> limitHistory(TimePoint from, TimePoint to) const override;
    std::int64_t spendTodayMicroUsd() override;
    std::string mockUrl() const override { return {}; }

    void pause() override;
    void resume() override;
    // Closing drains the instance (when it can; see canDrain in its
    // status); an intake once closed is not opened again from here.
    void setIntakeOpen(bool open) override;
    void setLimits(const LimitTarget& target, std::vector<LimitSpec> limits) override;
    void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled) override;

private:
    using Command = std::function<void(control::ControlClient&)>;
    struct SeriesCache {
        std::deque<metrics::SeriesPoint> points;
        TimePoint lastWanted{};
        bool tried = false;  // fetched at least once (or failed to be)
    };
    using SeriesKey = std::pair<std::string, std::int64_t>;  // scope label, width in ms

    void post(Command command);
    void run();
    void take(const control::ControlStatus& status);

    SystemClock m_clock;
    RemoteTarget m_target;
    std::string m_baseUrl;
    Problem m_onProblem;
    host::LimitHistory m_limitHistory;

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;
    std::deque<Command> m_commands;
    control::ControlStatus m_status;
    std::shared_ptr<const Config> m_config;
    std::map<SeriesKey, SeriesCache> m_series;
    std::map<SeriesKey, metrics::ScopeKey> m_seriesScopes;
    std::string m_lastProblem;
    std::thread m_thread;  // last: started when everything else is built
};

}  // namespace sluice::ui
