// KeyPool: the runtime state of every provider, API key and key+model the
// dispatcher sends on: their admission scopes (registered and named), cool-
// downs, quarantines, provider back-offs, the slow-start probe for limits not
// yet known, and the choice of the usable key with the most headroom for a
// request. Providers sit at the index their configuration has in
// Config::providers (never erased, only marked removed), so a job refers to
// its provider by position.
//
// Thread-safety: none; owned by the dispatcher thread.
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatch_types.h"
#include "dispatch/job_prep.h"
#include "dispatch/limit_learner.h"
#include "dispatch/refund_probe.h"
#include "dispatch/unstated_output.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// Everything kept per key and model, found with one lookup.
struct ModelState {
    ScopeId scope = kNoScope;
    Path path;
    // Slow start for a model whose limits are neither configured nor yet
    // learned: one request goes first, and its rate-limit headers set the
    // pace for the rest (a blind burst would meet a storm of 429s).
    enum class Probe : std::uint8_t { Needed, InFlight, Done } probe = Probe::Done;
    TimePoint coolingUntil{};
    // The provider refused the key this model (403) until then, and why.
    TimePoint deniedUntil{};
    std::string deniedReason;
    int consecutive429 = 0;
    LearnedLimits limits;
};

struct KeyRuntime {
    std::shared_ptr<const KeyConfig> cfg;
    ScopeId scope = kNoScope;
    bool disabled = false;
    bool removed = false;
    bool quarantined = false;
    std::string reason;
    std::map<std::string, ModelState, std::less<>> models;
};

struct ProviderRuntime {
    // The provider's settings as they are now, a view into the latest
    // published Config (models and their limits change at run time).
    std::shared_ptr<const ProviderConfig> cfg;
    bool removed = false;
    ScopeId scope = kNoScope;
    std::vector<KeyRuntime> keys;
    TimePoint backoffUntil{};
    int consecutiveOverloads = 0;
    // Down (refused, unreachable) since its last answer: backed off as a
    // whole, then probed with one request at a time until it answers.
    bool unreachable = false;
    bool probing = false;
    int consecutiveUnreachable = 0;
    std::string unreachableReason;
    // Its requests' common headers, built once per configuration.
    CommonHeaders commonHeaders;
    // Whether it gives back unused output (TokenAccounting::Learn), and the
    // stage listeners were last told of.
    RefundProbe refunds;
    RefundProbe::Stage refundsTold = RefundProbe::Stage::Watching;
    // What requests that state no max_tokens reserve of output, once it
    // refunds; and the stage listeners were last told of.
    UnstatedOutputProbe unstated;
    UnstatedOutputProbe::Stage unstatedTold = UnstatedOutputProbe::Stage::Default;
};

// Which key a request could go on now, or why none can.
struct KeyChoice {
    enum class Kind : std::uint8_t { Admit, Wait, Never, NoUsableKey } kind = Kind::NoUsableKey;
    std::size_t key = 0;
    Path path;
    TimePoint until = TimePoint::max();
    bool waitsForRelease = false;
    // NoUsableKey because the provider refused every usable key the model
    // (403); `why` says what it said.
    bool denied = false;
    std::string why;
    // Wait: the limit the earliest time-bound wait is for.
    Binding binding{};
};

class KeyPool {
public:
    // Registers the global scope (with a concurrency cap when the config
    // has none) and every configured provider and key.
    KeyPool(Admission& admission, std::shared_ptr<const Config> config, std::int64_t defaultGlobalConcurrency);

    // Points every provider at its settings in `config`, the configuration
    // as edited; a provider new in it is registered.
    void adopt(std::shared_ptr<const Config> config);
    void addKey(ProviderRuntime& pr, const KeyConfig& kc);
    ProviderRuntime* findProvider(std::string_view name);
    KeyRuntime* findKey(ProviderRuntime& pr, std::string_view name);
    // Marks it removed and drops its scopes; requests in flight finish.
    void removeProvider(ProviderRuntime& pr);
    void removeKey(KeyRuntime& kr);
    // Enabling also lifts a quarantine: the operator says the key is good
    // again (quota topped up, key rotated).
    void setKeyEnabled(std::string_view provider, std::string_view key, bool enabled);
    // Returns whether it was not quarantined before (raise the alarm once).
    bool quarantine(KeyRuntime& kr, const std::string& reason);
    // The limits of `target`'s scopes; a model's set here are no longer
    // overwritten by what headers announce.
    void setLimits(const LimitTarget& target, const std::vector<LimitSpec>& limits);

    ProviderRuntime& provider(std::size_t index) { return m_providers[index]; }
    const std::vector<ProviderRuntime>& providers() const { return m_providers; }
    ModelState& modelState(const ProviderRuntime& pr, KeyRuntime& kr, const std::string& model);
    // The usable key with the most headroom for `cost` on `model`; a
    // cooling, quarantined, disabled or probing key is never chosen.
    // `only` not empty: that key alone is considered (a pinned request).
    KeyChoice choose(ProviderRuntime& pr, const std::string& model, const Cost& cost, TimePoint now,
                     std::string_view only = {});
    // Whether a key may be tried for `model` now (usable, and not refused
    // the model); `only` as for choose.
    bool mayUse(ProviderRuntime& pr, const std::string& model, TimePoint now, std::string_view only = {});
    std::string describe(const Binding& b) const;
    std::vector<KeyStatus> statuses(TimePoint now) const;
    std::vector<ProviderStatus> providerStatuses(TimePoint now) const;

private:
    void addProvider(std::shared_ptr<const ProviderConfig> cfg);
    ScopeId scopeFor(ScopeId parent, const std::string& name, const std::vector<LimitSpec>& limits);
    void nameScope(ScopeId id, std::string name);

    Admission& m_admission;
    std::vector<ProviderRuntime> m_providers;
    std::vector<std::string> m_scopeNames;
};

}  // namespace sluice
