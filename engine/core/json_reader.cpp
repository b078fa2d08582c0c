#include "core/json_reader.h"

#include <cmath>

namespace sluice {

using nlohmann::json;

void JsonReader::problem(std::string_view pointer, std::string_view message)
{
    m_problems.push_back(m_src.describe(pointer, message));
}

const json* JsonReader::object(const json& parent, std::string_view pointer, const char* field, bool required)
{
    const auto it = parent.find(field);
    const std::string p = jsonPointerAppend(pointer, field);
    if (it == parent.end()) {
        if (required) {
            problem(pointer, std::string("missing \"") + field + "\"");
        }
        return nullptr;
    }
    if (!it->is_object()) {
        problem(p, "must be an object");
        return nullptr;
    }
    return &*it;
}

std::optional<std::string> JsonReader::string(const json& parent, std::string_view pointer, const char* field,
                                              bool required)
{
    const auto it = parent.find(field);
    if (it == parent.end()) {
        if (required) {
            problem(pointer, std::string("missing \"") + field + "\"");
        }
        return std::nullopt;
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        problem(jsonPointerAppend(pointer, field), "must be a non-empty string");
        return std::nullopt;
    }
    return it->get<std::string>();
}

std::optional<double> JsonReader::number(const json& parent, std::string_view pointer, const char* field, double min,
                                         double max)
{
    const auto it = parent.find(field);
    if (it == parent.end()) {
        return std::nullopt;
    }
    const std::string p = jsonPointerAppend(pointer, field);
    if (!it->is_number()) {
        problem(p, "must be a number");
        return std::nullopt;
    }
    const double v = it->get<double>();
    if (!(v >= min && v <= max)) {
        problem(p, "must be between " + trimmed(min) + " and " + trimmed(max) + " (got " + trimmed(v) + ")");
        return std::nullopt;
    }
    return v;
}

std::optional<std::int64_t> JsonReader::integer(const json& parent, std::string_view pointer, const char* field,
                                                std::int64_t min, std::int64_t max)
{
    const auto it = parent.find(field);
    if (it == parent.end()) {
        return std::nullopt;
    }
    const std::string p = jsonPointerAppend(pointer, field);
    const auto outOfRange = [&](const std::string& got) {
        problem(p, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " + got + ")");
        return std::nullopt;
    };
    // 1e30 is written as a float but means a whole number: out of range says
    // what is wrong with it, "not a whole number" would not.
    if (it->is_number_float()) {
        const double d = it->get<double>();
        if (std::isfinite(d) && d == std::floor(d) && (d < static_cast<double>(min) || d > static_cast<double>(max))) {
            return outOfRange(it->dump());
        }
        problem(p, "must be a whole number (got " + it->dump() + ")");
        return std::nullopt;
    }
    if (!it->is_number_integer()) {
        problem(p, "must be a whole number");
        return std::nullopt;
    }
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
        return outOfRange(std::to_string(it->get<std::uint64_t>()));
    }
    const auto v = it->get<std::int64_t>();
    if (v < min || v > max) {
        problem(p, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                       std::to_string(v) + ")");
        return std::nullopt;
    }
    return v;
}

std::optional<bool> JsonReader::boolean(const json& parent, std::string_view pointer, const char* field)
{
    const auto it = parent.find(field);
    if (it == parent.end()) {
        return std::nullopt;
    }
    if (!it->is_boolean()) {
        problem(jsonPointerAppend(pointer, field), "must be true or false");
        return std::nullopt;
    }
    return it->get<bool>();
}

void JsonReader::onlyKnown(const json& obj, std::string_view pointer, std::initializer_list<std::string_view> known)
{
    for (const auto& [key, value] : obj.items()) {
        bool ok = false;
        for (std::string_view k : known) {
            ok = ok || k == key;
        }
        if (!ok) {
            std::string list;
            for (std::string_view k : known) {
                list += list.empty() ? "" : ", ";
                list += k;
            }
            problem(jsonPointerAppend(pointer, key), "unknown field (expected one of: " + list + ")");
        }
    }
}

std::string JsonReader::trimmed(double v)
{
    std::string s = std::to_string(v);
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
        const bool dot = s.back() == '.';
        s.pop_back();
        if (dot) {
            break;
        }
    }
    return s;
}

void throwIfProblems(const std::string& sourceName, const std::vector<std::string>& problems)
{
    if (problems.empty()) {
        return;
    }
    std::string all = std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") + " in " +
                      sourceName + ":";
    for (const auto& p : problems) {
        all += "\n  " + p;
    }
    throw ProblemsError(all, problems);
}

Duration secondsToDuration(double s)
{
    return Duration(static_cast<std::int64_t>(std::llround(s * 1e9)));
}

}  // namespace sluice
