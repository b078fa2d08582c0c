#include "dispatch/unstated_output.h"

#include <algorithm>

namespace sluice {

std::int64_t UnstatedOutputProbe::hold(std::int64_t defaultMax) const noexcept
{
    if (m_stage == Stage::Default || m_stage == Stage::Restored) {
        return defaultMax;
    }
    return std::clamp<std::int64_t>(std::max(m_cap, m_floor), 1, defaultMax);
}

void UnstatedOutputProbe::answered(std::int64_t outputPerChoice, std::int64_t reservedPerChoice, TimePoint now)
{
    advance(now);
    if (outputPerChoice <= 0) {
        return;
    }
    m_recent[m_next] = outputPerChoice;
    m_next = (m_next + 1) % kRecent;
    // The largest of the recent answers: one long answer raises the hold at
    // once, and leaves it only when it is kRecent answers old.
    m_floor = *std::max_element(m_recent.begin(), m_recent.end());
    m_answers = std::min(m_answers + 1, 1'000'000);
    ++m_stepAnswers;
    m_lastReserved = reservedPerChoice;
}

void UnstatedOutputProbe::waitedOnTokens(bool refunds, TimePoint now)
{
    advance(now);
    m_bound = m_bound || refunds;
}

void UnstatedOutputProbe::rateLimited(TimePoint now)
{
    advance(now);
    // One is a near miss, which the ledger learns from; the hold answers
    // for 429s that come on (kRefusalsToUndo within a step).
    if (++m_refusals < kRefusalsToUndo) {
        return;
    }
    m_refusals = 0;
    if (m_stage == Stage::Lowering) {
        // The hold that drew them, doubled, and no lower from here: a
        // provider that charges what is produced refused clumps of answers
        // ending together, which the larger hold spaces out.
        m_cap = std::max(m_cap, m_floor) * 2;
        m_stage = m_cap >= m_default ? Stage::Restored : Stage::Lowered;
    } else if (m_stage == Stage::Lowered) {
        // Coming on at the doubled hold too: the provider charges more on
        // arrival than is produced (its own default), so ours it is.
        m_stage = Stage::Restored;
    }
}

void UnstatedOutputProbe::advance(TimePoint now)
{
    if (now < m_stepStart + kStep) {
        return;
    }
    closeStep();
    m_bound = false;
    m_stepAnswers = 0;
    m_refusals = 0;
    m_stepStart += kStep * ((now - m_stepStart) / kStep);
}

void UnstatedOutputProbe::closeStep()
{
    // A step not bound, or without answers to such requests, tells
    // nothing: the hold was not felt.
    if (!m_bound || m_stepAnswers == 0) {
        return;
    }
    switch (m_stage) {
    case Stage::Default:
        if (m_answers >= kLeastAnswers && m_lastReserved > m_floor) {
            m_stage = Stage::Lowering;
            m_default = m_lastReserved;
            // Straight to twice what answers use (the header says why).
            m_cap = std::min(m_lastReserved / 2, 2 * m_floor);
        }
        return;
    case Stage::Lowering:
        if (m_cap > m_floor) {
            m_cap = m_floor;
            return;
        }
        if (++m_stepsAtFloor >= kStepsToDecide) {
            m_stage = Stage::Lowered;
        }
        return;
    case Stage::Lowered:
    case Stage::Restored:
        return;
    }
}

std::string UnstatedOutputProbe::describe() const
{
    switch (m_stage) {
    case Stage::Default:
        return "requests without max_tokens reserve the model's default output";
    case Stage::Lowering:
        return "trying a smaller output reservation for requests without max_tokens: " +
               std::to_string(std::max(m_cap, m_floor)) + " tokens";
    case Stage::Lowered:
        return "requests without max_tokens reserve " + std::to_string(std::max(m_cap, m_floor)) +
               " tokens of output (learned; answers to them used at most " + std::to_string(m_floor) + " of late)";
    case Stage::Restored:
        return "requests without max_tokens reserve the model's default output (a 429 while trying less showed "
               "the provider charges more on arrival)";
    }
    return {};
}

}  // namespace sluice
