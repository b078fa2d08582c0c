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
// Thread-safety: estimate() from any thread (the parts it uses are
// thread-safe); the Encodings and TokenCalibrator must outlive it.
#pragma once

#include "providers/protocol.h"
#include "tokenize/encodings.h"
#include "tokenize/language_class.h"
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
                    const tokenize::TokenCalibrator* agreement = nullptr) noexcept
        : m_encodings(encodings), m_calibrator(calibrator), m_agreement(agreement)
    {
    }

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
                             std::optional<std::int64_t> exact,
                             const std::function<tokenize::LanguageClass()>& language) const;

    const tokenize::Encodings* m_encodings;
    const tokenize::TokenCalibrator* m_calibrator;
    const tokenize::TokenCalibrator* m_agreement;
};

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
