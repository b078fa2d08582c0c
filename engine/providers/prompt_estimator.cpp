#include "providers/prompt_estimator.h"

#include "providers/chat_scan.h"
#include "providers/prompt_media.h"
#include "tokenize/chat_tokens.h"

#include <algorithm>

namespace sluice {

using nlohmann::json;

namespace {

void tallyText(tokenize::LanguageTally& tally, const json& v)
{
    if (v.is_string()) {
        tally.add(v.get_ref<const std::string&>());
    } else if (v.is_array()) {
        for (const auto& part : v) {
            if (part.is_string()) {
                tally.add(part.get_ref<const std::string&>());
            } else if (part.is_object()) {
                if (const auto t = part.find("text"); t != part.end() && t->is_string()) {
                    tally.add(t->get_ref<const std::string&>());
                }
            }
        }
    }
}

}  // namespace

tokenize::LanguageClass promptLanguage(ApiFlavor flavor, const json& body)
{
    tokenize::LanguageTally tally;
    if (!body.is_object()) {
        return tally.result();
    }
    if (flavor == ApiFlavor::Anthropic) {
        if (const auto sys = body.find("system"); sys != body.end()) {
            tallyText(tally, *sys);
        }
    }
    if (const auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array()) {
        for (const auto& m : *msgs) {
            if (m.is_object()) {
                if (const auto c = m.find("content"); c != m.end()) {
                    tallyText(tally, *c);
                }
            }
        }
    }
    return tally.result();
}

PromptEstimate PromptEstimator::estimate(ApiFlavor flavor, std::string_view model, const json& body) const
{
    std::optional<std::int64_t> exact;
    std::int64_t proxy = 0;
    try {
        if (flavor == ApiFlavor::OpenAI && m_encodings != nullptr) {
            exact = tokenize::countPromptTokens(*m_encodings, model, body);
        }
        if (const tokenize::BpeEncoding* enc = exact ? nullptr : proxyEncoding()) {
            proxy = proxyPromptTokens(flavor, body, [enc](std::string_view text) {
                return static_cast<std::int64_t>(enc->count(text));
            });
        }
    } catch (const tokenize::TokenizerError&) {
        // Text the tokenizer refuses (over 4 GiB): the estimate will do.
    }
    return fromParts(model, estimatePromptTokens(flavor, body), promptMedia(flavor, body), exact, proxy,
                     [&] { return promptLanguage(flavor, body); });
}

PromptEstimate PromptEstimator::estimate(const ScannedChat& chat) const
{
    std::optional<std::int64_t> exact;
    std::int64_t proxy = 0;
    try {
        if (const tokenize::BpeEncoding* enc = encodingFor(chat.model)) {
            exact = tokenize::countChatPromptTokens(*enc, chat.model, chat.members, chat.messageEnds);
        } else if (const tokenize::BpeEncoding* stand = proxyEncoding()) {
            proxy = tokenize::countChatPromptTokens(*stand, chat.model, chat.members, chat.messageEnds);
        }
    } catch (const tokenize::TokenizerError&) {
        // Text the tokenizer refuses (over 4 GiB): the estimate will do.
    }
    return fromParts(chat.model, estimatePromptTokens(chat), PromptMedia{}, exact, proxy, [&chat] {
        tokenize::LanguageTally tally;
        for (const tokenize::ChatStringMember& m : chat.members) {
            if (m.key == tokenize::ChatStringMember::Key::Content) {
                tally.add(m.text);
            }
        }
        return tally.result();
    });
}

PromptEstimate PromptEstimator::fromParts(std::string_view model, std::int64_t ruleOfThumb, const PromptMedia& media,
                                          std::optional<std::int64_t> exact, std::int64_t proxy,
                                          const std::function<tokenize::LanguageClass()>& language) const
{
    PromptEstimate e;
    e.ruleOfThumb = ruleOfThumb;
    e.proxy = proxy;
    e.mediaParts = media.parts;
    if (exact) {
        e.tokens = *exact;
        e.counted = *exact;
        e.method = PromptCountMethod::Exact;
        if (m_agreement != nullptr) {
            e.language = language();
            e.tokens = m_agreement->applyLearned(model, *exact, e.language).value_or(std::max(*exact, e.ruleOfThumb));
        }
        // The chat count sizes a chat's images itself; documents it
        // cannot read.
        e.media = media.documents;
        e.tokens += e.media;
        return e;
    }
    e.language = language();
    if (m_calibrator != nullptr) {
        e.tokens = calibrated(model, e);
        e.method = PromptCountMethod::Calibrated;
    } else {
        e.tokens = e.ruleOfThumb;
    }
    e.media = media.tokens();
    e.tokens += e.media;
    return e;
}

const tokenize::BpeEncoding* PromptEstimator::proxyEncoding() const
{
    return m_proxy != nullptr && m_encodings != nullptr ? m_encodings->get(tokenize::EncodingId::O200kBase) : nullptr;
}

std::int64_t PromptEstimator::calibrated(std::string_view model, const PromptEstimate& e) const
{
    if (e.proxy > 0 && m_proxy != nullptr) {
        if (const auto byProxy = m_proxy->fit(model, e.language);
            proxyPredictsBetter(m_calibrator->fit(model, e.language), byProxy)) {
            return byProxy->reserve(e.proxy);
        }
    }
    return m_calibrator->apply(model, e.ruleOfThumb, e.language);
}

const tokenize::BpeEncoding* PromptEstimator::encodingFor(std::string_view model) const
{
    return m_encodings != nullptr ? m_encodings->forModel(model) : nullptr;
}

bool proxyPredictsBetter(const std::optional<tokenize::TokenCalibrator::Fit>& rule,
                         const std::optional<tokenize::ProxyCalibrator::Fit>& proxy) noexcept
{
    return rule && proxy && rule->samples >= PromptEstimator::kMinProxySamples &&
           proxy->samples >= PromptEstimator::kMinProxySamples && proxy->spread < rule->spread;
}

tokenize::CalibrationOptions agreementOptions()
{
    tokenize::CalibrationOptions o;
    o.prior.fill(1.0);
    o.priorIsASample = false;
    return o;
}

std::int64_t reportedPromptTokens(ApiFlavor flavor, const ResponseUsage& usage) noexcept
{
    // OpenAI's prompt_tokens include the cached ones; Anthropic's
    // inputTokens (input + cache writes) leave out the cache reads.
    return flavor == ApiFlavor::OpenAI ? usage.inputTokens : usage.inputTokens + usage.billed.cachedInputTokens;
}

}  // namespace sluice
