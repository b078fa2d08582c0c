// A validating JSON scanner that allocates nothing: it checks that a text is
// exactly one well-formed JSON value and hands back the raw text of the
// top-level object's members. The dispatcher uses it on every response body,
// where building a full document (to read one "usage" member) costs more
// than everything else it does per request.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string_view>

namespace sluice {

// True when `text` is one well-formed JSON value (surrounding whitespace
// allowed). When it is an object, onMember is called for each top-level
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

}  // namespace sluice
