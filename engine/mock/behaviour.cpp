#include "mock/behaviour.h"

#include <algorithm>
#include <cmath>

namespace sluice::mock {

Rng::Rng(std::uint64_t seed, std::uint64_t stream) noexcept : m_state(seed ^ (stream * 0xD1B54A32D192ED03ULL))
{
    next();
}

std::uint64_t Rng::next() noexcept
{
    std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double Rng::uniform() noexcept
{
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double Rng::normal() noexcept
{
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

std::int64_t drawOutputTokens(const OutputModel& model, std::int64_t maxTokens, Rng& rng)
{
    double v = model.mean;
    switch (model.distribution) {
    case DistributionKind::Fixed:
        break;
    case DistributionKind::Uniform:
        v = static_cast<double>(model.min) +
            std::floor(rng.uniform() * static_cast<double>(model.max - model.min + 1));
        break;
    case DistributionKind::LogNormal:
        v = std::clamp(std::round(model.mean * std::exp(model.sigma * rng.normal())), static_cast<double>(model.min),
                       static_cast<double>(model.max));
        break;
    }
    const auto tokens = static_cast<std::int64_t>(std::llround(v));
    return std::clamp<std::int64_t>(tokens, 1, std::max<std::int64_t>(maxTokens, 1));
}

double drawLatencyFactor(const LatencyModel& model, Rng& rng)
{
    switch (model.jitter) {
    case DistributionKind::Fixed:
        return 1.0;
    case DistributionKind::Uniform:
        return std::max(0.0, 1.0 + model.spread * (2.0 * rng.uniform() - 1.0));
    case DistributionKind::LogNormal:
        return std::exp(model.spread * rng.normal());
    }
    return 1.0;
}

Fault drawFault(const FaultRates& rates, Rng& rng)
{
    const double u = rng.uniform();
    double edge = 0;
    for (std::size_t i = 1; i < kFaultCount; ++i) {
        edge += rates.rate[i];
        if (u < edge) {
            return static_cast<Fault>(i);
        }
    }
    return Fault::None;
}

Duration scaledMs(double ms, double factor)
{
    return Duration(static_cast<std::int64_t>(std::llround(ms * factor * 1e6)));
}

}  // namespace sluice::mock
