// BudgetScript: the local ledger's arithmetic (engine/admission/ledger.cpp)
// as one Redis Lua script, so every instance of a namespace debits the same
// state in one round trip, all or nothing over every dimension it names.
//
// Rolling dimensions are GCRA; state is the debt (µs × limit units) at the
// time of the last write, so the numbers stay exact in Lua's doubles (below
// 2^53) for capacity × period up to ~9e15 (1e6 tokens/min is 6e13). Fixed
// windows keep (window index, used). Concurrency is leased: one member per
// instance in a sorted set scored by the lease's expiry and its weight in a
// hash; expired members are pruned by every call, so a dead instance's slots
// return when its lease runs out. Time is the server's (`TIME`), unless a
// test passes one. Every key of one call carries the namespace's hash tag.
// Arrival margins are the caller's (the local ledger narrows and widens
// them); the script spaces its debits by them, or by what any instance
// learned from a 429 when that is wider: learn() keeps, per rolling
// dimension, the ledger's narrowed burst, margins and window pacing
// (`<dimension key>|learned`), and every admission applies them as the
// ledger applies its own, relaxing a step per quiet period as it does.
// Once paced, an input or total token dimension (ScriptDim::logged) also
// keeps a window log as the ledger does (ledger_window.cpp): every
// admission is an entry (`<dimension key>|log`, scored by when the
// provider counts it; sizes in `|logsize`), corrected by fixLog() when the
// request settles or leaves late, and a need is admitted only when the
// provider's window has room for it, across every instance.
//
// Thread-safety: the object is immutable after construction; calls take a
// connection that only the calling thread may use.
#pragma once

#include "shared/redis_connection.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::shared {

// One dimension of one scope, as the script sees it.
struct ScriptDim {
    char kind = 'r';  // 'r' rolling, 'f' fixed window, 'c' concurrency
    std::int64_t limit = 0;
    std::int64_t periodUs = 0;
    std::int64_t cap = 0;
    // admit: a = the units needed, b = the most wanted (a lease of capacity).
    // adjust: a = the change (negative refunds or releases), b = for fixed
    // windows the window the change belongs to (-1: the current one); for
    // rolling ones a request's lateness in µs that moves a busy pace on
    // (0 or less: none), and leastMarginUs > 0 for one that leaves now: the
    // pace is then at least that far from now.
    std::int64_t a = 0;
    std::int64_t b = 0;
    std::int64_t offsetUs = 0;  // fixed windows: the zone's offset from UTC
    // Rolling, admit: the local ledger's arrival margin in force (see
    // Ledger::marginFor and Ledger::margins): each unit granted is spaced by
    // this share of its refill time, and a need that fills the whole bucket
    // by at least leastMarginUs (within the ledger's start and maximum
    // shares). 0: exact rates.
    std::int32_t marginPer10k = 0;
    std::int64_t leastMarginUs = 0;
    // Rolling input or total tokens: once paced, a window log is kept.
    bool logged = false;
    std::string key;            // state (hash), or the lease set
    std::string weightKey;      // concurrency: the weights hash
};

// What was learned from 429s is kept this long after the last one (at
// least 64 periods of the dimension): by then every step has relaxed but
// window pacing, which the ledger never relaxes; after it, the next 429
// that says "window" decides again.
inline constexpr std::int64_t kKeepLearnedMs = 3'600'000;

// The flags of a learn() dimension's `a`.
inline constexpr std::int64_t kLearnRestartsQuiet = 1;     // a 429: the quiet period starts again
inline constexpr std::int64_t kLearnRestartsNearMiss = 2;  // a near miss: the least margin's starts again
inline constexpr std::int64_t kLearnPaced = 4;             // the instance paces the dimension evenly
inline constexpr std::int64_t kLearnCountsRequests = 8;    // the dimension counts requests (pacing's slack)

// The key that keeps what was learned about a rolling dimension.
std::string learnedKey(const ScriptDim& d);
// A rolling dimension's window log: entries by time, and their sizes.
std::string logKey(const std::string& dimensionKey);
std::string logSizesKey(const std::string& dimensionKey);

// A correction to one window-log entry (BudgetScript::fixLog).
struct LogFix {
    std::string key;    // the dimension's key
    std::string entry;  // the entry, as admit() wrote it
    std::int64_t delta = 0;     // change of its size (settled)
    // When it left, if later (0: unchanged). Negative: it leaves no earlier
    // than -leftAtUs, and has not left yet.
    std::int64_t leftAtUs = 0;
};

// An entry admitted but not yet said to have left counts, once its time
// has passed, as leaving no earlier than now, up to this much after its
// time (an instance that never says, such as one whose request was
// cancelled before it went, costs no more than this).
inline constexpr std::int64_t kPendingMostUs = 50'000;

struct ScriptResult {
    // Booked: admitted waitUs from now (see admit).
    enum class Status : std::int8_t { Never = -1, Wait = 0, Admit = 1, Booked = 2 };
    Status status = Status::Never;
    std::int64_t nowUs = 0;      // the server's time the script used
    std::int64_t waitUs = -1;    // Wait, Booked: until the rate dimensions fit (-1: none waits)
    int binding = -1;            // index of the deciding dimension, or -1
    bool concurrencyFull = false;
    std::vector<std::int64_t> grants;  // Admit, Booked: units granted per dimension
    // Admit, Booked: per dimension, whether it keeps a window log (the
    // grant is then the need alone, logged as `entry`).
    std::vector<bool> windowed;
};

class BudgetScript {
public:
    BudgetScript();

    static const std::string& source();
    const std::string& sha() const noexcept { return m_sha; }

    // Admits need..want on every dimension, or nothing. When only rolling
    // dimensions are short and they fit within bookAheadUs, books the need
    // (no more) at the time it fits: its debits are taken now, as if sent
    // then, so the next caller is told the slot after it. Instances waiting
    // for one limit are then served in the order they asked, where polling
    // would serve whichever wakes first after each refill (one instance's
    // requests starved for tens of seconds by another's, at a paced limit).
    // `entry` names what a windowed dimension logs; unique in the namespace.
    ScriptResult admit(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                       std::int64_t leaseUs, std::optional<std::int64_t> nowUs = std::nullopt,
                       std::int64_t bookAheadUs = 0, const std::string& entry = "-") const;
    // Corrects window-log entries in one round trip: what a request used,
    // when it left. Entries already expired are left alone.
    void fixLog(RedisConnection& c, const std::vector<LogFix>& fixes,
                std::optional<std::int64_t> nowUs = std::nullopt) const;
    // Applies changes (settle corrections, returned credit, released slots).
    void adjust(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                std::int64_t leaseUs, std::optional<std::int64_t> nowUs = std::nullopt) const;
    // Extends this instance's concurrency leases on these dimensions.
    void renew(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
               std::int64_t leaseUs, std::optional<std::int64_t> nowUs = std::nullopt) const;
    // Drops this instance's concurrency leases (after a reconnect: slots held
    // before are no longer tracked).
    void forget(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                std::optional<std::int64_t> nowUs = std::nullopt) const;
    // Joins what an instance's ledger learned from a 429 to what is kept for
    // these rolling dimensions: per dimension a = kLearn* bits, b = burst
    // halvings, marginPer10k and leastMarginUs the ledger's in force.
    void learn(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
               std::optional<std::int64_t> nowUs = std::nullopt) const;
    // Registers the instance for ttlUs; returns how many are registered.
    std::int64_t heartbeat(RedisConnection& c, const std::string& instancesKey, const std::string& instance,
                           std::int64_t ttlUs) const;

private:
    RedisReply run(RedisConnection& c, const std::string& op, const std::vector<ScriptDim>& dims,
                   const std::string& instance, std::int64_t leaseUs, std::optional<std::int64_t> nowUs,
                   std::int64_t bookAheadUs = 0, const std::string& entry = "-") const;
    RedisReply call(RedisConnection& c, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args) const;
    std::string m_sha;
};

}  // namespace sluice::shared
