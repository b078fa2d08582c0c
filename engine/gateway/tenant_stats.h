// TenantStats: what each gateway token's traffic is doing now, for the
// console's Clients view and the tenant series of /metrics: requests and
// tokens in the last minute, requests held by the tenant gate and in flight,
// the wait before the request went to the provider (its own budget, then
// the providers' limits; p50/p95 over the last minute), the 429s the
// gateway handed out and the spend, per token name. The gateway records
// each request through a Ticket, whose stage (held, in flight, ended) moves
// only forward and is closed by its destructor, so no exit path leaves a
// request counted as waiting or in flight. Counts are kept by token name
// and survive a gateway restart when the same TenantStats is passed in
// again (tokens added or revoked restart the gateway).
//
// Thread-safety: every member from any thread; one short lock.
#pragma once

#include "admission/limits.h"
#include "core/clock.h"
#include "dispatch/job.h"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::gateway {

struct TenantFigures {
    std::string token;                  // the gateway token's name
    std::int64_t requestsLastMinute = 0;  // admitted in the last 60 s
    std::int64_t tokensLastMinute = 0;    // input + output tokens of requests ended in the last 60 s
    std::int64_t waiting = 0;           // held by the tenant gate now
    std::int64_t inFlight = 0;          // admitted by its budget and not ended (queued for a provider or sent)
    Duration waitP50{};                 // arrival to first send, over requests ended in the last 60 s
    Duration waitP95{};
    std::uint64_t requests = 0;         // every request received since the start
    std::uint64_t refused = 0;          // 429s handed out
    std::int64_t spendMicroUsd = 0;     // since the start
};

// One row of the Clients view: a token, what it may do and what it does.
struct TenantRow {
    TenantFigures figures;
    std::string tenant;
    int priority = 0;
    std::vector<std::string> models;  // empty: every model served
    std::vector<LimitSpec> limits;    // as the gate enforces them now
    bool paused = false;
};

class TenantStats : public std::enable_shared_from_this<TenantStats> {
public:
    explicit TenantStats(Clock& clock);

    // One request of `token`, from its arrival (counted as waiting) to its
    // end. Move-only; destroying it ends whatever stage it is in.
    class Ticket {
    public:
        Ticket() = default;
        Ticket(Ticket&& other) noexcept;
        Ticket& operator=(Ticket&& other) noexcept;
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        ~Ticket();

        // Held → in flight (its own budget admitted it).
        void admitted();
        // Answered 429 (from the gate or later): counted, and the request ends.
        void refused();
        // The request ended after admission with this usage; `queueWait`
        // is how long it then waited for the providers' limits before it
        // was first sent (none: never sent, no wait is recorded).
        void finished(std::int64_t tokens, std::int64_t spendMicroUsd, std::optional<Duration> queueWait);
        // The same, read from the job's outcome (usage, spend, timeline).
        void finished(const JobOutcome& outcome);

    private:
        friend class TenantStats;
        enum class Stage : std::uint8_t { None, Held, InFlight, Ended };
        Ticket(std::shared_ptr<TenantStats> owner, std::string token, TimePoint arrived);
        void end();

        std::shared_ptr<TenantStats> m_owner;
        std::string m_token;
        TimePoint m_arrived{};
        Duration m_gateWait{};
        Stage m_stage = Stage::None;
    };

    // A request of `token` arrived (made through shared_ptr: the ticket
    // keeps the stats alive).
    Ticket arrive(const std::string& token);

    // Figures for every token seen, by name; `names` adds a zero row for
    // each configured token not seen yet.
    std::vector<TenantFigures> snapshot(const std::vector<std::string>& names = {}) const;

private:
    static constexpr int kSeconds = 60;
    struct Row {
        // Per-second buckets of the last minute, indexed by second % 60.
        std::int64_t second[kSeconds] = {};
        std::int64_t requestsAt[kSeconds] = {};
        std::int64_t tokensAt[kSeconds] = {};
        std::deque<std::pair<TimePoint, Duration>> waits;  // last minute's sent requests, oldest first
        std::int64_t waiting = 0;
        std::int64_t inFlight = 0;
        std::uint64_t requests = 0;
        std::uint64_t refused = 0;
        std::int64_t spendMicroUsd = 0;
    };
    // Under m_mutex: the bucket for `now`, cleared when it last held an older second.
    static int bucket(Row& row, TimePoint now);
    Row& row(const std::string& token);

    Clock& m_clock;
    mutable std::mutex m_mutex;
    std::map<std::string, Row, std::less<>> m_rows;
};

// The sluice_tenant_* series of /metrics (Prometheus text format): per
// token, requests and 429s handed out (counters), spend, the last minute's
// requests and tokens, waiting, in flight, p50/p95 wait, limits, paused.
std::string tenantPrometheusText(const std::vector<TenantRow>& rows);

}  // namespace sluice::gateway
