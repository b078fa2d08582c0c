// JSON read from a file, with the line and column of every value, so a
// configuration error can name "file:line: /providers/0/keys/1/env: …".
//
// Thread-safety: immutable after construction; const members are safe from
// any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice {

struct SourcePosition {
    int line = 0;    // 1-based; 0 when unknown
    int column = 0;  // 1-based
};

// A problem in an input, already formatted as "where: what".
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class JsonSource {
public:
    // Parses text; throws InputError "name:line:column: …" on a syntax error.
    JsonSource(std::string name, std::string text);
    // Reads and parses a file; throws InputError naming the file.
    static JsonSource fromFile(const std::string& path);

    const nlohmann::json& root() const noexcept { return m_root; }
    const std::string& name() const noexcept { return m_name; }

    // Position of the value at a JSON pointer ("/a/0/b"); for a missing
    // member, the position of the nearest enclosing value that exists.
    SourcePosition positionOf(std::string_view pointer) const;
    // "name:line: pointer: message"
    std::string describe(std::string_view pointer, std::string_view message) const;

private:
    std::string m_name;
    nlohmann::json m_root;
    std::map<std::string, SourcePosition, std::less<>> m_positions;
};

// Appends a reference token to a JSON pointer, escaping '~' and '/'.
std::string jsonPointerAppend(std::string_view pointer, std::string_view token);
std::string jsonPointerAppend(std::string_view pointer, std::size_t index);

// Line and column of a byte offset in text.
SourcePosition positionOfOffset(std::string_view text, std::size_t offset);

}  // namespace sluice
