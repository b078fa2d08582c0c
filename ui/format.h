// How the console writes numbers, money, times, limits and key states, so
// every panel says them the same way.
//
// Thread-safety: pure functions.
#pragma once

#include "admission/limits.h"
#include "core/clock.h"
#include "dispatch/dispatch_types.h"

#include <QString>

#include <optional>

namespace sluice::ui {

QString qs(std::string_view text);
QString formatCount(std::int64_t n);                // "12,345"
QString formatRate(double perMinute);               // "1,234" or "12.5" below 100
QString formatUsd(std::int64_t microUsd);           // "$0.0123", "$12.34"
QString formatUsd(double usd);
QString formatSeconds(double seconds);              // "850 ms", "1.4 s", "3 min 20 s"
QString formatWallTime(WallTime t);                 // "15:42:03" local time
QString formatWallDateTime(WallTime t);             // "2026-11-28 15:42:03"
qint64 epochMs(WallTime t);                         // for QDateTime and chart axes
// "600/min (burst 10)", "48 in flight", "$20.00/day"
QString describeLimit(const LimitSpec& spec);
// "cooling down until 15:42:03 (429 on gpt-4o-mini)", "quarantined: …"
QString describeKeyState(const KeyStatus& key);
QString failureClassLabel(FailureClass cls);        // "rate limited (429)", ...

}  // namespace sluice::ui
