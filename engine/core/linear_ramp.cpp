#include "core/linear_ramp.h"

#include <algorithm>
#include <cmath>

namespace sluice {

namespace {

double seconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

}  // namespace

double LinearRamp::allowed(Duration elapsed) const noexcept
{
    const double len = seconds(length);
    const double t = std::clamp(seconds(elapsed), 0.0, len);
    // The integral of a rate rising from start × r to r over the length.
    return first + perSecond * (start * t + (len > 0 ? (1.0 - start) * t * t / (2.0 * len) : 0.0));
}

Duration LinearRamp::timeFor(double units) const noexcept
{
    if (units <= first) {
        return Duration::zero();
    }
    const double len = seconds(length);
    // allowed(t) = units: a t² + b t + c = 0, the positive root.
    const double a = len > 0 ? perSecond * (1.0 - start) / (2.0 * len) : 0.0;
    const double b = perSecond * start;
    const double c = first - units;
    double t = len;
    if (a > 0) {
        t = (-b + std::sqrt(b * b - 4.0 * a * c)) / (2.0 * a);
    } else if (b > 0) {
        t = -c / b;
    }
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(std::min(t, len)));
}

}  // namespace sluice
