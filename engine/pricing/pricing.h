// PricingTable: what a model's tokens cost, from the built-in table
// (resources/pricing.json, compiled in) plus user overrides from the config.
// A model that is not in the table is "unpriced": its spend is unknown, never
// silently zero.
//
// Thread-safety: immutable after construction; const members are safe from
// any thread.
#pragma once

#include "core/json_source.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

struct ModelPrice {
    double inputPerMillion = 0;   // USD per 1M input tokens
    double outputPerMillion = 0;  // USD per 1M output tokens
    double cachedInputPerMillion = 0;
    double cacheWritePerMillion = 0;
};

struct TokenUsage {
    std::int64_t inputTokens = 0;       // uncached input
    std::int64_t outputTokens = 0;
    std::int64_t cachedInputTokens = 0;  // cache reads
    std::int64_t cacheWriteTokens = 0;   // Anthropic cache creation
};

class PricingTable {
public:
    // The table compiled from resources/pricing.json.
    static PricingTable builtIn();
    // Parses a table object ({"models": {...}, "as_of": ...}) at `pointer` in
    // `source`; throws InputError naming the file, line and field.
    static PricingTable fromJson(const JsonSource& source, std::string_view pointer);

    // Models in `overrides` replace or extend this table's.
    void merge(const PricingTable& overrides);

    // Exact name first, then the longest known name that prefixes `model` at a
    // '-' boundary ("gpt-4o-2024-08-06" → gpt-4o).
    std::optional<ModelPrice> find(std::string_view model) const;
    // Spend in millionths of a USD, or nullopt when the model is unpriced.
    std::optional<std::int64_t> microUsd(std::string_view model, const TokenUsage& usage) const;

    const std::string& asOf() const noexcept { return m_asOf; }
    const std::map<std::string, ModelPrice, std::less<>>& models() const noexcept { return m_models; }

private:
    std::string m_asOf;
    std::map<std::string, ModelPrice, std::less<>> m_models;
};

}  // namespace sluice
