#include "metrics/tally.h"

#include <array>

namespace sluice::metrics {

std::string_view scopeKindName(ScopeKind kind) noexcept
{
    static constexpr std::array<std::string_view, kScopeKindCount> kNames = {"global", "provider", "key", "model",
                                                                             "key_model"};
    return kNames[static_cast<std::size_t>(kind)];
}

std::string ScopeKey::label() const
{
    switch (kind) {
    case ScopeKind::Global: return "global";
    case ScopeKind::Provider: return provider;
    case ScopeKind::Key: return provider + "/" + key;
    case ScopeKind::Model: return provider + "/" + model;
    case ScopeKind::KeyModel: return provider + "/" + key + "/" + model;
    }
    return {};
}

}  // namespace sluice::metrics
