// The arithmetic of a rate that ramps up linearly: from `start` × the full
// rate to the full rate over `length`, after a first burst. Shared by the
// mock's acceleration limit (what a provider allows after idle) and the
// dispatcher's idle ramp (how Sluice stays under it).
//
// Thread-safety: pure functions.
#pragma once

#include "core/clock.h"

namespace sluice {

struct LinearRamp {
    double perSecond = 0;  // the full rate
    double start = 1;      // fraction of it at the start
    double first = 1;      // units allowed at once at the start
    Duration length{};

    // Units allowed in all `elapsed` after the start (elapsed ≤ length).
    double allowed(Duration elapsed) const noexcept;
    // How long after the start `units` are allowed in all; `length` when
    // only the ramp's end allows them.
    Duration timeFor(double units) const noexcept;
};

}  // namespace sluice
