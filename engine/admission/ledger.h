// Ledger: the usage state of every limit in a tree of scopes, and the
// arithmetic that admits, settles and corrects against it.
//
// Rate dimensions use GCRA (the "virtual scheduling" form of a token bucket):
// each keeps one number, the theoretical arrival time (TAT), in scaled
// integer time (nanoseconds × limit), so refill is continuous and exact and
// earliest-time answers carry no rounding error.
//
// Defined in ledger.cpp (scopes, limits, corrections), ledger_admit.cpp
// (check, admit, settle, departure), ledger_margin.cpp (arrival
// margins, burst narrowing, window pacing) and ledger_window.cpp (the
// sliding-window log of a paced token dimension).
//
// Thread-safety: none. Admission owns one ledger and serialises access to it;
// a shared (Redis) ledger later implements the same operations in a script.
#pragma once

#include "admission/limits.h"

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

enum class Verdict : std::uint8_t {
    Admit,  // fits now
    Wait,   // fits later: at notBefore, or after a release (concurrency)
    Never   // exceeds a dimension's whole limit (a rolling one's per-period limit,
            // not its burst), or a scope was removed
};

// The dimension that decided a verdict: which scope, which of its limits
// (index into its LimitSpec list), and what that limit counts. Small, so a
// decision stays cheap to return. dimension == -1 with Verdict::Never means
// the scope itself was removed.
struct Binding {
    ScopeId scope = kNoScope;
    std::int16_t dimension = -1;
    Measure measure = Measure::Requests;
    Window window = Window::Rolling;
    Duration period{};
    std::int64_t limit = 0;      // the dimension's limit in force
    std::int64_t capacity = 0;   // the most it admits at once (the burst, for a rolling window)
    std::int64_t requested = 0;  // Never: the amount asked, above capacity
};

// Why a Never binding can never admit the request, with its figures, to
// follow the dimension's name: "; the estimate, 4,200, is more than the 1,500
// it admits at once (limit 90,000)". Empty for a removed scope.
std::string describeExcess(const Binding& b);

struct Check {
    Verdict verdict = Verdict::Admit;
    // Wait: the earliest time at which every rate dimension on the path fits.
    // When waitsForRelease is set it is only a lower bound.
    TimePoint notBefore{};
    // Wait: a concurrency dimension is full; only a release can make room.
    bool waitsForRelease = false;
    // The dimension that decided: for Wait, the rate dimension that fits
    // last, or the full concurrency dimension when no rate dimension waits.
    Binding binding{};
    // Wait with waitsForRelease: the full concurrency dimension.
    Binding releaseBinding{};
    // Admit, from check(): the smallest fraction of any dimension's capacity
    // left after this request (1 = untouched, 0 = exactly full), for choosing
    // the key with the most headroom.
    double headroom = 1.0;
};

// A debit recorded against the ledger by admit(): what settle() and cancel()
// need to undo or correct it.
struct Hold {
    Path path{};
    Cost cost{};
    std::uint64_t epoch = 0;  // ledger configuration epoch at admission
    TimePoint at{};
    std::uint64_t sharedTag = 0;  // SharedBudget's mark for it; 0: none
    std::uint64_t serial = 0;     // the ledger's number for it (its window-log entries)
};

// What a provider reports about one of its buckets (rate-limit headers).
struct ProviderView {
    std::optional<std::int64_t> limit;      // the provider's capacity
    std::optional<std::int64_t> remaining;  // units left now
    std::optional<Duration> timeToFull;     // until the bucket is full again
};

struct DimensionState {
    LimitSpec spec{};
    std::int64_t used = 0;       // units counted now (in flight, for concurrency)
    std::int64_t available = 0;  // capacity - used, never negative
    Duration timeToFull{};       // until used drains to zero (rate dimensions)
    // Rolling: what the ledger enforces beyond the spec, as of the last
    // admission (for people: the console, --explain). The burst in force
    // (the spec's capacity, halved after 429s, one when paced), whether the
    // provider was found to count a window (paceEvenly), the arrival margin
    // as a share of the rate, and the learned absolute margin that spaces a
    // whole-bucket request (noteNearMiss). Zero elsewhere.
    std::int64_t burstInForce = 0;
    bool paced = false;
    std::int32_t marginPer10k = 0;
    Duration leastMargin{};
};

struct ScopeState {
    ScopeId id = kNoScope;
    ScopeId parent = kNoScope;
    std::string name;
    bool removed = false;
    std::vector<DimensionState> dimensions;
};

class Ledger {
public:
    static constexpr int kMaxDimensions = 8;

    // wallMinusSteady maps monotonic time onto the calendar for fixed
    // (per-day) windows. A non-zero arrivalMargin turns on the arrival
    // margin (see marginFor): every request on a rolling dimension is
    // spaced a share of its refill time further than the rate alone, and
    // one that fills a whole bucket by an absolute margin that starts at
    // arrivalMargin and is learned from near misses (at most 1% of its
    // refill time), so network jitter does not bring a request to the
    // provider before its bucket or window has room. Zero: exact rates.
    // windowLogs: input and total token dimensions log their window and,
    // once paced, admit only what fits it (ledger_window.cpp); off, they
    // pace at a burst of one as requests do, which is what the shared
    // budget's script enforces for a dimension it keeps no log of
    // (ScriptDim::logged false; its tests compare the two).
    explicit Ledger(Duration wallMinusSteady = Duration::zero(), Duration arrivalMargin = Duration::zero(),
                    bool windowLogs = true);
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    static constexpr ScopeId root() noexcept { return 0; }

    // Throws std::invalid_argument naming the problem (bad spec, too deep,
    // duplicate name under the same parent, too many dimensions).
    ScopeId addScope(ScopeId parent, std::string name, const std::vector<LimitSpec>& limits,
                     TimePoint now);
    // Replaces a scope's limits without forgetting usage already counted:
    // a dimension that stays (same measure and window) keeps its usage, so a
    // lower limit binds at once and a higher one grants no phantom credit.
    void setLimits(ScopeId scope, const std::vector<LimitSpec>& limits, TimePoint now);
    // The scope and everything below it admit nothing more; holds against it
    // settle harmlessly.
    void removeScope(ScopeId scope);

    std::optional<ScopeId> findScope(ScopeId parent, std::string_view name) const;
    Path pathTo(ScopeId leaf) const;
    std::size_t scopeCount() const noexcept { return m_scopes.size(); }

    // Would the request fit now? Changes nothing.
    Check check(const Path& path, const Cost& cost, TimePoint now) const;
    // All or nothing: debits every dimension of every scope on the path when
    // all of them admit, and nothing otherwise.
    Check admit(const Path& path, const Cost& cost, TimePoint now, Hold& hold);
    // Corrects a hold to what the request really used (refund or extra
    // debit) and releases its concurrency weight.
    void settle(const Hold& hold, const Cost& actual, TimePoint now);
    // The request of `hold`, admitted at hold.at, really left at `leftAt`
    // (after its connection was set up): a provider whose bucket had room
    // counts it from then, so no dimension may refill from it earlier than
    // its spacing after leftAt. Without this the request after the first
    // on a new connection (or a TLS handshake) reaches the provider early
    // by the set-up time, and at one request per bucket that is a 429.
    // newConnection: the request opened its own connection. The provider
    // then counts it later still, by what no hook on our side sees (its
    // accept, TLS termination, routing to a backend, a cold worker), while
    // the next request, on a warm connection, skips all that and overtakes
    // the delay; so a whole-bucket request's successor keeps at least
    // kNewConnectionMarginNs from it (at most kMaxNewConnectionPer10k of
    // the refill time). The first request of a run is always on a new
    // connection: this is what keeps the second from being refused.
    void departed(const Hold& hold, TimePoint leftAt, bool newConnection = false);
    static constexpr std::int64_t kNewConnectionMarginNs = 100'000'000;
    static constexpr std::int32_t kMaxNewConnectionPer10k = 1'000;  // 10%
    // A request abandoned before it was sent: refunded in full.
    void cancel(const Hold& hold, TimePoint now);

    // Tightens the scope's rolling dimension for `measure` so it shows no more
    // headroom than the provider says remains (from `remaining`, or from the
    // time to full and the limit). Never loosens: the provider has not yet
    // seen requests still in flight. Returns whether anything changed.
    bool correct(ScopeId scope, Measure measure, const ProviderView& view, TimePoint now);

    // A 429 for a limit at a pace this ledger allowed (the dispatcher calls
    // it on every rate-limit 429): requests reach the provider earlier than
    // the margin allows for (a near miss, "try again in 3ms"), or the
    // provider allows less burst than we model (a sliding window allows
    // none at the rate). Each call doubles the scope's arrival margin, up to
    // kMaxMarginPer10k (4% of the rate), and halves the burst of its rolling
    // dimensions, down to one unit; each quiet period (see below) undoes one
    // step of both. Returns whether anything changed.
    bool widenMargin(ScopeId scope, TimePoint now);
    // A 429 that said "try again in `hint`" (a near miss): the request
    // reached the provider that much before its bucket had room, although
    // the absolute margin already spaced it. The absolute margin (what
    // spaces a request that takes a whole bucket) grows to cover that
    // evidence, by half as much again, at most kMostMarginNs; marginFor
    // caps what it costs at kMaxWholeMarginPer10k of the refill time. A
    // quiet period narrows it by a quarter, back down to the ledger's
    // arrivalMargin. A dimension paced against a window widens its share
    // at once to what holds such a miss (widenPaceFor). Returns whether
    // anything grew. A token dimension that keeps a window log counts each
    // entry for the window plus this margin, which then grows to at most
    // kMostWindowMarginNs: there every millisecond of it is a thousandth of
    // the limit (against a 1 s window), and a miss at the end of a window
    // says as much about an estimate a little short as about a late
    // arrival, which the share (widened on every 429) holds instead.
    bool noteNearMiss(ScopeId scope, Duration hint, TimePoint now);
    static constexpr std::int64_t kMostMarginNs = 1'000'000'000;
    static constexpr std::int64_t kMostWindowMarginNs = 10'000'000;
    static constexpr std::int32_t kMaxWholeMarginPer10k = 100;  // 1%: ≥ 99% of the limit
    // The absolute margin in force on the scope's rolling dimension for
    // `measure` (zero when margins are off or there is none).
    Duration nearMissMargin(ScopeId scope, Measure measure) const;
    // The provider counts a window (sliding or fixed), not a bucket: every
    // rolling dimension of the scope paces its requests at the rate (a
    // burst of one unit) from now on, with the catch-up slack a window
    // allows (see burstSlack). Returns whether anything changed.
    // A paced input or total token dimension starts its window log then
    // (ledger_window.cpp) with the window taken as full: what the bucket
    // let out before is not known to the window, and the provider has just
    // said its window is full.
    bool paceEvenly(ScopeId scope, TimePoint now);
    bool paced(ScopeId scope) const;
    // A paced scope refused for longer than its token log's window: the
    // provider counts the whole period (a sliding minute), so each logged
    // token dimension now holds its limit over the period, the log taken
    // as a period sent at the rate. Returns whether anything changed.
    bool windowThePeriod(ScopeId scope, TimePoint now);
    // The arrival margin, as a share of each request's refill time (see
    // marginFor). A bucket starts at the floor, kMarginPer10k; near misses
    // double it (up to kMaxMarginPer10k), and after a period with no
    // widening it halves, down to the floor. A window (paceEvenly) starts
    // at kPacedMarginPer10k, its jitter tolerance, and near misses at that
    // pace widen it up to kMostPacedMarginPer10k. A spell of jitter (or
    // the start's switch from a burst to pacing) should not cost 2% of the
    // limit for the rest of the run, so a paced share halves back towards
    // its start after a quiet time (pacedQuiet) that doubles with each
    // step taken: a network that stays jittery costs a 429 ever more
    // rarely (after six steps, one per sixteen periods).
    //
    // A bucket that starts or has idled full lets out a burst; a provider
    // that counts a per-minute window (fixed or sliding) instead of a
    // bucket would see that burst on top of a minute at the rate. So the
    // burst is paid back at once, by kPaybackPer10k of the rate for as long
    // as that takes at the rate (about 11 s for a second's worth of burst,
    // never longer than a period), and the margin is then the floor again:
    // a short dip after idle, not a minute or two at 98-99% of the limit.
    // Only a burst below a tenth of the period's limit is paid back: a
    // larger one was configured (granularity_s) as what the provider allows.
    static constexpr std::int32_t kMarginPer10k = 50;         // 0.5%: the floor
    static constexpr std::int32_t kPacedMarginPer10k = 50;       // 0.5%: a window's start
    static constexpr std::int32_t kMostPacedMarginPer10k = 200;  // 2%: a window's most
    static constexpr std::int32_t kMaxMarginPer10k = 400;     // 4%: after near misses
    // The quiet time before a paced share's next step back: a quarter of
    // the period, doubled per step already taken (at most sixteen periods).
    // Whole divisions of the period, so the shared budget's script
    // (shared/budget_script.cpp) steps at the same instants.
    static constexpr int kMostPacedNarrowings = 6;
    static Duration pacedQuiet(Duration period, int narrowings) noexcept
    {
        return period * (std::int64_t{1} << std::min(narrowings, kMostPacedNarrowings)) / 4;
    }
    static constexpr std::int32_t kPaybackPer10k = 1000;      // 10%: paying a burst back
    // The margin in force on the scope's rolling dimension for `measure`, in
    // 1/10,000 of the rate; 0 when margins are off or there is none.
    std::int32_t marginPer10k(ScopeId scope, Measure measure) const;
    // The margins in force on a path, for a shared budget to space its own
    // debits as this ledger does (the narrowing and widening stay here).
    struct Margins {
        Duration least{};  // the least for a whole-bucket request; zero: margins off
        // [position on the path][index in the scope's LimitSpec list], in
        // 1/10,000 of the rate; 0 where there is no rolling dimension.
        std::array<std::array<std::int32_t, kMaxDimensions>, Path::kMaxDepth> per10k{};
        // The same places: the learned least margin of a whole-bucket
        // request (Dimension::marginNs), which near misses widen.
        std::array<std::array<Duration, kMaxDimensions>, Path::kMaxDepth> leastOf{};
    };
    Margins margins(const Path& path) const;
    // What a scope's rolling dimensions have learned from 429s (widenMargin,
    // noteNearMiss, paceEvenly), by index in its LimitSpec list, for a shared
    // budget to enforce on every instance; unset where a dimension is not
    // rolling or margins are off.
    struct Learned {
        std::int8_t burstHalvings = 0;
        bool paced = false;
        std::int32_t marginPer10k = 0;
        Duration leastMargin{};
    };
    using LearnedDims = std::array<std::optional<Learned>, kMaxDimensions>;
    LearnedDims learned(ScopeId scope) const;

    ScopeState snapshot(ScopeId scope, TimePoint now) const;
    std::vector<ScopeId> children(ScopeId scope) const;

private:
    struct Dimension;
    struct Scope;

    Scope& scopeAt(ScopeId id);
    const Scope& scopeAt(ScopeId id) const;
    std::int64_t windowIndex(const LimitSpec& spec, TimePoint t) const noexcept;
    TimePoint windowStart(const LimitSpec& spec, std::int64_t index) const noexcept;
    struct Verdicts;
    using Amounts = std::array<std::int64_t, kMeasureCount>;
    static Amounts amountsOf(const Cost& cost) noexcept;
    void evaluate(const Dimension& d, ScopeId scope, int index, std::int64_t amount, TimePoint now,
                  Verdicts& acc) const;
    Check evaluatePath(const Path& path, const Amounts& amounts, TimePoint now) const;
    void adjust(Dimension& d, std::int64_t reserved, std::int64_t actual, const Hold& hold,
                TimePoint now);
    void buildDimensions(Scope& scope, const std::vector<LimitSpec>& limits, TimePoint now);
    static void validateLimits(const std::string& scopeName, const std::vector<LimitSpec>& limits);
    static std::array<int, kMaxDimensions> matchOld(const Scope& scope, const std::vector<LimitSpec>& limits);
    Dimension freshDimension(const LimitSpec& spec, std::size_t index, std::uint64_t epoch, TimePoint now) const;
    void carryOver(Dimension& d, const Dimension& old, TimePoint now) const;

    __extension__ typedef __int128 Int128;
    Int128 marginFor(const Dimension& d, std::int64_t amount) const noexcept;
    // marginFor, for a request that went out on a new connection.
    Int128 departureMargin(const Dimension& d, std::int64_t amount, bool newConnection) const noexcept;
    static void updateMargin(Dimension& d, TimePoint now) noexcept;
    static void startPayback(Dimension& d, TimePoint now) noexcept;
    static Int128 burstSlack(const Dimension& d, std::int64_t amount) noexcept;
    static bool widenPaceFor(Dimension& d, std::int64_t earlyNs, TimePoint now) noexcept;
    static void stepPacedBack(Dimension& d, TimePoint now) noexcept;
    // The margin a request below the burst must fit with itself, so that
    // burstSlack only returns what earlier requests of a burst paid.
    Int128 ownMargin(const Dimension& d, std::int64_t amount) const noexcept;

    // The window log of a paced token dimension (ledger_window.cpp): the
    // earliest time its window has room for `amount` (now when it has);
    // its start when pacing starts; the admission (of a windowed()
    // dimension; others are left alone), correction and departure of the
    // hold numbered serial.
    static TimePoint windowRoom(const Dimension& d, std::int64_t amount, TimePoint now) noexcept;
    static void startWindowLog(Dimension& d, TimePoint now);
    static void logAdmitted(Dimension& d, std::uint64_t serial, std::int64_t amount, TimePoint now);
    static void logCorrected(Dimension& d, std::uint64_t serial, std::int64_t delta) noexcept;
    static void logDeparted(Dimension& d, std::uint64_t serial, TimePoint leftAt) noexcept;

    Duration m_wallMinusSteady;
    std::int64_t m_arrivalMarginNs = 0;
    std::uint64_t m_epoch = 1;
    std::uint64_t m_serial = 0;  // the last hold's number
    bool m_windowLogs = true;
    std::vector<std::unique_ptr<Scope>> m_scopes;
};

}  // namespace sluice
