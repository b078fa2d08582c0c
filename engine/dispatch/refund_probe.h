// RefundProbe: whether a provider gives back, when an answer ends, the
// output a request reserved (max_tokens × n) and did not use.
//
// OpenAI documents charging the prompt plus max_tokens on arrival and does
// not say whether it corrects that later; compatible providers differ. One
// that keeps the charge must be settled to it, or Sluice believes in
// headroom the provider does not give back (429s). One that refunds must be
// settled to what was used, or Sluice holds back the unused share of every
// request (80% of the limit against such a provider, with outputs averaging
// 60% of max_tokens: docs/benchmarks.md). Rate-limit headers would show
// which, and Sluice's ledger only ever takes from them what the provider
// counts beyond its own figure; without them, only trying tells.
//
// So, for a provider set to learn (TokenAccounting::Learn): settlement keeps
// the whole reservation until a token limit has bound for a while (requests
// waited on it) with output left unused; then it gives back a growing share
// of the unused output, a quarter more each bound step that gave some back,
// and holds the whole of it for a minute (a sliding minute shows an excess
// only that late). A 429 meanwhile that may be a token limit's says the
// provider keeps what it charged: the share goes back to none, for good,
// having cost the 429s of a few percent over the limit for a moment. A
// minute bound at the whole share with no such 429 says it refunds; 429s
// that come on (kRefusalsToUndo within a step) take that back. Token
// headers end the probe before it starts: they say what the provider
// counts.
//
// Time passes only through the calls' `now` (the dispatcher's clock), in
// steps of kStep: a step is "bound" when a request waited on a token limit
// during it.
//
// Thread-safety: none; the dispatcher thread owns each provider's probe.
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <string>

namespace sluice {

class RefundProbe {
public:
    enum class Stage : std::uint8_t {
        Watching,  // keeps the reservation; waits for a bound limit with output unused
        Probing,   // gives back share() of the unused output
        Refunds,   // learned: gives back all of it
        Keeps,     // learned (a 429 while probing): gives back none
        Headers    // the provider's token headers say what it counts: gives back none
    };

    static constexpr Duration kStep = std::chrono::seconds(5);
    // Bound steps with output unused before probing starts.
    static constexpr int kStepsBeforeProbing = 2;
    // What each bound step adds to the share while probing.
    static constexpr double kShareStep = 0.25;
    // Bound steps at the whole share, without a 429, that say it refunds.
    static constexpr int kStepsToDecide = 12;
    // Unused output, as a share of what the answers reserved in tokens,
    // below which there is too little to win to be worth a 429; and the
    // answers that must show it before probing starts, over the bound steps
    // so far (a low limit with large requests answers a few a step).
    static constexpr double kLeastUnused = 0.05;
    static constexpr int kLeastAnswers = 8;
    // 429s within one step that say a decided refund was wrong.
    static constexpr int kRefusalsToUndo = 2;

    explicit RefundProbe(TimePoint start = {}) : m_stepStart(start) {}

    Stage stage() const noexcept { return m_stage; }
    // The share of a request's unused reserved output to give back when it
    // is settled.
    double share() const noexcept { return m_share; }

    // An answer that reported its usage: it had reserved `reservedTokens`
    // (prompt + output) and left `unusedOutput` of its output unused.
    void answered(std::int64_t reservedTokens, std::int64_t unusedOutput, TimePoint now);
    // A request waited because a token limit (total or output) had no room.
    void waitedOnTokens(TimePoint now);
    // The provider refused a request for a rate limit that may be a token
    // limit (its message names none, or tokens).
    void rateLimited(TimePoint now);
    // A response carried the provider's remaining-tokens figures.
    void tokenHeadersSeen();

    // For --explain and the limits note: where the probe stands.
    std::string describe() const;

private:
    struct Answers {
        std::int64_t reserved = 0;
        std::int64_t unused = 0;
        int count = 0;
        void add(const Answers& more) noexcept;
        bool gaveBack(int least) const noexcept;
    };

    void advance(TimePoint now);
    void closeStep(bool bound);

    Stage m_stage = Stage::Watching;
    double m_share = 0.0;
    TimePoint m_stepStart;
    int m_boundSteps = 0;
    bool m_waited = false;
    Answers m_step;     // this step's
    Answers m_watched;  // the bound steps' while watching
    int m_refusals = 0;  // in this step
};

}  // namespace sluice
