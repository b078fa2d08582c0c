#include "core/timefmt.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace sluice {

namespace {

using namespace std::chrono;

constexpr std::int64_t kNsPerUs = 1'000;
constexpr std::int64_t kNsPerMs = 1'000'000;
constexpr std::int64_t kNsPerS = 1'000'000'000;
constexpr std::int64_t kNsPerM = 60 * kNsPerS;
constexpr std::int64_t kNsPerH = 60 * kNsPerM;

// Formats v / unit with up to `digits` decimals, trailing zeros trimmed.
std::string fraction(std::int64_t v, std::int64_t unit, int digits)
{
    std::string out = std::to_string(v / unit);
    std::int64_t rem = v % unit;
    if (rem == 0) {
        return out;
    }
    std::string frac;
    std::int64_t scale = unit;
    for (int i = 0; i < digits && rem != 0; ++i) {
        scale /= 10;
        frac.push_back(static_cast<char>('0' + rem / scale));
        rem %= scale;
    }
    while (!frac.empty() && frac.back() == '0') {
        frac.pop_back();
    }
    if (!frac.empty()) {
        out.push_back('.');
        out.append(frac);
    }
    return out;
}

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

// Length of the decimal number at the start of s ("12", "1.5", ".5", "3."),
// and in `digits` how many digits it has; 0 when there is none.
std::size_t scanDecimal(std::string_view s, std::size_t& digits)
{
    std::size_t i = 0;
    while (i < s.size() && isDigit(s[i])) {
        ++i;
    }
    digits = i;
    std::size_t j = i;
    if (j < s.size() && s[j] == '.') {
        ++j;
        while (j < s.size() && isDigit(s[j])) {
            ++j;
        }
        digits += j - i - 1;
    }
    return digits == 0 ? 0 : j;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
    std::int64_t year;
    unsigned month, day, hour, minute, second;
    unsigned weekday;  // 0 = Sunday
    std::int64_t nanos;
};

Civil toCivil(WallTime t)
{
    const std::int64_t ns = t.time_since_epoch().count();
    std::int64_t secs = ns / kNsPerS;
    std::int64_t nanos = ns % kNsPerS;
    if (nanos < 0) {
        nanos += kNsPerS;
        --secs;
    }
    std::int64_t days = secs / 86400;
    std::int64_t sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        --days;
    }
    // civil_from_days (Howard Hinnant).
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
    const auto weekday = static_cast<unsigned>(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
    return Civil{y, m, d, static_cast<unsigned>(sod / 3600), static_cast<unsigned>(sod % 3600 / 60),
                 static_cast<unsigned>(sod % 60), weekday, nanos};
}

bool readUint(std::string_view& s, std::size_t digits, unsigned& out)
{
    if (s.size() < digits) {
        return false;
    }
    unsigned v = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        if (!isDigit(s[i])) {
            return false;
        }
        v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    out = v;
    s.remove_prefix(digits);
    return true;
}

bool expect(std::string_view& s, char c)
{
    if (s.empty() || s.front() != c) {
        return false;
    }
    s.remove_prefix(1);
    return true;
}

// WallTime counts nanoseconds in 64 bits, which reaches only from 1677 to
// 2262; a date outside these years (with room for a UTC offset) cannot be
// represented, and from a provider it is garbage anyway.
constexpr std::int64_t kMinYear = 1700;
constexpr std::int64_t kMaxYear = 2200;

bool validDate(std::int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned sec)
{
    static constexpr std::array<unsigned, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < kMinYear || y > kMaxYear || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(mo == 2 && d == 29 && !leap);
}

WallTime makeWall(std::int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s, std::int64_t ns)
{
    const std::int64_t secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + std::min(s, 59u);
    return WallTime(Duration(secs * kNsPerS + ns));
}

constexpr std::array<const char*, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string formatGoDuration(Duration d)
{
    std::int64_t ns = d.count();
    if (ns == 0) {
        return "0s";
    }
    // Built by appending: GCC 12 misreports -Wrestrict on chains of
    // std::string operator+ at -O3.
    std::string out;
    if (ns < 0) {
        out.push_back('-');
        ns = -ns;
    }
    const std::size_t signLength = out.size();
    if (ns < kNsPerUs) {
        out.append(std::to_string(ns)).append("ns");
        return out;
    }
    if (ns < kNsPerMs) {
        out.append(fraction(ns, kNsPerUs, 3)).append("µs");
        return out;
    }
    if (ns < kNsPerS) {
        out.append(fraction(ns, kNsPerMs, 6)).append("ms");
        return out;
    }
    if (ns >= kNsPerH) {
        out.append(std::to_string(ns / kNsPerH)).push_back('h');
        ns %= kNsPerH;
    }
    if (out.size() > signLength || ns >= kNsPerM) {
        out.append(std::to_string(ns / kNsPerM)).push_back('m');
        ns %= kNsPerM;
    }
    out.append(fraction(ns, kNsPerS, 9)).push_back('s');
    return out;
}

std::optional<Duration> parseGoDuration(std::string_view text)
{
    std::string_view s = text;
    bool negative = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
        negative = s.front() == '-';
        s.remove_prefix(1);
    }
    if (s == "0") {
        return Duration::zero();
    }
    if (s.empty()) {
        return std::nullopt;
    }
    long double total = 0;
    while (!s.empty()) {
        std::size_t digits = 0;
        const std::size_t j = scanDecimal(s, digits);
        if (j == 0) {
            return std::nullopt;  // no digits
        }
        // Whole numbers ("6m0s", "20ms": most of what providers send, on
        // every response) without strtold and the string it needs.
        long double value = 0;
        if (std::int64_t whole = 0; j <= 18 && std::from_chars(s.data(), s.data() + j, whole).ptr == s.data() + j) {
            value = static_cast<long double>(whole);
        } else {
            value = std::strtold(std::string(s.substr(0, j)).c_str(), nullptr);
        }
        s.remove_prefix(j);
        std::int64_t unit = 0;
        static constexpr std::array<std::pair<std::string_view, std::int64_t>, 8> kUnits = {{
            {"ns", 1}, {"us", kNsPerUs}, {"µs", kNsPerUs}, {"μs", kNsPerUs},
            {"ms", kNsPerMs}, {"s", kNsPerS}, {"m", kNsPerM}, {"h", kNsPerH},
        }};
        for (const auto& [name, ns] : kUnits) {
            if (s.substr(0, name.size()) == name) {
                unit = ns;
                s.remove_prefix(name.size());
                break;
            }
        }
        if (unit == 0) {
            return std::nullopt;
        }
        total += value * static_cast<long double>(unit);
        if (total > 9.2e18L) {
            return std::nullopt;
        }
    }
    const auto ns = static_cast<std::int64_t>(std::llround(static_cast<double>(total)));
    return Duration(negative ? -ns : ns);
}

std::string formatRfc3339(WallTime t, int fractionDigits)
{
    const Civil c = toCivil(t);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u", static_cast<long long>(c.year), c.month,
                  c.day, c.hour, c.minute, c.second);
    std::string out = buf;
    if (fractionDigits > 0) {
        const std::string digits = std::to_string(c.nanos + kNsPerS);  // "1" then 9 digits
        out.push_back('.');
        out.append(digits, 1, static_cast<std::size_t>(std::min(fractionDigits, 9)));
    }
    out.push_back('Z');
    return out;
}

std::optional<WallTime> parseRfc3339(std::string_view s)
{
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!readUint(s, 4, y) || !expect(s, '-') || !readUint(s, 2, mo) || !expect(s, '-') || !readUint(s, 2, d)) {
        return std::nullopt;
    }
    if (s.empty() || (s.front() != 'T' && s.front() != 't' && s.front() != ' ')) {
        return std::nullopt;
    }
    s.remove_prefix(1);
    if (!readUint(s, 2, h) || !expect(s, ':') || !readUint(s, 2, mi) || !expect(s, ':') || !readUint(s, 2, sec)) {
        return std::nullopt;
    }
    std::int64_t nanos = 0;
    if (!s.empty() && s.front() == '.') {
        s.remove_prefix(1);
        std::int64_t scale = kNsPerS;
        std::size_t n = 0;
        while (!s.empty() && isDigit(s.front())) {
            if (scale > 1) {
                scale /= 10;
                nanos += (s.front() - '0') * scale;
            }
            s.remove_prefix(1);
            ++n;
        }
        if (n == 0) {
            return std::nullopt;
        }
    }
    std::int64_t offsetSecs = 0;
    if (s == "Z" || s == "z") {
        s.remove_prefix(1);
    } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
        const int sign = s.front() == '-' ? -1 : 1;
        s.remove_prefix(1);
        unsigned oh = 0, om = 0;
        if (!readUint(s, 2, oh) || !expect(s, ':') || !readUint(s, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offsetSecs = sign * static_cast<std::int64_t>(oh * 3600 + om * 60);
    } else {
        return std::nullopt;
    }
    if (!s.empty() || !validDate(y, mo, d, h, mi, sec)) {
        return std::nullopt;
    }
    return makeWall(y, mo, d, h, mi, sec, nanos) - std::chrono::seconds(offsetSecs);
}

std::string formatHttpDate(WallTime t)
{
    const Civil c = toCivil(t);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02u:%02u:%02u GMT", kWeekdays[c.weekday], c.day,
                  kMonths[c.month - 1], static_cast<long long>(c.year), c.hour, c.minute, c.second);
    return buf;
}

std::optional<WallTime> parseHttpDate(std::string_view s)
{
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() < 29 || s[3] != ',' || s[4] != ' ') {
        return std::nullopt;
    }
    s.remove_prefix(5);
    unsigned d = 0, y = 0, h = 0, mi = 0, sec = 0;
    if (!readUint(s, 2, d) || !expect(s, ' ') || s.size() < 4) {
        return std::nullopt;
    }
    unsigned mo = 0;
    for (unsigned i = 0; i < kMonths.size(); ++i) {
        if (s.substr(0, 3) == kMonths[i]) {
            mo = i + 1;
        }
    }
    s.remove_prefix(3);
    if (mo == 0 || !expect(s, ' ') || !readUint(s, 4, y) || !expect(s, ' ') || !readUint(s, 2, h) ||
        !expect(s, ':') || !readUint(s, 2, mi) || !expect(s, ':') || !readUint(s, 2, sec) || s != " GMT" ||
        !validDate(y, mo, d, h, mi, sec)) {
        return std::nullopt;
    }
    return makeWall(y, mo, d, h, mi, sec, 0);
}

std::optional<Duration> parseDecimalSeconds(std::string_view s)
{
    std::size_t digits = 0;
    if (s.empty() || scanDecimal(s, digits) != s.size()) {
        return std::nullopt;
    }
    const double v = std::strtod(std::string(s).c_str(), nullptr);
    if (!(v < 9.2e9)) {
        return std::nullopt;
    }
    return Duration(static_cast<std::int64_t>(std::llround(v * 1e9)));
}

}  // namespace sluice
