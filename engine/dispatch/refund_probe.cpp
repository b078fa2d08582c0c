#include "dispatch/refund_probe.h"

#include <algorithm>
#include <cmath>

namespace sluice {

void RefundProbe::answered(std::int64_t reservedTokens, std::int64_t unusedOutput, TimePoint now)
{
    advance(now);
    m_step.add(Answers{std::max<std::int64_t>(0, reservedTokens), std::max<std::int64_t>(0, unusedOutput), 1});
}

void RefundProbe::waitedOnTokens(TimePoint now)
{
    advance(now);
    m_waited = true;
}

void RefundProbe::rateLimited(TimePoint now)
{
    advance(now);
    ++m_refusals;
    if (m_stage == Stage::Probing || (m_stage == Stage::Refunds && m_refusals >= kRefusalsToUndo)) {
        m_stage = Stage::Keeps;
        m_share = 0.0;
    }
    // Watching: a 429 says the limits are not yet as the ledger has them;
    // probing now would read the next one wrongly.
    m_boundSteps = 0;
    m_watched = Answers{};
}

void RefundProbe::tokenHeadersSeen()
{
    m_stage = Stage::Headers;
    m_share = 0.0;
}

void RefundProbe::Answers::add(const Answers& more) noexcept
{
    reserved += more.reserved;
    unused += more.unused;
    count += more.count;
}

bool RefundProbe::Answers::gaveBack(int least) const noexcept
{
    return count >= least && reserved > 0 && static_cast<double>(unused) >= kLeastUnused * static_cast<double>(reserved);
}

void RefundProbe::advance(TimePoint now)
{
    if (now < m_stepStart + kStep) {
        return;
    }
    closeStep(m_waited);
    m_waited = false;
    m_step = Answers{};
    m_refusals = 0;
    // Whole steps with nothing in them: nothing bound.
    const auto elapsed = (now - m_stepStart) / kStep;
    if (elapsed >= 2) {
        closeStep(false);
    }
    m_stepStart += kStep * elapsed;
}

void RefundProbe::closeStep(bool bound)
{
    switch (m_stage) {
    case Stage::Watching:
        if (!bound) {
            m_boundSteps = 0;
            m_watched = Answers{};
            return;
        }
        ++m_boundSteps;
        m_watched.add(m_step);
        if (m_boundSteps >= kStepsBeforeProbing && m_watched.gaveBack(kLeastAnswers)) {
            m_stage = Stage::Probing;
            m_share = kShareStep;
            m_boundSteps = 0;
            m_watched = Answers{};
        }
        return;
    case Stage::Probing:
        // A step not bound, or with nothing given back (answers that used
        // all they reserved, streams without usage), tells nothing: the
        // share was not felt. It neither grows nor counts towards the
        // decision.
        if (!bound || !m_step.gaveBack(1)) {
            return;
        }
        if (m_share < 1.0) {
            m_share = std::min(1.0, m_share + kShareStep);
            return;
        }
        if (++m_boundSteps >= kStepsToDecide) {
            m_stage = Stage::Refunds;
        }
        return;
    case Stage::Refunds:
    case Stage::Keeps:
    case Stage::Headers:
        return;
    }
}

std::string RefundProbe::describe() const
{
    switch (m_stage) {
    case Stage::Watching:
        return "unused output kept counted (the provider's refunds not yet tried)";
    case Stage::Probing:
        return "trying whether the provider gives back unused output: " +
               std::to_string(static_cast<int>(std::lround(m_share * 100))) + "% of it given back";
    case Stage::Refunds:
        return "unused output given back (the provider was found to refund it)";
    case Stage::Keeps:
        return "unused output kept counted (a 429 while trying showed the provider keeps it)";
    case Stage::Headers:
        return "unused output kept counted (the provider's headers say what it counts)";
    }
    return {};
}

}  // namespace sluice
