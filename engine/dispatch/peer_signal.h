// PeerSignal: what one dispatcher learns about a key that every other
// instance sending on the same key should act on at once: a 429 cool-down,
// a quarantine, the limits a provider's headers announced. The dispatcher
// tells a PeerSignalObserver (DispatcherOptions::peerSignals) and takes one
// from its peers through Dispatcher::applyPeerSignal; carrying them between
// instances is someone else's (engine/shared/signal_bridge.h).
//
// Thread-safety: plain values; the observer is called on the dispatcher
// thread and must not block (queue the signal and send it elsewhere).
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <optional>
#include <string>

namespace sluice {

struct PeerSignal {
    enum class Kind : std::uint8_t { CoolDown, Quarantine, LimitsLearned };
    Kind kind = Kind::CoolDown;
    // Names as the configuration gives them (a key's label, never its value).
    std::string provider;
    std::string key;
    std::string model;     // CoolDown, LimitsLearned
    WallTime until{};      // CoolDown: the key+model rests until then
    std::string reason;    // Quarantine
    // LimitsLearned: the per-minute limits the headers announced (absent:
    // not announced). Each instance learns from them under its own
    // configuration, as if its own response had carried them.
    std::optional<std::int64_t> requests;
    std::optional<std::int64_t> tokens;
    std::optional<std::int64_t> inputTokens;
    std::optional<std::int64_t> outputTokens;
};

class PeerSignalObserver {
public:
    virtual ~PeerSignalObserver() = default;
    // Something this instance learned by itself (never one it applied).
    virtual void onPeerSignal(const PeerSignal& signal) = 0;
};

}  // namespace sluice
