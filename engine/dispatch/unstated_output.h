// UnstatedOutputProbe: what to reserve for the output of a request that
// states no cap on it (no max_tokens, max_completion_tokens nor
// max_output_tokens), as most SDK calls do.
//
// Sluice reserves the model's default_max_tokens (4,096) for such a
// request, since it cannot know what the provider charges on arrival: the
// mock, for one, charges the model's whole output. Against a provider that
// counts what was produced, that guess holds ~4,000 tokens per request in
// flight where answers use a few hundred: 10% of a 240,000 TPM limit,
// the rest refused after the gateway's hold time (docs/benchmarks.md).
//
// So, once the provider is known to give back unused output (RefundProbe
// decided it refunds: settlement is already to what was produced), and
// while a token limit binds, the hold drops to twice what the recent
// answers to such requests used on average, then to that average, one bound
// step each, and stays there (a minute without 429s decides it). Settlement
// counts a longer answer at its length, when such a provider counts it.
// (Halving from the default would pass through holds large enough that
// answers ending together overfill a provider that charges on completion:
// what is in flight drops all at once. And the longest recent answer, tried
// first, held back a quarter of the limit: what is reserved in flight
// beyond what is used counts against the second's burst.)
//
// 429s that may be a token limit's and come on (kRefusalsToUndo within a
// step) while the provider's tokens answered in the last step came to less
// than kEdgeUse of the limit say the provider counts more than is used:
// it charges its own default on arrival. The hold doubles and lowering
// stops; more, and the model's default it is again, for good. Near the
// limit they are the ledger's near misses, which it learns from, and the
// hold stays; but each 429 lifts it a quarter of the way from the average
// towards the longest recent answer, and each bound step without one lets
// it down by kLiftDecay of that: against fixed seconds that count output as
// answers end, the average alone drew a 429 every 12 s (0.55%), the longest
// answer none but held back a quarter of the limit.
//
// Time passes only through the calls' `now` (the dispatcher's clock).
//
// Thread-safety: none; the dispatcher thread owns each provider's probe.
#pragma once

#include "core/clock.h"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace sluice {

class UnstatedOutputProbe {
public:
    enum class Stage : std::uint8_t {
        Default,   // reserves the configured default
        Lowering,  // lowers the hold each bound step
        Lowered,   // learned: reserves what such answers use, or the
                   // least hold that drew no 429s
        Restored   // learned (429s at a lowered hold): the default, for good
    };

    static constexpr Duration kStep = std::chrono::seconds(5);
    // Recent answers whose average output is the least the hold goes to.
    static constexpr std::size_t kRecent = 64;
    // Answers seen before lowering starts: the floor must mean something.
    static constexpr int kLeastAnswers = 16;
    // Bound steps at the floor, without a 429, that decide it.
    static constexpr int kStepsToDecide = 12;
    // 429s within one step that say the hold is too small, when the
    // tokens answered in the last step came to less than kEdgeUse of the
    // limit.
    static constexpr int kRefusalsToUndo = 2;
    static constexpr double kEdgeUse = 0.8;
    // Lowering starts only in a step whose answers used less than this of
    // the limit: above it the default hold is not what binds (QA 4's
    // provider C, which charges its own default on arrival and refunds,
    // ran at 87% on it, and a trial's 429s taught the ledger a pacing that
    // held it at 10%).
    static constexpr double kWorthTrying = 0.7;
    // How far each 429 lifts the hold towards the longest recent answer,
    // and how much a bound step without one lets it down.
    static constexpr double kLiftStep = 0.25;
    static constexpr double kLiftDecay = 0.02;

    explicit UnstatedOutputProbe(TimePoint start = {}) : m_stepStart(start) {}

    Stage stage() const noexcept { return m_stage; }
    // The output to reserve per choice for a request that states no cap,
    // where the model's default is `defaultMax`.
    std::int64_t hold(std::int64_t defaultMax) const noexcept;

    // An answer to such a request reported `outputPerChoice` tokens,
    // having reserved `reservedPerChoice`.
    void answered(std::int64_t outputPerChoice, std::int64_t reservedPerChoice, TimePoint now);
    // Any answer of the provider's, with or without a cap: the tokens it
    // used (prompt and output).
    void used(std::int64_t tokens, TimePoint now);
    // A request waited on a token limit of `limitPerSecond` (its limit
    // over its period); `refunds`: the provider is known to give back
    // unused output (else nothing is lowered).
    void waitedOnTokens(bool refunds, double limitPerSecond, TimePoint now);
    // A 429 that may be a token limit's.
    void rateLimited(TimePoint now);
    // Whether a 429 now is this probe's to answer for alone: while it
    // lowers, and for a minute after 429s moved its hold (requests sent
    // on the smaller hold are still being refused). The refund probe must
    // not read them as a charge kept.
    bool answersFor429s(TimePoint now) const noexcept;

    // For --explain, the limits note and the operator's events.
    std::string describe() const;

private:
    // The least the hold goes to: the recent average, lifted by 429s.
    std::int64_t floor() const noexcept;
    void advance(TimePoint now);
    void closeStep();

    Stage m_stage = Stage::Default;
    // The hold's cap while lowering or lowered (never under floor()).
    std::int64_t m_cap = std::numeric_limits<std::int64_t>::max();
    std::int64_t m_lastReserved = 0;  // per choice, by the last answer
    std::int64_t m_default = 0;       // per choice, when lowering began
    std::optional<TimePoint> m_movedBy429s;  // when 429s last doubled or restored the hold
    TimePoint m_stepStart;
    bool m_bound = false;      // this step: a request waited, refunds whole
    int m_stepAnswers = 0;     // this step's answers to such requests
    int m_refusals = 0;        // this step's 429s
    std::int64_t m_stepTokens = 0;  // this step's answers' tokens, all of them
    double m_limitPerSecond = 0;    // the token limit that bound last
    double m_lastUse = 0;           // the last step's tokens, of that limit
    int m_stepsAtFloor = 0;
    std::array<std::int64_t, kRecent> m_recent{};
    std::size_t m_next = 0;
    int m_answers = 0;
    std::int64_t m_typical = 0;  // the average of m_recent, rounded up
    std::int64_t m_largest = 0;  // the largest of m_recent
    double m_lift = 0.0;         // of the way from m_typical to m_largest
};

}  // namespace sluice
