// Learns, per model and language class, how far a token estimate is from
// what the provider reports, and applies it to the next estimates: for
// models with no public tokenizer (Anthropic's, Gemini's), whose prompts
// Sluice can only estimate by rule of thumb.
//
// The ratio reported / estimated starts at a prior per language class
// (CalibrationOptions::prior) and follows an exponentially
// weighted moving average: the first samples are averaged with the seed
// (weight 1/(n+2)), later ones weigh `alpha`. Each sample's ratio is clamped
// to [minRatio, maxRatio] first, so one odd response (a cached prompt, a
// wrong usage field) cannot swing it far; samples whose estimate is below
// minEstimate are ignored (rounding dominates them). At most maxModels
// models are learned; later ones keep 1.0. Feed it the estimate *before*
// calibration (PromptEstimate::ruleOfThumb), never the calibrated one, or it
// would chase its own corrections.
//
// Thread-safety: every member from any thread (one short lock).
#pragma once

#include "tokenize/language_class.h"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenize {

struct CalibrationOptions {
    // The ratio before any sample, by LanguageClass (Latin, Cjk, Other,
    // Code). Characters ÷ 4 undercounts every public tokenizer on CJK, other
    // scripts and code (o200k_base: Japanese 1.2×, Korean 1.36×, C++ 1.22×,
    // and Anthropic's tokenizer counts CJK higher still), so the first
    // requests of such prompts would overrun a limit before any response
    // corrected the estimate. Starting above the truth costs a little
    // throughput for a few responses instead of a 429.
    std::array<double, kLanguageClassCount> prior{1.0, 1.5, 1.5, 1.3};
    double alpha = 0.1;
    double minRatio = 0.25;
    double maxRatio = 4.0;
    std::int64_t minEstimate = 8;
    std::size_t maxModels = 1024;
    // Whether the prior counts as one sample (averaged with the first
    // ones); off, the first sample replaces it: for a prior that is only a
    // default, not knowledge (an exact tokenizer's agreement with the
    // provider, which one response settles).
    bool priorIsASample = true;
};

class TokenCalibrator {
public:
    explicit TokenCalibrator(CalibrationOptions options = {});

    // One response: the estimate made before sending (uncalibrated) and the
    // prompt tokens the provider reported.
    void observe(std::string_view model, std::int64_t estimated, std::int64_t reported, LanguageClass language);

    // The learned ratio (the prior when nothing was learned).
    double ratio(std::string_view model, LanguageClass language) const;
    double prior(LanguageClass language) const noexcept;
    // apply(), once at least one response was learned from; nullopt while
    // only the prior is there. One lookup for both questions.
    std::optional<std::int64_t> applyLearned(std::string_view model, std::int64_t estimate,
                                             LanguageClass language) const;
    // estimate scaled by the ratio, rounded up; never below 1 for a
    // positive estimate.
    std::int64_t apply(std::string_view model, std::int64_t estimate, LanguageClass language) const;

    // How well the estimate predicts the reported count: the learned
    // ratio, and the spread of the samples' ratios around their mean (the
    // standard deviation of their logarithm, weighted as the ratio is; 0
    // after one sample), which does not depend on the prior. nullopt
    // before any sample. PromptEstimator reserves by the estimate whose
    // spread is smaller.
    struct Fit {
        double ratio = 1.0;
        std::uint64_t samples = 0;
        double spread = 0;
    };
    std::optional<Fit> fit(std::string_view model, LanguageClass language) const;

    struct Entry {
        std::string model;
        LanguageClass language = LanguageClass::Latin;
        double ratio = 1.0;
        std::uint64_t samples = 0;
    };
    // Every (model, language) with at least one sample, by model then class.
    std::vector<Entry> snapshot() const;

    const CalibrationOptions& options() const noexcept { return m_options; }

private:
    struct Cell {
        double ratio = 1.0;
        std::uint64_t samples = 0;
        double logMean = 0;    // of ln(sample)
        double logSquare = 0;  // of ln(sample)²
    };
    using Cells = std::array<Cell, kLanguageClassCount>;

    CalibrationOptions m_options;
    mutable std::mutex m_mutex;
    std::map<std::string, Cells, std::less<>> m_models;
};

}  // namespace sluice::tokenize
