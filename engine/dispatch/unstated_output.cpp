#include "dispatch/unstated_output.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sluice {

std::int64_t UnstatedOutputProbe::hold(std::int64_t defaultMax) const noexcept
{
    if (m_stage == Stage::Default || m_stage == Stage::Restored) {
        return defaultMax;
    }
    return std::clamp<std::int64_t>(std::max(m_cap, floor()), 1, defaultMax);
}

std::int64_t UnstatedOutputProbe::floor() const noexcept
{
    return m_typical + std::llround(m_lift * static_cast<double>(m_largest - m_typical));
}

void UnstatedOutputProbe::answered(std::int64_t outputPerChoice, std::int64_t reservedPerChoice, TimePoint now)
{
    advance(now);
    if (outputPerChoice <= 0) {
        return;
    }
    m_recent[m_next] = outputPerChoice;
    m_next = (m_next + 1) % kRecent;
    m_answers = std::min(m_answers + 1, 1'000'000);
    const auto n = static_cast<std::int64_t>(std::min<std::size_t>(static_cast<std::size_t>(m_answers), kRecent));
    const std::int64_t sum = std::accumulate(m_recent.begin(), m_recent.end(), std::int64_t{0});
    m_typical = (sum + n - 1) / n;
    m_largest = *std::max_element(m_recent.begin(), m_recent.end());
    ++m_stepAnswers;
    m_lastReserved = reservedPerChoice;
}

void UnstatedOutputProbe::used(std::int64_t tokens, TimePoint now)
{
    advance(now);
    m_stepTokens += std::max<std::int64_t>(0, tokens);
}

void UnstatedOutputProbe::waitedOnTokens(bool refunds, double limitPerSecond, TimePoint now)
{
    advance(now);
    m_bound = m_bound || refunds;
    if (limitPerSecond > 0) {
        m_limitPerSecond = limitPerSecond;
    }
}

void UnstatedOutputProbe::rateLimited(TimePoint now)
{
    advance(now);
    if (m_stage == Stage::Lowering || m_stage == Stage::Lowered) {
        m_lift = std::min(1.0, m_lift + kLiftStep);
    }
    // One is a near miss, which the ledger learns from; and so are more
    // near the limit (the header says why).
    if (++m_refusals < kRefusalsToUndo || m_lastUse >= kEdgeUse) {
        return;
    }
    m_refusals = 0;
    if (m_stage == Stage::Lowering) {
        m_cap = std::max(m_cap, floor()) * 2;
        m_stage = m_cap >= m_default ? Stage::Restored : Stage::Lowered;
        m_movedBy429s = now;
    } else if (m_stage == Stage::Lowered) {
        m_stage = Stage::Restored;
        m_movedBy429s = now;
    }
}

bool UnstatedOutputProbe::answersFor429s(TimePoint now) const noexcept
{
    return m_stage == Stage::Lowering || (m_movedBy429s && now < *m_movedBy429s + kStep * kStepsToDecide);
}

void UnstatedOutputProbe::advance(TimePoint now)
{
    if (now < m_stepStart + kStep) {
        return;
    }
    m_lastUse = m_limitPerSecond > 0 ? static_cast<double>(m_stepTokens) /
                                           (m_limitPerSecond * std::chrono::duration<double>(kStep).count())
                                     : 0.0;
    closeStep();
    m_bound = false;
    m_stepAnswers = 0;
    m_stepTokens = 0;
    m_refusals = 0;
    const auto elapsed = (now - m_stepStart) / kStep;
    if (elapsed >= 2) {
        m_lastUse = 0.0;  // the last whole step was quiet
    }
    m_stepStart += kStep * elapsed;
}

void UnstatedOutputProbe::closeStep()
{
    // A step not bound, or without answers to such requests, tells
    // nothing: the hold was not felt.
    if (!m_bound || m_stepAnswers == 0) {
        return;
    }
    if (m_refusals == 0) {
        m_lift = std::max(0.0, m_lift - kLiftDecay);
    }
    switch (m_stage) {
    case Stage::Default:
        // Answers already using most of the limit leave little to win, and
        // a provider that charges its own default would refuse the trial.
        if (m_answers >= kLeastAnswers && m_lastReserved > m_typical && m_lastUse < kWorthTrying) {
            m_stage = Stage::Lowering;
            m_default = m_lastReserved;
            // Straight to twice what answers use (the header says why).
            m_cap = std::min(m_lastReserved / 2, 2 * m_typical);
        }
        return;
    case Stage::Lowering:
        if (m_cap > m_typical) {
            m_cap = m_typical;  // below it, floor() holds
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
               std::to_string(std::max(m_cap, floor())) + " tokens";
    case Stage::Lowered:
        return "requests without max_tokens reserve " + std::to_string(std::max(m_cap, floor())) +
               " tokens of output (learned; answers to them used " + std::to_string(m_typical) +
               " on average of late, at most " + std::to_string(m_largest) + ")";
    case Stage::Restored:
        return "requests without max_tokens reserve the model's default output (429s below the limit while "
               "trying less showed the provider charges more on arrival)";
    }
    return {};
}

}  // namespace sluice
