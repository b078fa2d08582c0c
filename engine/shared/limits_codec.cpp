#include "shared/limits_codec.h"

#include <nlohmann/json.hpp>

namespace sluice::shared {

using nlohmann::json;

namespace {

std::int64_t toMs(Duration d)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::optional<std::vector<LimitSpec>> readLimits(const json& j);

}  // namespace

std::string encodeLimits(const std::vector<LimitSpec>& limits)
{
    json out = json::array();
    for (const LimitSpec& l : limits) {
        out.push_back({{"measure", measureName(l.measure)},
                       {"window", windowName(l.window)},
                       {"period_ms", toMs(l.period)},
                       {"limit", l.limit},
                       {"burst", l.burst},
                       {"utc_offset_ms", toMs(l.utcOffset)}});
    }
    return out.dump();
}

std::optional<std::vector<LimitSpec>> decodeLimits(std::string_view text)
{
    const json j = json::parse(text, nullptr, false);
    if (!j.is_array()) {
        return std::nullopt;
    }
    try {
        return readLimits(j);
    } catch (const json::exception&) {
        return std::nullopt;  // a field of the wrong type
    }
}

namespace {

std::optional<std::vector<LimitSpec>> readLimits(const json& j)
{
    std::vector<LimitSpec> out;
    for (const json& e : j) {
        if (!e.is_object() || !e.contains("measure") || !e["measure"].is_string() || !e.contains("limit") ||
            !e["limit"].is_number_integer()) {
            return std::nullopt;
        }
        LimitSpec l;
        if (!parseMeasure(e["measure"].get<std::string>(), l.measure)) {
            return std::nullopt;
        }
        const std::string window = e.value("window", std::string(windowName(Window::Rolling)));
        if (window == windowName(Window::Rolling)) {
            l.window = Window::Rolling;
        } else if (window == windowName(Window::Fixed)) {
            l.window = Window::Fixed;
        } else {
            return std::nullopt;
        }
        l.limit = e["limit"].get<std::int64_t>();
        l.period = std::chrono::milliseconds(e.value("period_ms", std::int64_t{60000}));
        l.burst = e.value("burst", std::int64_t{0});
        l.utcOffset = std::chrono::milliseconds(e.value("utc_offset_ms", std::int64_t{0}));
        if (!l.validate().empty()) {
            return std::nullopt;
        }
        out.push_back(l);
    }
    return out;
}

}  // namespace

std::string encodeTarget(const LimitTarget& target)
{
    return json::array({target.provider, target.key, target.model}).dump();
}

std::optional<LimitTarget> decodeTarget(std::string_view text)
{
    const json j = json::parse(text, nullptr, false);
    if (!j.is_array() || j.size() != 3 || !j[0].is_string() || !j[1].is_string() || !j[2].is_string()) {
        return std::nullopt;
    }
    return LimitTarget{j[0].get<std::string>(), j[1].get<std::string>(), j[2].get<std::string>()};
}

}  // namespace sluice::shared
