#include "tokenize/token_calibrator.h"

#include <algorithm>
#include <cmath>

namespace sluice::tokenize {

namespace {

// estimate × ratio, rounded up; never below 1 for a positive estimate.
std::int64_t scaled(std::int64_t estimate, double ratio)
{
    if (estimate <= 0) {
        return estimate;
    }
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(static_cast<double>(estimate) * ratio)));
}

}  // namespace

TokenCalibrator::TokenCalibrator(CalibrationOptions options) : m_options(options)
{
    m_options.alpha = std::clamp(m_options.alpha, 0.001, 1.0);
    m_options.minRatio = std::max(m_options.minRatio, 1e-3);
    m_options.maxRatio = std::max(m_options.maxRatio, m_options.minRatio);
    for (double& p : m_options.prior) {
        p = std::clamp(p, m_options.minRatio, m_options.maxRatio);
    }
}

void TokenCalibrator::observe(std::string_view model, std::int64_t estimated, std::int64_t reported,
                              LanguageClass language)
{
    if (estimated < std::max<std::int64_t>(m_options.minEstimate, 1) || reported <= 0) {
        return;
    }
    const double sample = std::clamp(static_cast<double>(reported) / static_cast<double>(estimated),
                                     m_options.minRatio, m_options.maxRatio);
    const std::lock_guard lock(m_mutex);
    auto it = m_models.find(model);
    if (it == m_models.end()) {
        if (m_models.size() >= m_options.maxModels) {
            return;
        }
        Cells seeded{};
        for (std::size_t c = 0; c < seeded.size(); ++c) {
            seeded[c].ratio = prior(static_cast<LanguageClass>(c));
        }
        it = m_models.emplace(std::string(model), seeded).first;
    }
    Cell& cell = it->second[static_cast<std::size_t>(language)];
    // The first samples are a plain average (with the seed, when it counts
    // as one), then the weight settles at alpha.
    const std::uint64_t seen = cell.samples + (m_options.priorIsASample ? 2 : 1);
    const double weight = std::max(m_options.alpha, 1.0 / static_cast<double>(seen));
    cell.ratio += weight * (sample - cell.ratio);
    cell.ratio = std::clamp(cell.ratio, m_options.minRatio, m_options.maxRatio);
    ++cell.samples;
    const double x = std::log(sample);
    const double w = std::max(m_options.alpha, 1.0 / static_cast<double>(cell.samples));
    cell.logMean += w * (x - cell.logMean);
    cell.logSquare += w * (x * x - cell.logSquare);
}

std::optional<TokenCalibrator::Fit> TokenCalibrator::fit(std::string_view model, LanguageClass language) const
{
    const std::lock_guard lock(m_mutex);
    const auto it = m_models.find(model);
    if (it == m_models.end() || it->second[static_cast<std::size_t>(language)].samples == 0) {
        return std::nullopt;
    }
    const Cell& c = it->second[static_cast<std::size_t>(language)];
    const double variance = std::max(0.0, c.logSquare - c.logMean * c.logMean);
    return Fit{c.ratio, c.samples, std::sqrt(variance)};
}

double TokenCalibrator::prior(LanguageClass language) const noexcept
{
    return m_options.prior[static_cast<std::size_t>(language)];
}

double TokenCalibrator::ratio(std::string_view model, LanguageClass language) const
{
    const std::lock_guard lock(m_mutex);
    const auto it = m_models.find(model);
    return it == m_models.end() ? prior(language) : it->second[static_cast<std::size_t>(language)].ratio;
}

std::optional<std::int64_t> TokenCalibrator::applyLearned(std::string_view model, std::int64_t estimate,
                                                          LanguageClass language) const
{
    double r = 0;
    {
        const std::lock_guard lock(m_mutex);
        const auto it = m_models.find(model);
        if (it == m_models.end() || it->second[static_cast<std::size_t>(language)].samples == 0) {
            return std::nullopt;
        }
        r = it->second[static_cast<std::size_t>(language)].ratio;
    }
    return scaled(estimate, r);
}

std::int64_t TokenCalibrator::apply(std::string_view model, std::int64_t estimate, LanguageClass language) const
{
    return scaled(estimate, ratio(model, language));
}

std::vector<TokenCalibrator::Entry> TokenCalibrator::snapshot() const
{
    std::vector<Entry> out;
    const std::lock_guard lock(m_mutex);
    for (const auto& [model, cells] : m_models) {
        for (std::size_t c = 0; c < cells.size(); ++c) {
            if (cells[c].samples > 0) {
                out.push_back(Entry{model, static_cast<LanguageClass>(c), cells[c].ratio, cells[c].samples});
            }
        }
    }
    return out;
}

}  // namespace sluice::tokenize
