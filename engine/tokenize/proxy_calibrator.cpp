#include "tokenize/proxy_calibrator.h"

#include <algorithm>
#include <cmath>

namespace sluice::tokenize {

namespace {

// As TokenCalibrator's ratios: a slope outside these is a wrong usage
// field or a cached prompt, not a tokenizer.
constexpr double kMinSlope = 0.25;
constexpr double kMaxSlope = 4.0;

double predicted(const ProxyCalibrator::Fit& f, double counted)
{
    return std::max(1.0, f.slope * counted + f.offset);
}

}  // namespace

std::int64_t ProxyCalibrator::Fit::reserve(std::int64_t counted) const noexcept
{
    // Up, as a reservation should round, but not by the sums' rounding
    // error: a fit that is exact lands a hair above the whole number.
    return static_cast<std::int64_t>(std::ceil(predicted(*this, static_cast<double>(counted)) - 1e-6));
}

ProxyCalibrator::ProxyCalibrator(double alpha, std::size_t maxModels)
    : m_alpha(std::clamp(alpha, 0.001, 1.0)), m_maxModels(maxModels)
{
}

ProxyCalibrator::Fit ProxyCalibrator::fitOf(const Cell& c)
{
    Fit f;
    f.samples = c.samples;
    f.spread = std::sqrt(std::max(c.residual, 0.0));
    const double variance = c.xx - c.x * c.x;
    // Prompts of one size say nothing of an offset: a ratio then.
    if (c.samples >= 3 && variance > 1e-6 * c.x * c.x) {
        f.slope = (c.xy - c.x * c.y) / variance;
    } else {
        f.slope = c.x > 0 ? c.y / c.x : 1.0;
    }
    f.slope = std::clamp(f.slope, kMinSlope, kMaxSlope);
    f.offset = c.y - f.slope * c.x;
    return f;
}

void ProxyCalibrator::observe(std::string_view model, std::int64_t counted, std::int64_t reported,
                              LanguageClass language)
{
    if (counted < 1 || reported < 1) {
        return;
    }
    const double x = static_cast<double>(counted);
    const double y = static_cast<double>(reported);
    const std::lock_guard lock(m_mutex);
    auto it = m_models.find(model);
    if (it == m_models.end()) {
        if (m_models.size() >= m_maxModels) {
            return;
        }
        it = m_models.emplace(std::string(model), Cells{}).first;
    }
    Cell& c = it->second[static_cast<std::size_t>(language)];
    if (c.samples > 0) {
        const double miss = std::log(y / predicted(fitOf(c), x));
        const double w = std::max(m_alpha, 1.0 / static_cast<double>(c.samples));
        c.residual += w * (miss * miss - c.residual);
    }
    ++c.samples;
    const double w = std::max(m_alpha, 1.0 / static_cast<double>(c.samples));
    c.x += w * (x - c.x);
    c.y += w * (y - c.y);
    c.xx += w * (x * x - c.xx);
    c.xy += w * (x * y - c.xy);
}

std::optional<ProxyCalibrator::Fit> ProxyCalibrator::fit(std::string_view model, LanguageClass language) const
{
    const std::lock_guard lock(m_mutex);
    const auto it = m_models.find(model);
    if (it == m_models.end() || it->second[static_cast<std::size_t>(language)].samples == 0) {
        return std::nullopt;
    }
    return fitOf(it->second[static_cast<std::size_t>(language)]);
}

std::optional<std::int64_t> ProxyCalibrator::predict(std::string_view model, std::int64_t counted,
                                                     LanguageClass language) const
{
    const auto f = fit(model, language);
    if (!f || counted < 1) {
        return std::nullopt;
    }
    return f->reserve(counted);
}

}  // namespace sluice::tokenize
