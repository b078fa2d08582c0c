// What the metrics count, per scope and per time bucket: the scope names
// (global, provider, key, model), the additive Tally of one bucket (requests,
// failures by triage class, tokens, spend, latency histograms) and the
// sampled Gauges (in flight, queued). Tallies merge by addition, so a coarse
// bucket is exactly the sum of the fine buckets it covers.
//
// Thread-safety: plain values.
#pragma once

#include "metrics/histogram.h"
#include "providers/triage.h"

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::metrics {

// Scopes follow the admission path (global → provider → key → key+model),
// plus Model: one model's traffic on every key of its provider. Keys are
// named by their config label, never by their value.
enum class ScopeKind : std::uint8_t { Global, Provider, Key, Model, KeyModel };
inline constexpr int kScopeKindCount = 5;
std::string_view scopeKindName(ScopeKind kind) noexcept;  // "global", "provider", "key", "model", "key_model"

struct ScopeKey {
    ScopeKind kind = ScopeKind::Global;
    std::string provider;
    std::string key;    // Key and KeyModel only
    std::string model;  // Model and KeyModel only

    static ScopeKey global() { return {}; }
    static ScopeKey ofProvider(std::string provider) { return {ScopeKind::Provider, std::move(provider), {}, {}}; }
    static ScopeKey ofKey(std::string provider, std::string key)
    {
        return {ScopeKind::Key, std::move(provider), std::move(key), {}};
    }
    static ScopeKey ofModel(std::string provider, std::string model)
    {
        return {ScopeKind::Model, std::move(provider), {}, std::move(model)};
    }
    static ScopeKey ofKeyModel(std::string provider, std::string key, std::string model)
    {
        return {ScopeKind::KeyModel, std::move(provider), std::move(key), std::move(model)};
    }

    // "global", "openai", "openai/prod-1", "openai/gpt-4o", "openai/prod-1/gpt-4o"
    std::string label() const;

    auto operator<=>(const ScopeKey&) const = default;
};

template <typename Count>
struct BasicTally {
    Count sent = 0;       // HTTP requests sent, counted when they went out
    Count completed = 0;  // attempts answered successfully, counted when they finished
    Count retries = 0;    // sends that retried a failed attempt
    Count unpriced = 0;   // completed attempts of a model without a price: spend unknown, not zero
    std::array<Count, kFailureClassCount> failures{};  // failed attempts by triage class
    // Of completed attempts: what the provider reported, what was reserved.
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    std::int64_t estimatedInputTokens = 0;
    std::int64_t estimatedOutputTokens = 0;
    std::int64_t spendMicroUsd = 0;  // priced completed attempts only
    BasicHistogram<Count> latency;           // completed attempts: sent → last byte
    BasicHistogram<Count> timeToFirstToken;  // completed streamed attempts

    std::uint64_t failuresOf(FailureClass c) const noexcept { return failures[static_cast<std::size_t>(c)]; }
    std::uint64_t failed() const noexcept
    {
        std::uint64_t n = 0;
        for (const Count c : failures) {
            n += c;
        }
        return n;
    }
    // Attempts that ended, either way: the denominator of failure rates.
    std::uint64_t finished() const noexcept { return completed + failed(); }
    bool empty() const noexcept { return sent == 0 && finished() == 0; }

    template <typename Other>
    void merge(const BasicTally<Other>& o) noexcept
    {
        sent = static_cast<Count>(sent + o.sent);
        completed = static_cast<Count>(completed + o.completed);
        retries = static_cast<Count>(retries + o.retries);
        unpriced = static_cast<Count>(unpriced + o.unpriced);
        for (std::size_t i = 0; i < failures.size(); ++i) {
            failures[i] = static_cast<Count>(failures[i] + o.failures[i]);
        }
        inputTokens += o.inputTokens;
        outputTokens += o.outputTokens;
        estimatedInputTokens += o.estimatedInputTokens;
        estimatedOutputTokens += o.estimatedOutputTokens;
        spendMicroUsd += o.spendMicroUsd;
        latency.merge(o.latency);
        timeToFirstToken.merge(o.timeToFirstToken);
    }

    friend bool operator==(const BasicTally&, const BasicTally&) = default;
};

// One bucket of a live series, or one minute's rollup.
using Tally = BasicTally<std::uint32_t>;
// Totals since start, and report rows merged over any range.
using Totals = BasicTally<std::uint64_t>;

// Gauges sampled during a bucket (about once a second). Queued jobs have no
// key yet, so Key and KeyModel scopes show nothing queued.
struct Gauges {
    bool sampled = false;
    std::int64_t inFlight = 0;  // the last sample in the bucket
    std::int64_t inFlightMax = 0;
    std::int64_t queued = 0;    // the last sample in the bucket
    std::int64_t queuedMax = 0;

    void sample(std::int64_t inFlightNow, std::int64_t queuedNow) noexcept
    {
        inFlight = inFlightNow;
        queued = queuedNow;
        inFlightMax = sampled ? std::max(inFlightMax, inFlightNow) : inFlightNow;
        queuedMax = sampled ? std::max(queuedMax, queuedNow) : queuedNow;
        sampled = true;
    }
    // Folds in a later bucket's gauges.
    void mergeLater(const Gauges& later) noexcept
    {
        if (!later.sampled) {
            return;
        }
        inFlightMax = sampled ? std::max(inFlightMax, later.inFlightMax) : later.inFlightMax;
        queuedMax = sampled ? std::max(queuedMax, later.queuedMax) : later.queuedMax;
        inFlight = later.inFlight;
        queued = later.queued;
        sampled = true;
    }

    friend bool operator==(const Gauges&, const Gauges&) = default;
};

}  // namespace sluice::metrics
