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
// while a token limit binds, the hold drops to twice the largest output
// among the recent answers to such requests, then to that largest output,
// one bound step each, and stays there for a minute, which decides it.
// (Halving from the default would pass through holds large enough that
// answers ending together overfill a provider that charges on completion:
// what is in flight drops all at once.) One 429 is a near miss, which the
// ledger learns from. 429s that come on (kRefusalsToUndo within a step)
// that may be a token limit's double the hold that drew them, and lowering
// stops there: such a provider refused clumps. 429s that come on at that
// hold say the provider charges its own default on arrival: the model's
// default again, for good.
//
// Time passes only through the calls' `now` (the dispatcher's clock).
//
// Thread-safety: none; the dispatcher thread owns each provider's probe.
#pragma once

#include "core/clock.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>

namespace sluice {

class UnstatedOutputProbe {
public:
    enum class Stage : std::uint8_t {
        Default,   // reserves the configured default
        Lowering,  // lowers the hold each bound step
        Lowered,   // learned: reserves what such answers use, or the
                   // least hold that drew no 429
        Restored   // learned (429s at a lowered hold): the default, for good
    };

    static constexpr Duration kStep = std::chrono::seconds(5);
    // Recent answers whose largest output is the least the hold goes to.
    static constexpr std::size_t kRecent = 64;
    // Answers seen before lowering starts: the floor must mean something.
    static constexpr int kLeastAnswers = 16;
    // Bound steps at the floor, without a 429, that decide it.
    static constexpr int kStepsToDecide = 12;
    // 429s within one step that say the hold is too small.
    static constexpr int kRefusalsToUndo = 2;

    explicit UnstatedOutputProbe(TimePoint start = {}) : m_stepStart(start) {}

    Stage stage() const noexcept { return m_stage; }
    // The output to reserve per choice for a request that states no cap,
    // where the model's default is `defaultMax`.
    std::int64_t hold(std::int64_t defaultMax) const noexcept;

    // An answer to such a request reported `outputPerChoice` tokens,
    // having reserved `reservedPerChoice`.
    void answered(std::int64_t outputPerChoice, std::int64_t reservedPerChoice, TimePoint now);
    // A request waited on a token limit; `refunds`: the provider is known
    // to give back unused output (else nothing is lowered).
    void waitedOnTokens(bool refunds, TimePoint now);
    // A 429 that may be a token limit's.
    void rateLimited(TimePoint now);

    // For --explain, the limits note and the operator's events.
    std::string describe() const;

private:
    void advance(TimePoint now);
    void closeStep();

    Stage m_stage = Stage::Default;
    // The hold's cap while lowering or lowered (never under m_floor).
    std::int64_t m_cap = std::numeric_limits<std::int64_t>::max();
    std::int64_t m_lastReserved = 0;  // per choice, by the last answer
    std::int64_t m_default = 0;       // per choice, when lowering began
    TimePoint m_stepStart;
    bool m_bound = false;      // this step: a request waited, refunds whole
    int m_stepAnswers = 0;     // this step's answers to such requests
    int m_refusals = 0;        // this step's 429s
    int m_stepsAtFloor = 0;
    std::array<std::int64_t, kRecent> m_recent{};
    std::size_t m_next = 0;
    int m_answers = 0;
    std::int64_t m_floor = 0;  // the largest of m_recent
};

}  // namespace sluice
