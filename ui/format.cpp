#include "format.h"

#include "core/numbers.h"
#include "host/workspace.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QLocale>

#include <cmath>

namespace sluice::ui {

namespace {

QString tr(const char* text)
{
    return QCoreApplication::translate("sluice::ui::format", text);
}

QDateTime toQDateTime(WallTime t)
{
    return QDateTime::fromMSecsSinceEpoch(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

}  // namespace

QString qs(std::string_view text)
{
    return QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size()));
}

QString formatCount(std::int64_t n)
{
    return qs(groupThousands(n));
}

QString formatRate(double perMinute)
{
    if (std::abs(perMinute) < 100 && perMinute != std::round(perMinute)) {
        return QLocale(QLocale::English).toString(perMinute, 'f', 1);
    }
    return formatCount(std::llround(perMinute));
}

QString formatUsd(double usd)
{
    return qs(sluice::formatUsd(usd));
}

QString formatUsd(std::int64_t microUsd)
{
    return qs(sluice::formatUsd(microUsd));
}

QString formatSeconds(double seconds)
{
    if (seconds < 1) {
        return tr("%1 ms").arg(std::llround(seconds * 1000));
    }
    if (seconds < 60) {
        return tr("%1 s").arg(seconds, 0, 'f', 1);
    }
    const auto total = std::llround(seconds);
    return tr("%1 min %2 s").arg(total / 60).arg(total % 60);
}

QString formatWallTime(WallTime t)
{
    return toQDateTime(t).toString(QStringLiteral("HH:mm:ss"));
}

QString formatWallDateTime(WallTime t)
{
    return toQDateTime(t).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

qint64 epochMs(WallTime t)
{
    return static_cast<qint64>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

QString describeLimit(const LimitSpec& s)
{
    const auto field = host::limitFieldOf(s);
    if (s.measure == Measure::Concurrency) {
        return tr("%1 in flight").arg(formatCount(s.limit));
    }
    if (s.measure == Measure::SpendMicroUsd) {
        return tr("%1/day").arg(formatUsd(s.limit));
    }
    if (field && (*field == host::LimitField::Rpd || *field == host::LimitField::Tpd)) {
        return tr("%1/day").arg(formatCount(s.limit));
    }
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.period).count();
    QString text = secs == 60 ? tr("%1/min").arg(formatCount(s.limit)) : tr("%1 per %2 s").arg(formatCount(s.limit)).arg(secs);
    if (s.window == Window::Rolling && s.burst > 0 && s.burst != s.limit) {
        text += tr(" (burst %1)").arg(formatCount(s.burst));
    }
    return text;
}

QString describeKeyState(const KeyStatus& key)
{
    switch (key.state) {
    case KeyStatus::State::Ok: return tr("ok");
    case KeyStatus::State::CoolingDown:
        return tr("cooling down until %1 (%2)")
            .arg(formatWallTime(SystemClock().toWall(key.until)), qs(key.reason));
    case KeyStatus::State::Quarantined: return tr("quarantined: %1").arg(qs(key.reason));
    case KeyStatus::State::Disabled: return key.reason.empty() ? tr("disabled") : tr("disabled: %1").arg(qs(key.reason));
    }
    return {};
}

QString failureClassLabel(FailureClass cls)
{
    switch (cls) {
    case FailureClass::RateLimited: return tr("rate limited (429)");
    case FailureClass::RequestTooLarge: return tr("request too large");
    case FailureClass::QuotaExhausted: return tr("quota exhausted");
    case FailureClass::Overloaded: return tr("overloaded (529/503)");
    case FailureClass::ServerError: return tr("server error (5xx)");
    case FailureClass::Timeout: return tr("timeout");
    case FailureClass::ConnectionError: return tr("connection error");
    case FailureClass::BadRequest: return tr("bad request (400)");
    case FailureClass::AuthFailed: return tr("auth failed (401)");
    case FailureClass::PermissionDenied: return tr("permission denied (403)");
    default: return qs(failureClassName(cls)).replace(QLatin1Char('_'), QLatin1Char(' '));
    }
}

}  // namespace sluice::ui
