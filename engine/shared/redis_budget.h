// RedisBudget: a SharedBudget on Redis. Every limit of every scope is
// enforced across the instances of one namespace by BudgetScript, with a
// local lease of capacity so most admissions never wait on the network:
// the script grants a small slice beyond what a request needs, this instance
// spends it locally and gives back what it has not used after a short idle
// time. Everything spent locally was debited in Redis first, so the total
// across instances never exceeds a limit. Concurrency slots are leased with
// an expiry the heartbeat renews; a dead instance's slots return when it
// lapses.
//
// When Redis cannot be reached: LocalShare admits against a local ledger
// holding each limit ÷ the number of instances last seen; Stop admits
// nothing. Either is said on stderr and in status(); a background thread
// reconnects and the instance rejoins without a restart.
//
// Thread-safety: every public member may be called from any thread. The
// SharedBudget members run under Admission's lock and take this object's
// own mutex; network I/O on the hot path happens only when the local lease
// runs short. One background thread heartbeats, renews leases, returns
// unused capacity and reconnects.
#pragma once

#include "admission/shared_budget.h"
#include "config/config.h"
#include "core/clock.h"
#include "shared/budget_script.h"
#include "shared/redis_connection.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sluice::shared {

struct RedisBudgetOptions {
    std::string ns = "default";
    WhenUnavailable whenUnavailable = WhenUnavailable::LocalShare;
    std::string instanceId;  // empty: host-pid-random
    // A concurrency lease and an instance's registration last this long
    // without renewal; the heartbeat renews them every leaseTime / 4.
    Duration leaseTime = std::chrono::seconds(2);
    // Unused local capacity goes back to Redis after this long untouched.
    Duration idleReturn = std::chrono::milliseconds(200);
    // The slice of a rate dimension's capacity one instance may hold beyond
    // what its request needs: capacity / (divisor × instances). 0 turns the
    // local lease off (one script per admission).
    std::int64_t sliceDivisor = 16;
    // A refused concurrency slot is asked for again after this long.
    Duration concurrencyPoll = std::chrono::milliseconds(20);
    // A rate limit that fits within this long is booked rather than polled
    // for (BudgetScript::admit): instances are served in the order they
    // asked. Zero polls.
    Duration bookAhead = std::chrono::seconds(1);
    // A departure, or a booked slot taken, later than this moves the shared
    // pace on by the excess (departed(), admit()); within it, the arrival
    // margin absorbs the lateness. Not the paced window's catch-up slack
    // too (2.5 ms for a second of 40, as it was): that slack already lets
    // senders that woke late catch up, and absorbing as much lateness again
    // left nothing for arrival jitter. Two gateways against a sliding
    // second of requests then met a 429 once a minute, 41 requests
    // arriving within 998 ms.
    Duration lateDeparture = std::chrono::milliseconds(1);
    // Tests drive tick() themselves.
    bool backgroundThread = true;
    // The script reads time from the clock's wall time, not the server's
    // TIME: for tests on a ManualClock (every instance must then share the
    // clock). The heartbeat keeps the server's time.
    bool clockTime = false;
    // Where loud messages go (stderr by default).
    std::function<void(const std::string&)> say;
};

struct SharedStatus {
    bool connected = false;
    bool fallback = false;        // admitting on local_share
    bool stopped = false;         // refusing (when_unavailable: stop)
    std::int64_t instances = 1;   // registered, as last seen
    std::uint64_t remoteCalls = 0;     // admissions that ran the script
    std::uint64_t localAdmissions = 0; // admitted from the local lease
    std::uint64_t rejoins = 0;
    std::uint64_t learnedSent = 0;     // 429 lessons told to the other instances
    std::string lastError;
};

class RedisBudget final : public SharedBudget {
public:
    RedisBudget(Clock& clock, RedisEndpoint endpoint, RedisBudgetOptions options);
    ~RedisBudget() override;
    RedisBudget(const RedisBudget&) = delete;
    RedisBudget& operator=(const RedisBudget&) = delete;

    void scopeAdded(ScopeId id, ScopeId parent, const std::string& name, const std::vector<LimitSpec>& limits) override;
    void limitsChanged(ScopeId id, const std::vector<LimitSpec>& limits) override;
    void scopeRemoved(ScopeId id) override;
    Check admit(const Path& path, const Cost& cost, TimePoint now, const Ledger::Margins& margins,
                std::uint64_t& tag) override;
    void settle(const Hold& hold, const Cost& actual, TimePoint now) override;
    // A request that left more than lateDeparture after its admission moves
    // the shared pace of its rolling dimensions on by the excess (the most
    // since the last heartbeat, sent with it):
    // requests a window later keep their spacing from when it left, as the
    // local ledger's do.
    void departed(const Hold& hold, TimePoint leftAt) override;
    // Joins the lesson to what the namespace keeps for the scope's rolling
    // dimensions (BudgetScript::learn); the script applies it to every
    // instance's admissions. One round trip, on a 429.
    void learned(ScopeId scope, const Ledger::LearnedDims& dims, Learning what, TimePoint now) override;

    SharedStatus status() const;
    const std::string& instanceId() const noexcept { return m_options.instanceId; }
    // Returns every unused slice and slot to Redis now (also done on
    // destruction and, per dimension, after idleReturn).
    void returnUnused();
    // One heartbeat pass now (tests, and the background thread).
    void tick();
    // Sends the window-log corrections not yet sent (the background thread
    // does as soon as one is made: an instance booking a slot from an
    // entry's old time or size would put a request beside it).
    void flushLog();

private:
    struct Dim {
        LimitSpec spec{};
        std::string key;
        std::string weightKey;
        std::int64_t credit = 0;    // rate/fixed: units debited in Redis, not yet spent
        std::int64_t window = 0;    // fixed: the window the credit belongs to
        std::int64_t leased = 0;    // concurrency: weight leased in Redis
        std::int64_t inFlight = 0;  // concurrency: of which in use
        std::int64_t pendingDebit = 0;  // settled above the reservation, not yet sent
        TimePoint usableFrom{};     // rolling: the credit is a slot booked for then
        std::int64_t lateUs = 0;    // rolling: the latest departure's lateness, not yet sent
        TimePoint touched{};
        // Rolling tokens: the script keeps a window log of it (paced), so
        // every admission is logged there and nothing is spent from a
        // local slice; a booked slot's credit is the entry creditEntry.
        bool windowed = false;
        std::uint64_t creditEntry = 0;
    };
    struct Scope {
        ScopeId parent = kNoScope;
        std::string name;
        std::string path;
        std::vector<LimitSpec> limits;
        bool removed = false;
        std::vector<Dim> dims;
    };
    struct Work;
    struct Need;

    void buildDims(Scope& s);
    ScriptDim scriptDim(const Dim& d, std::int64_t a, std::int64_t b) const;
    std::int64_t slice(const Dim& d) const;
    std::int64_t wallUs() const;
    std::optional<std::int64_t> scriptNow() const;
    bool needsOf(const Path& path, const Cost& cost, const Ledger::Margins& margins, std::vector<Need>& needs,
                 TimePoint now);
    void forfeitStale(Dim& d, TimePoint now) const;
    std::optional<Check> admitRemote(const std::vector<Need>& needs, TimePoint now, std::uint64_t& entry);
    std::string entryName(std::uint64_t entry) const;
    void fixEntry(const Dim& d, std::uint64_t entry, std::int64_t delta, std::int64_t leftAtUs);
    std::optional<Check> bookedFor(const std::vector<Need>& needs, TimePoint now) const;
    static Binding bindingOf(const Need& n);
    void rejoin(std::int64_t seen);
    Work collectWork(std::int64_t seen, TimePoint now);
    Check fallbackAdmit(const Path& path, const Cost& cost, TimePoint now, std::uint64_t& tag);
    void enterUnavailableLocked(const std::string& why, TimePoint now);
    void sayLocked(const std::string& text);
    void rebuildFallback(TimePoint now);
    std::vector<LimitSpec> shareOf(std::vector<LimitSpec> limits) const;
    void resetLeases();
    void run(std::stop_token stop);
    // m_bgConn, connected first if it is not (under m_tickMutex). Throws RedisError.
    RedisConnection& backgroundConnection();

    Clock& m_clock;
    RedisEndpoint m_endpoint;
    RedisBudgetOptions m_options;
    BudgetScript m_script;
    std::string m_instancesKey;

    mutable std::mutex m_mutex;
    std::vector<Scope> m_scopes;  // by ScopeId
    std::unique_ptr<RedisConnection> m_conn;  // the hot path's; null while down
    std::unique_ptr<RedisConnection> m_bgConn;  // the background thread's (tick())
    std::mutex m_tickMutex;                     // one tick() at a time
    bool m_available = false;
    std::uint64_t m_generation = 1;
    SharedStatus m_status;
    std::unique_ptr<Ledger> m_fallback;
    std::uint64_t m_fallbackSeq = 0;
    std::unordered_map<std::uint64_t, Hold> m_fallbackHolds;
    std::uint64_t m_lastEntry = 0;   // window-log entries this instance has written
    std::vector<LogFix> m_logFixes;  // not yet sent (flushLog(), woken by m_flushWanted)

    std::mutex m_wakeMutex;
    std::condition_variable_any m_wake;
    std::atomic<bool> m_flushWanted{false};
    std::jthread m_thread;
};

// The budget a configuration asks for: null without "shared".
std::unique_ptr<RedisBudget> makeSharedBudget(const Config& config, Clock& clock);

}  // namespace sluice::shared
