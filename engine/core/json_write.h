// Compact JSON text written straight into a string, byte for byte as
// nlohmann::json::dump() writes the same document: no spaces, strings
// escaped as it escapes them (the quote, the backslash, \b \f \n \r \t and
// the other control characters as \u00xx), UTF-8 kept as it is. For bodies
// made on every request (the mock's answers), where building a document
// and then dumping it cost more than everything else the request did.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

// `text` as a quoted JSON string. `text` must be valid UTF-8 (nlohmann's
// dump() throws on anything else; this copies it as it is).
void appendJsonString(std::string& out, std::string_view text);

}  // namespace sluice
