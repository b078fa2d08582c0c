// JsonReader: reads typed fields out of a JsonSource while collecting every
// problem (file, line, JSON pointer, what is wrong) instead of stopping at
// the first, so one run of a validator shows the user everything to fix.
// The configuration and workload loaders share it.
//
// Thread-safety: none; one reader per document being read.
#pragma once

#include "core/clock.h"
#include "core/json_source.h"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class JsonReader {
public:
    JsonReader(const JsonSource& src, std::vector<std::string>& problems) : m_src(src), m_problems(problems) {}

    void problem(std::string_view pointer, std::string_view message);

    // Each returns nullptr/nullopt when the field is absent (a problem only
    // when required) or malformed (always a problem).
    const nlohmann::json* object(const nlohmann::json& parent, std::string_view pointer, const char* field,
                                 bool required);
    std::optional<std::string> string(const nlohmann::json& parent, std::string_view pointer, const char* field,
                                      bool required);
    std::optional<double> number(const nlohmann::json& parent, std::string_view pointer, const char* field, double min,
                                 double max);
    std::optional<std::int64_t> integer(const nlohmann::json& parent, std::string_view pointer, const char* field,
                                        std::int64_t min, std::int64_t max);
    std::optional<bool> boolean(const nlohmann::json& parent, std::string_view pointer, const char* field);

    // Every member of `obj` not in `known` is a problem naming the ones that are.
    void onlyKnown(const nlohmann::json& obj, std::string_view pointer, std::initializer_list<std::string_view> known);

    // 2.500000 → "2.5"
    static std::string trimmed(double v);

    const JsonSource& src() const { return m_src; }

private:
    const JsonSource& m_src;
    std::vector<std::string>& m_problems;
};

// What throwIfProblems throws: the whole message, and the problems one by
// one, so a caller that reads one file in parts (serve: the engine's
// configuration, then the gateway's) reports every part's at once.
class ProblemsError : public InputError {
public:
    ProblemsError(const std::string& message, std::vector<std::string> problems)
        : InputError(message), m_problems(std::move(problems))
    {
    }
    const std::vector<std::string>& problems() const noexcept { return m_problems; }

private:
    std::vector<std::string> m_problems;
};

// Throws ProblemsError "N problems in NAME:\n  problem\n  …" when there are any.
void throwIfProblems(const std::string& sourceName, const std::vector<std::string>& problems);

// Seconds as a Duration, rounded to the nanosecond.
Duration secondsToDuration(double s);

}  // namespace sluice
