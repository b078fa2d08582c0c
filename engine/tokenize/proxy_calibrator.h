// Learns, per model and language class, how a provider's reported prompt
// tokens follow another tokenizer's count of the same prompt (o200k_base,
// for a model whose own tokenizer is not public): reported ≈ slope × count
// + offset. The offset is the provider's framing around a prompt, which the
// count adds or leaves out; a ratio alone would overcount short prompts
// and undercount long ones by it (3 tokens of framing in a mix of 20- to
// 400-token prompts left the ratio 3% wrong either way, enough for a
// sliding window to refuse; docs/benchmarks.md).
//
// The sums behind the fit are weighted as TokenCalibrator's ratio is: a
// plain average over the first samples, then `alpha`. It also keeps the
// spread of its own predictions, the root mean square of ln(reported /
// predicted) with each prediction made before its sample was learned,
// which PromptEstimator compares with TokenCalibrator's to choose.
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

namespace sluice::tokenize {

class ProxyCalibrator {
public:
    explicit ProxyCalibrator(double alpha = 0.1, std::size_t maxModels = 1024);

    // One response: the prompt as counted before sending and the prompt
    // tokens the provider reported. Counts or reports below 1 are ignored.
    void observe(std::string_view model, std::int64_t counted, std::int64_t reported, LanguageClass language);

    struct Fit {
        double slope = 1.0;
        double offset = 0;
        std::uint64_t samples = 0;
        double spread = 0;  // of the predictions, as above; 0 after one sample
        // `counted` under the fit, rounded up and at least 1.
        std::int64_t reserve(std::int64_t counted) const noexcept;
    };
    // nullopt before any sample for the model and class.
    std::optional<Fit> fit(std::string_view model, LanguageClass language) const;
    // fit()->reserve(counted); nullopt before any sample.
    std::optional<std::int64_t> predict(std::string_view model, std::int64_t counted, LanguageClass language) const;

private:
    struct Cell {
        std::uint64_t samples = 0;
        double x = 0, y = 0, xx = 0, xy = 0;  // weighted means
        double residual = 0;                  // weighted mean of ln(reported / predicted)²
    };
    using Cells = std::array<Cell, kLanguageClassCount>;
    static Fit fitOf(const Cell& c);

    double m_alpha;
    std::size_t m_maxModels;
    mutable std::mutex m_mutex;
    std::map<std::string, Cells, std::less<>> m_models;
};

}  // namespace sluice::tokenize
