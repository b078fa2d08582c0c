#include "pricing/pricing.h"

#include <cmath>

namespace sluice {

// Generated from resources/pricing.json at configure time (pricing_data.cpp).
extern const char* const kBuiltInPricingJson;

namespace {

double readPrice(const JsonSource& src, const nlohmann::json& obj, const std::string& pointer, const char* field,
                 bool required)
{
    const auto it = obj.find(field);
    if (it == obj.end()) {
        if (required) {
            throw InputError(src.describe(pointer, std::string("missing \"") + field + "\" (USD per 1M tokens)"));
        }
        return -1;
    }
    if (!it->is_number() || it->get<double>() < 0) {
        throw InputError(src.describe(jsonPointerAppend(pointer, field), "must be a non-negative number"));
    }
    return it->get<double>();
}

}  // namespace

PricingTable PricingTable::builtIn()
{
    static const JsonSource source("resources/pricing.json (built in)", kBuiltInPricingJson);
    return fromJson(source, "");
}

PricingTable PricingTable::fromJson(const JsonSource& src, std::string_view pointer)
{
    const nlohmann::json& root = src.root().at(nlohmann::json::json_pointer(std::string(pointer)));
    if (!root.is_object()) {
        throw InputError(src.describe(pointer, "must be an object"));
    }
    PricingTable table;
    if (const auto it = root.find("as_of"); it != root.end()) {
        if (!it->is_string()) {
            throw InputError(src.describe(jsonPointerAppend(pointer, "as_of"), "must be a date string"));
        }
        table.m_asOf = it->get<std::string>();
    }
    const auto models = root.find("models");
    if (models == root.end() || !models->is_object()) {
        throw InputError(src.describe(pointer, "needs a \"models\" object"));
    }
    const std::string modelsPtr = jsonPointerAppend(pointer, "models");
    for (const auto& [name, entry] : models->items()) {
        const std::string p = jsonPointerAppend(modelsPtr, name);
        if (!entry.is_object()) {
            throw InputError(src.describe(p, "must be an object with \"input\" and \"output\""));
        }
        ModelPrice price;
        price.inputPerMillion = readPrice(src, entry, p, "input", true);
        price.outputPerMillion = readPrice(src, entry, p, "output", true);
        const double cached = readPrice(src, entry, p, "cached_input", false);
        price.cachedInputPerMillion = cached >= 0 ? cached : price.inputPerMillion;
        const double write = readPrice(src, entry, p, "cache_write", false);
        price.cacheWritePerMillion = write >= 0 ? write : price.inputPerMillion;
        table.m_models[name] = price;
    }
    return table;
}

void PricingTable::merge(const PricingTable& overrides)
{
    for (const auto& [name, price] : overrides.m_models) {
        m_models[name] = price;
    }
    if (!overrides.m_asOf.empty()) {
        m_asOf = m_asOf.empty() ? overrides.m_asOf : m_asOf + ", overrides " + overrides.m_asOf;
    }
}

std::optional<ModelPrice> PricingTable::find(std::string_view model) const
{
    if (const auto it = m_models.find(model); it != m_models.end()) {
        return it->second;
    }
    const ModelPrice* best = nullptr;
    std::size_t bestLength = 0;
    for (const auto& [name, price] : m_models) {
        if (name.size() < model.size() && model.substr(0, name.size()) == name && model[name.size()] == '-' &&
            name.size() > bestLength) {
            best = &price;
            bestLength = name.size();
        }
    }
    if (best == nullptr) {
        return std::nullopt;
    }
    return *best;
}

std::optional<std::int64_t> PricingTable::microUsd(std::string_view model, const TokenUsage& usage) const
{
    const auto price = find(model);
    if (!price) {
        return std::nullopt;
    }
    // Tokens × USD per million tokens is exactly micro-USD.
    const double micro = static_cast<double>(usage.inputTokens) * price->inputPerMillion +
                         static_cast<double>(usage.outputTokens) * price->outputPerMillion +
                         static_cast<double>(usage.cachedInputTokens) * price->cachedInputPerMillion +
                         static_cast<double>(usage.cacheWriteTokens) * price->cacheWritePerMillion;
    return static_cast<std::int64_t>(std::llround(micro));
}

}  // namespace sluice
