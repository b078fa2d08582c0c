// Internal to sluice_control: reading and writing the fields of the control
// protocol's JSON, shared by control_protocol.cpp (status, series, limits)
// and control_protocol_jobs.cpp (jobs, dead letters, configuration).
// Stateless; safe from any thread. Every failure is a ProtocolError naming
// the field.
#pragma once

#include "control/control_protocol.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sluice::control::fields {

using nlohmann::json;

inline const json& need(const json& j, const char* field)
{
    if (!j.is_object()) {
        throw ProtocolError(std::string("expected an object holding \"") + field + "\"");
    }
    const auto it = j.find(field);
    if (it == j.end()) {
        throw ProtocolError(std::string("missing \"") + field + "\"");
    }
    return *it;
}

template <typename T>
T get(const json& j, const char* field)
{
    try {
        return need(j, field).get<T>();
    } catch (const json::exception&) {
        throw ProtocolError(std::string("\"") + field + "\" has the wrong type");
    }
}

template <typename T>
T getOr(const json& j, const char* field, T fallback)
{
    if (!j.is_object()) {
        return fallback;
    }
    const auto it = j.find(field);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        throw ProtocolError(std::string("\"") + field + "\" has the wrong type");
    }
}

template <typename T>
std::optional<T> optionalField(const json& j, const char* field)
{
    if (!j.is_object()) {
        return std::nullopt;
    }
    const auto it = j.find(field);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        throw ProtocolError(std::string("\"") + field + "\" has the wrong type");
    }
}

inline const json& arrayAt(const json& j, const char* field)
{
    const json& a = need(j, field);
    if (!a.is_array()) {
        throw ProtocolError(std::string("\"") + field + "\" is not an array");
    }
    return a;
}

inline std::int64_t durationMs(Duration d)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

inline Duration msDuration(std::int64_t ms)
{
    return std::chrono::duration_cast<Duration>(std::chrono::milliseconds(ms));
}

inline json optionalWall(const std::optional<WallTime>& t)
{
    return t ? json(wallMs(*t)) : json(nullptr);
}

inline std::optional<WallTime> optionalWallFrom(const json& j, const char* field)
{
    if (const auto ms = optionalField<std::int64_t>(j, field)) {
        return wallFromMs(*ms);
    }
    return std::nullopt;
}

// An enum written as its number, checked to be one of its count values.
template <typename E>
E enumFrom(const json& j, const char* field, int count)
{
    const int v = get<int>(j, field);
    if (v < 0 || v >= count) {
        throw ProtocolError(std::string("\"") + field + "\" is out of range");
    }
    return static_cast<E>(v);
}

}  // namespace sluice::control::fields
