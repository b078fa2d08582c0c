// A validating JSON scanner that allocates nothing (and, built on it, a
// reader of whole documents): it checks that a text is
// exactly one well-formed JSON value and hands back the raw text of the
// top-level object's members (or array's elements). The dispatcher uses it
// on every response body and streamed event, where building a full document
// (to read one "usage" member, or one token's text) costs more than
// everything else it does per request; jsonStringValue decodes the few
// strings a caller keeps.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// True when `text` is one well-formed JSON value (surrounding whitespace,
// and a UTF-8 byte order mark before it, allowed, as nlohmann allows them). When it is an object, onMember is called for each top-level
// member with its key (as written, escapes not decoded) and the raw text of
// its value.
bool scanJson(std::string_view text,
              const std::function<void(std::string_view key, std::string_view value)>& onMember = {});
// The same, and when the top-level member named nestedKey holds an object,
// its members go to onNestedMember as they are read (before onMember sees
// nestedKey), so a caller that wants them need not scan that text again.
bool scanJson(std::string_view text,
              const std::function<void(std::string_view key, std::string_view value)>& onMember,
              std::string_view nestedKey,
              const std::function<void(std::string_view key, std::string_view value)>& onNestedMember);

// The same for a text that must be one array: onElement gets the raw text
// of each of its elements, in order. False for anything else.
bool scanJsonArray(std::string_view text, const std::function<void(std::string_view element)>& onElement);

// The value of a JSON string literal as scanJson hands it out (quotes
// included), its escapes decoded to UTF-8. nullopt when `raw` is not a
// string literal, or holds what nlohmann's parser refuses: a raw control
// character, a bad escape, a lone surrogate, or bytes that are not
// well-formed UTF-8.
std::optional<std::string> jsonStringValue(std::string_view raw);

// The document nlohmann::json::parse(text) builds, into `out`; false (out
// unchanged) where that parser refuses the text. Read with the scanner's
// lexing and decoded with jsonStringValue: the gateway reads every request
// body into a document, and nlohmann's lexer (which keeps each character
// twice as it goes) cost more than the rest of reading and pricing the
// request. Same values and number kinds (integer, unsigned, float) as
// nlohmann, duplicate keys last-wins as there; a UTF-8 byte order mark
// is skipped as there. Unlike it, a NUL byte after the value is refused.
// Texts nested deeper than the scanner reads, and numbers beyond 64 bits,
// are handed to nlohmann.
bool readJsonDocument(std::string_view text, nlohmann::json& out);

}  // namespace sluice
