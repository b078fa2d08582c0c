#include "gateway/tenant_stats.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

namespace sluice::gateway {

namespace {

constexpr Duration kMinute = std::chrono::seconds(60);
// Enough for a minute at a few hundred requests a second; past it the
// oldest waits leave early, which only narrows the percentile's window.
constexpr std::size_t kMaxWaits = 20000;

std::int64_t secondOf(TimePoint t)
{
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Duration percentile(std::vector<Duration>& v, double q)
{
    if (v.empty()) {
        return Duration::zero();
    }
    const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

}  // namespace

TenantStats::TenantStats(Clock& clock) : m_clock(clock) {}

TenantStats::Ticket::Ticket(std::shared_ptr<TenantStats> owner, std::string token, TimePoint arrived)
    : m_owner(std::move(owner)), m_token(std::move(token)), m_arrived(arrived), m_stage(Stage::Held)
{
}

TenantStats::Ticket::Ticket(Ticket&& other) noexcept
    : m_owner(std::move(other.m_owner)), m_token(std::move(other.m_token)), m_arrived(other.m_arrived),
      m_stage(std::exchange(other.m_stage, Stage::None))
{
}

TenantStats::Ticket& TenantStats::Ticket::operator=(Ticket&& other) noexcept
{
    if (this != &other) {
        end();
        m_owner = std::move(other.m_owner);
        m_token = std::move(other.m_token);
        m_arrived = other.m_arrived;
        m_stage = std::exchange(other.m_stage, Stage::None);
    }
    return *this;
}

TenantStats::Ticket::~Ticket()
{
    end();
}

void TenantStats::Ticket::end()
{
    if (!m_owner || m_stage == Stage::None || m_stage == Stage::Ended) {
        return;
    }
    std::lock_guard guard(m_owner->m_mutex);
    Row& r = m_owner->row(m_token);
    (m_stage == Stage::Held ? r.waiting : r.inFlight) -= 1;
    m_stage = Stage::Ended;
}

void TenantStats::Ticket::admitted()
{
    if (!m_owner || m_stage != Stage::Held) {
        return;
    }
    const TimePoint now = m_owner->m_clock.now();
    std::lock_guard guard(m_owner->m_mutex);
    Row& r = m_owner->row(m_token);
    r.waiting -= 1;
    r.inFlight += 1;
    r.requestsAt[bucket(r, now)] += 1;
    m_gateWait = std::max(Duration::zero(), now - m_arrived);
    m_stage = Stage::InFlight;
}

void TenantStats::Ticket::refused()
{
    if (!m_owner || m_stage == Stage::None || m_stage == Stage::Ended) {
        return;
    }
    {
        std::lock_guard guard(m_owner->m_mutex);
        m_owner->row(m_token).refused += 1;
    }
    end();
}

void TenantStats::Ticket::finished(std::int64_t tokens, std::int64_t spendMicroUsd, std::optional<Duration> queueWait)
{
    if (!m_owner || m_stage != Stage::InFlight) {
        return;
    }
    const TimePoint now = m_owner->m_clock.now();
    {
        std::lock_guard guard(m_owner->m_mutex);
        Row& r = m_owner->row(m_token);
        r.tokensAt[bucket(r, now)] += tokens;
        r.spendMicroUsd += spendMicroUsd;
        if (queueWait) {
            r.waits.emplace_back(now, m_gateWait + std::max(Duration::zero(), *queueWait));
            while (r.waits.size() > kMaxWaits || (!r.waits.empty() && now - r.waits.front().first > kMinute)) {
                r.waits.pop_front();
            }
        }
    }
    end();
}

void TenantStats::Ticket::finished(const JobOutcome& outcome)
{
    // Queued → first sent, both on the dispatcher's wall clock.
    std::optional<WallTime> queued;
    std::optional<Duration> queueWait;
    for (const TimelineEvent& e : outcome.timeline) {
        if (e.kind == TimelineEvent::Kind::Queued && !queued) {
            queued = e.at;
        } else if (e.kind == TimelineEvent::Kind::Sent && queued) {
            queueWait = std::chrono::duration_cast<Duration>(e.at - *queued);
            break;
        }
    }
    const std::int64_t tokens = outcome.usage ? outcome.usage->inputTokens + outcome.usage->outputTokens : 0;
    finished(tokens, outcome.spendMicroUsd.value_or(0), queueWait);
}

TenantStats::Ticket TenantStats::arrive(const std::string& token)
{
    {
        std::lock_guard guard(m_mutex);
        Row& r = row(token);
        r.waiting += 1;
        r.requests += 1;
    }
    return Ticket(shared_from_this(), token, m_clock.now());
}

TenantStats::Row& TenantStats::row(const std::string& token)
{
    auto it = m_rows.find(token);
    if (it == m_rows.end()) {
        it = m_rows.emplace(token, Row{}).first;
        std::fill(std::begin(it->second.second), std::end(it->second.second), -1);
    }
    return it->second;
}

int TenantStats::bucket(Row& row, TimePoint now)
{
    const std::int64_t s = secondOf(now);
    const int i = static_cast<int>(((s % kSeconds) + kSeconds) % kSeconds);
    if (row.second[i] != s) {
        row.second[i] = s;
        row.requestsAt[i] = 0;
        row.tokensAt[i] = 0;
    }
    return i;
}

std::vector<TenantFigures> TenantStats::snapshot(const std::vector<std::string>& names) const
{
    const TimePoint now = m_clock.now();
    const std::int64_t nowSecond = secondOf(now);
    std::vector<TenantFigures> out;
    std::lock_guard guard(m_mutex);
    const auto figures = [&](const std::string& name, const Row* r) {
        TenantFigures f;
        f.token = name;
        if (r == nullptr) {
            return f;
        }
        for (int i = 0; i < kSeconds; ++i) {
            // The last 60 whole seconds, the current one included.
            if (r->second[i] > nowSecond - kSeconds && r->second[i] <= nowSecond) {
                f.requestsLastMinute += r->requestsAt[i];
                f.tokensLastMinute += r->tokensAt[i];
            }
        }
        std::vector<Duration> waits;
        waits.reserve(r->waits.size());
        for (const auto& [at, wait] : r->waits) {
            if (now - at <= kMinute) {
                waits.push_back(wait);
            }
        }
        f.waitP50 = percentile(waits, 0.50);
        f.waitP95 = percentile(waits, 0.95);
        f.waiting = r->waiting;
        f.inFlight = r->inFlight;
        f.requests = r->requests;
        f.refused = r->refused;
        f.spendMicroUsd = r->spendMicroUsd;
        return f;
    };
    for (const auto& [name, r] : m_rows) {
        out.push_back(figures(name, &r));
    }
    for (const std::string& name : names) {
        if (m_rows.find(name) == m_rows.end()) {
            out.push_back(figures(name, nullptr));
        }
    }
    std::sort(out.begin(), out.end(), [](const TenantFigures& a, const TenantFigures& b) { return a.token < b.token; });
    return out;
}

namespace {

std::string labelValue(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

std::string tenantPrometheusText(const std::vector<TenantRow>& rows)
{
    std::string out;
    const auto family = [&](const char* name, const char* type, const char* help,
                            const std::function<void(const TenantRow&, const std::string&)>& each) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (const TenantRow& r : rows) {
            each(r, std::string(name) + "{token=\"" + labelValue(r.figures.token) + "\",tenant=\"" +
                        labelValue(r.tenant) + "\"");
        }
    };
    const auto line = [&](const std::string& head, const std::string& extra, double value) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.9g", value);
        out += head + extra + "} " + buf + "\n";
    };
    const auto seconds = [](Duration d) { return std::chrono::duration<double>(d).count(); };
    family("sluice_tenant_requests_total", "counter", "Requests received through the gateway, by gateway token",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.requests)); });
    family("sluice_tenant_refused_total", "counter", "429s the gateway handed out, by gateway token",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.refused)); });
    family("sluice_tenant_spend_usd_total", "counter", "Spend of the token's requests, US dollars",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.spendMicroUsd) / 1e6); });
    family("sluice_tenant_requests_last_minute", "gauge", "Requests admitted in the last 60 s",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.requestsLastMinute)); });
    family("sluice_tenant_tokens_last_minute", "gauge", "Tokens of requests ended in the last 60 s",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.tokensLastMinute)); });
    family("sluice_tenant_waiting", "gauge", "Requests held for the token's own budget now",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.waiting)); });
    family("sluice_tenant_in_flight", "gauge", "Requests admitted and not ended",
           [&](const TenantRow& r, const std::string& h) { line(h, "", static_cast<double>(r.figures.inFlight)); });
    family("sluice_tenant_wait_seconds", "gauge", "Wait before admission over the last 60 s",
           [&](const TenantRow& r, const std::string& h) {
               line(h, ",quantile=\"0.5\"", seconds(r.figures.waitP50));
               line(h, ",quantile=\"0.95\"", seconds(r.figures.waitP95));
           });
    family("sluice_tenant_limit", "gauge", "The token's own limits as enforced now",
           [&](const TenantRow& r, const std::string& h) {
               for (const LimitSpec& s : r.limits) {
                   const char* measure = s.measure == Measure::Concurrency ? "concurrency"
                                         : s.measure == Measure::Requests  ? "requests"
                                         : s.measure == Measure::TotalTokens ? "tokens"
                                         : s.measure == Measure::SpendMicroUsd ? "spend_micro_usd"
                                                                                : nullptr;
                   if (measure == nullptr) {
                       continue;
                   }
                   const std::string window = s.measure == Measure::Concurrency ? ""
                                              : s.window == Window::Rolling  ? ",window=\"rolling\""
                                                                             : ",window=\"day\"";
                   line(h, std::string(",measure=\"") + measure + "\"" + window, static_cast<double>(s.limit));
               }
           });
    family("sluice_tenant_paused", "gauge", "1 while the token is paused",
           [&](const TenantRow& r, const std::string& h) { line(h, "", r.paused ? 1 : 0); });
    return out;
}

}  // namespace sluice::gateway
