#include "remote_backend.h"

#include "config/config.h"
#include "core/json_source.h"
#include "host/workspace.h"

#include <nlohmann/json.hpp>

namespace sluice::ui {

namespace {

constexpr auto kStatusEvery = std::chrono::milliseconds(300);
constexpr auto kSeriesEvery = std::chrono::milliseconds(900);
// A series no panel asked for in this long is no longer fetched.
constexpr auto kSeriesInterest = std::chrono::seconds(10);
constexpr std::size_t kMaxPoints = 3000;

}  // namespace

RemoteFirstLook firstLook(const RemoteTarget& target, const Clock& clock)
{
    control::ControlClient client(target.address, target.token, clock, std::chrono::seconds(5));
    RemoteFirstLook first;
    first.status = client.status();
    first.config = client.config();
    return first;
}

std::vector<LimitSpec> withLimitField(const std::vector<LimitSpec>& current, host::LimitField field,
                                      std::optional<double> value)
{
    nlohmann::json limits = host::limitsToJson(current);
    const std::string name(host::limitFieldName(field));
    if (value) {
        if (field == host::LimitField::SpendPerDayUsd) {
            limits[name] = *value;
        } else {
            limits[name] = static_cast<std::int64_t>(std::llround(*value));
        }
    } else {
        limits.erase(name);
    }
    std::vector<std::string> problems;
    const JsonSource source("limits", nlohmann::json{{"limits", limits}}.dump());
    std::vector<LimitSpec> specs = parseLimits(source, "/limits", problems);
    if (!problems.empty()) {
        std::string all;
        for (const auto& p : problems) {
            all += (all.empty() ? "" : "; ") + p;
        }
        throw InputError(all);
    }
    return specs;
}

RemoteBackend::RemoteBackend(RemoteTarget target, RemoteFirstLook first, Problem onProblem)
    : m_target(std::move(target)), m_baseUrl(control::controlBaseUrl(m_target.address)),
      m_onProblem(std::move(onProblem)), m_config(std::make_shared<const Config>(std::move(first.config)))
{
    take(first.status);
    m_thread = std::thread([this] { run(); });
}

RemoteBackend::~RemoteBackend()
{
    {
        const std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void RemoteBackend::take(const control::ControlStatus& status)
{
    m_limitHistory.record(m_clock.now(), host::capacityLinesOf(status.dispatch.keys, status.scopes));
    const std::lock_guard lock(m_mutex);
    m_status = status;
}

std::string RemoteBackend::kind() const
{
    const std::lock_guard lock(m_mutex);
    return m_status.kind;
}

std::optional<store::Counts> RemoteBackend::queueCounts() const
{
    const std::lock_guard lock(m_mutex);
    return m_status.queue;
}

bool RemoteBackend::hasDeadLetters() const
{
    const std::lock_guard lock(m_mutex);
    return m_status.deadLetters;
}

std::string RemoteBackend::requeueRefusal() const
{
    const std::lock_guard lock(m_mutex);
    return m_status.requeueRefusal;
}

host::HostStatus RemoteBackend::status() const
{
    const std::lock_guard lock(m_mutex);
    host::HostStatus s;
    s.dispatch = m_status.dispatch;
    s.scopes = m_status.scopes;
    for (const control::ControlEvent& e : m_status.events) {
        s.events.push_back(host::HostEvent{e.at, e.text});
    }
    // Its intake counts as open while a drain can still close it.
    s.intakeOpen = m_status.canDrain && !m_status.draining;
    return s;
}

std::shared_ptr<const Config> RemoteBackend::config() const
{
    const std::lock_guard lock(m_mutex);
    return m_config;
}

TimePoint RemoteBackend::metricsSince()
{
    const std::lock_guard lock(m_mutex);
    return m_status.seriesSince.value_or(m_clock.now());
}

std::vector<metrics::SeriesPoint> RemoteBackend::series(const metrics::ScopeKey& scope, Duration width, TimePoint from,
                                                        TimePoint to)
{
    const SeriesKey key{scope.label(), std::chrono::duration_cast<std::chrono::milliseconds>(width).count()};
    std::vector<metrics::SeriesPoint> out;
    bool fresh = false;
    {
        const std::lock_guard lock(m_mutex);
        auto [it, added] = m_series.try_emplace(key);
        fresh = added;
        it->second.lastWanted = m_clock.now();
        m_seriesScopes.emplace(key, scope);
        for (const metrics::SeriesPoint& p : it->second.points) {
            if (p.start >= from && p.start < to) {
                out.push_back(p);
            }
        }
    }
    if (fresh) {
        m_wake.notify_all();
    }
    return out;
}

std::vector<host::CapacityChange> RemoteBackend::limitHistory(TimePoint from, TimePoint to) const
{
    return m_limitHistory.between(from, to);
}

std::int64_t RemoteBackend::spendTodayMicroUsd()
{
    const std::lock_guard lock(m_mutex);
    return m_status.spendTodayMicroUsd;
}

void RemoteBackend::post(Command command)
{
    {
        const std::lock_guard lock(m_mutex);
        m_commands.push_back(std::move(command));
    }
    m_wake.notify_all();
}

void RemoteBackend::pause()
{
    post([](control::ControlClient& c) { c.pause(); });
}

void RemoteBackend::resume()
{
    post([](control::ControlClient& c) { c.resume(); });
}

void RemoteBackend::setIntakeOpen(bool open)
{
    if (!open) {
        post([](control::ControlClient& c) { c.drain(); });
    }
}

void RemoteBackend::setLimits(const LimitTarget& target, std::vector<LimitSpec> limits)
{
    post([target, limits = std::move(limits)](control::ControlClient& c) { c.setLimits(target, limits); });
}

void RemoteBackend::setKeyEnabled(const std::string& provider, const std::string& key, bool enabled)
{
    post([provider, key, enabled](control::ControlClient& c) { c.setKeyEnabled(provider, key, enabled); });
}

void RemoteBackend::run()
{
    control::ControlClient client(m_target.address, m_target.token, m_clock, std::chrono::seconds(5));
    TimePoint nextStatus{};
    TimePoint nextSeries{};
    bool configStale = false;
    const auto report = [&](const std::exception& e) {
        const std::string text = e.what();
        bool repeat = false;
        {
            const std::lock_guard lock(m_mutex);
            repeat = text == m_lastProblem;
            m_lastProblem = text;
        }
        // An outage is said once, not three times a second.
        if (!repeat && m_onProblem) {
            m_onProblem(text);
        }
    };
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
        while (!m_commands.empty() && !m_stop) {
            Command c = std::move(m_commands.front());
            m_commands.pop_front();
            lock.unlock();
            try {
                c(client);
                configStale = true;
            } catch (const std::exception& e) {
                report(e);
            }
            // A command's effect shows at once.
            nextStatus = TimePoint{};
            lock.lock();
        }
        const TimePoint now = m_clock.now();
        bool newSeries = false;
        for (const auto& [key, cache] : m_series) {
            newSeries = newSeries || !cache.tried;
        }
        if (now < nextStatus && (now < nextSeries && !newSeries)) {
            m_wake.wait_until(lock, std::chrono::steady_clock::now() + std::min(nextStatus - now, nextSeries - now));
            continue;
        }
        lock.unlock();
        try {
            if (now >= nextStatus) {
                nextStatus = now + kStatusEvery;
                take(client.status());
                if (configStale) {
                    auto config = std::make_shared<const Config>(client.config());
                    const std::lock_guard g(m_mutex);
                    m_config = std::move(config);
                    configStale = false;
                }
                const std::lock_guard g(m_mutex);
                m_lastProblem.clear();
            }
        } catch (const std::exception& e) {
            report(e);
        }
        if (now >= nextSeries || newSeries) {
            nextSeries = now + kSeriesEvery;
            std::vector<std::pair<SeriesKey, std::optional<TimePoint>>> wanted;
            {
                const std::lock_guard g(m_mutex);
                for (auto it = m_series.begin(); it != m_series.end();) {
                    if (now - it->second.lastWanted > kSeriesInterest) {
                        m_seriesScopes.erase(it->first);
                        it = m_series.erase(it);
                        continue;
                    }
                    it->second.tried = true;
                    std::optional<TimePoint> since;
                    if (!it->second.points.empty()) {
                        since = it->second.points.back().start;
                    }
                    wanted.emplace_back(it->first, since);
                    ++it;
                }
            }
            for (const auto& [key, since] : wanted) {
                metrics::ScopeKey scope;
                {
                    const std::lock_guard g(m_mutex);
                    scope = m_seriesScopes.at(key);
                }
                try {
                    const Duration width = std::chrono::milliseconds(key.second);
                    control::SeriesPage page = client.series(scope, width, since);
                    const std::lock_guard g(m_mutex);
                    const auto it = m_series.find(key);
                    if (it == m_series.end() || page.points.empty()) {
                        continue;
                    }
                    // The page starts with the bucket the cache ends with
                    // (it was still filling): the page's copy replaces it.
                    auto& points = it->second.points;
                    const TimePoint firstNew = page.points.front().start - width / 2;
                    while (!points.empty() && points.back().start >= firstNew) {
                        points.pop_back();
                    }
                    points.insert(points.end(), page.points.begin(), page.points.end());
                    while (points.size() > kMaxPoints) {
                        points.pop_front();
                    }
                } catch (const std::exception& e) {
                    report(e);
                }
            }
        }
        lock.lock();
    }
}

}  // namespace sluice::ui
