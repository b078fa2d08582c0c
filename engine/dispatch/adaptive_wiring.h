// AdaptiveWiring: "concurrency": "auto" put in front of a dispatcher. It owns
// the AdaptiveConcurrencyController and the listener that feeds it every
// attempt before passing everything on to the caller's own listener, so
// batch, serve and loadtest wire it the same way:
//   AdaptiveWiring adaptive(clock, config, myListener);
//   Dispatcher d(config, clock, admission, adaptive.listener(), ...);
//   adaptive.attach(d);
// prometheusText() reports each adaptive scope's limit for /metrics.
//
// Thread-safety: as AdaptiveConcurrencyController (callbacks on the
// dispatcher thread, status() and prometheusText() from any thread).
// attach() once, before the dispatcher starts. Must outlive the dispatcher.
#pragma once

#include "dispatch/adaptive_controller.h"
#include "dispatch/fan_out_listener.h"

#include <string>

namespace sluice {

class AdaptiveWiring {
public:
    AdaptiveWiring(Clock& clock, const Config& config, DispatchListener& downstream);

    // What the dispatcher reports to: the controller, then `downstream`.
    DispatchListener& listener() noexcept { return m_fanOut; }
    void attach(Dispatcher& dispatcher) { m_controller.attach(dispatcher); }
    // True when the configuration asks for no adaptive limit at all.
    bool empty() const noexcept { return m_controller.empty(); }
    std::vector<AdaptiveConcurrencyController::Status> status() const { return m_controller.status(); }
    // sluice_adaptive_concurrency_limit{provider,key} and
    // sluice_adaptive_concurrency_changes_total{provider,key}, in the
    // Prometheus text format; empty when no scope is adaptive.
    std::string prometheusText() const;
    // "provider[/key] N" for each adaptive scope, joined by ", "; empty if none.
    std::string describe() const;

private:
    AdaptiveConcurrencyController m_controller;
    FanOutListener m_fanOut;
};

}  // namespace sluice
