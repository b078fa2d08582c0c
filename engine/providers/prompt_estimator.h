// How Sluice estimates a request's prompt tokens before sending it: exactly,
// with the model's tokenizer, for OpenAI-flavour requests to a model with a
// known encoding whose rank file loads (tokenize::countPromptTokens);
// otherwise the rule of thumb (estimatePromptTokens: 4 characters a token
// plus chat overhead) scaled by the ratio the calibrator learned from the
// provider's reported usage for that model and language class.
//
// An exact count is exact for the tokenizer, not for every provider: an
// OpenAI-compatible server may count another way (a rate limiter that
// counts characters, another model family's tokenizer behind the same
// name). With an `agreement` calibrator (the dispatcher's), what is
// reserved for an exact chat count follows the provider's reported counts
// for that model and language class; before the first report it is the
// larger of the exact count and the rule of thumb, so a first burst from a
// full bucket cannot overrun a provider that counts more than the
// tokenizer does.
//
// A model with no public tokenizer (Claude, Gemini, a deployment alias) is
// also counted with o200k_base, when a `proxy` calibrator is given, and
// that count is calibrated apart (tokenize/proxy_calibrator.h). Characters ÷ 4 misses by a different
// factor for prose, emoji and each script: in one language class its
// error after calibration is the spread of those factors over the mix (a
// sixth of the prompts 18% low in a varied mix, which a provider counting
// a sliding window refuses). Another BPE tokenizer's count follows the
// model's own far more closely. Once both estimates have kMinProxySamples
// reports for the model and language class, the one whose ratios spread
// less is reserved; before, the rule of thumb, as without a proxy.
//
// Thread-safety: estimate() from any thread (the parts it uses are
// thread-safe); the Encodings and TokenCalibrator must outlive it.
#pragma once

#include "providers/protocol.h"
#include "tokenize/encodings.h"
#include "tokenize/language_class.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace sluice {

struct PromptMedia;
struct ScannedChat;

class PromptEstimator {
public:
    // Any may be null: no exact counts, no calibration, exact counts
    // reserved as counted.
    PromptEstimator(const tokenize::Encodings* encodings, const tokenize::TokenCalibrator* calibrator,
                    const tokenize::TokenCalibrator* agreement = nullptr,
                    const tokenize::ProxyCalibrator* proxy = nullptr) noexcept
        : m_encodings(encodings), m_calibrator(calibrator), m_agreement(agreement), m_proxy(proxy)
    {
    }
    static constexpr std::uint64_t kMinProxySamples = 8;

    PromptEstimate estimate(ApiFlavor flavor, std::string_view model, const nlohmann::json& body) const;
    // The same for a Chat Completions request read without a document
    // (providers/chat_scan.h): the same estimate its document gives.
    PromptEstimate estimate(const ScannedChat& chat) const;
    // The tokenizer of an OpenAI model, for requests other than chat (the
    // Responses and Embeddings APIs); null when there are no encodings, the
    // model has no known one, or its rank file does not load.
    const tokenize::BpeEncoding* encodingFor(std::string_view model) const;

private:
    // How the parts of a prompt's reading make its estimate, however the
    // prompt was read; `language` is asked only where it is needed.
    PromptEstimate fromParts(std::string_view model, std::int64_t ruleOfThumb, const PromptMedia& media,
                             std::optional<std::int64_t> exact, std::int64_t proxy,
                             const std::function<tokenize::LanguageClass()>& language) const;
    // o200k_base when there is a proxy calibrator and it loads, else null.
    const tokenize::BpeEncoding* proxyEncoding() const;
    // What to reserve for a calibrated estimate: by the rule of thumb, or by
    // the proxy count once it predicts the reports better.
    std::int64_t calibrated(std::string_view model, const PromptEstimate& e) const;

    const tokenize::Encodings* m_encodings;
    const tokenize::TokenCalibrator* m_calibrator;
    const tokenize::TokenCalibrator* m_agreement;
    const tokenize::ProxyCalibrator* m_proxy;
};

// Whether the proxy count predicts the reports better than the rule of
// thumb: both have kMinProxySamples and the proxy's spread is smaller.
bool proxyPredictsBetter(const std::optional<tokenize::TokenCalibrator::Fit>& rule,
                         const std::optional<tokenize::ProxyCalibrator::Fit>& proxy) noexcept;

// The options of an agreement calibrator: no prior belief beyond "the
// tokenizer is right" (1.0), which the first report replaces.
tokenize::CalibrationOptions agreementOptions();

// The language class of a request's prompt text (system, messages, tools).
tokenize::LanguageClass promptLanguage(ApiFlavor flavor, const nlohmann::json& body);

// The prompt tokens a response reports, all of them, as a calibration sample:
// OpenAI's prompt_tokens (cached included); Anthropic's input_tokens +
// cache_creation_input_tokens + cache_read_input_tokens.
std::int64_t reportedPromptTokens(ApiFlavor flavor, const ResponseUsage& usage) noexcept;

}  // namespace sluice
