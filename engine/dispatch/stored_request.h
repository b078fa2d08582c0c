// A queued job's request, as the job stores hold it (a request path and the
// body's JSON text), made into a JobSpec's: the route by path, the body
// parsed once and its text kept, so it is sent as stored and not
// serialised again. The SQLite queue's runner and the Redis queue's both use
// it, so a job runs the same from either.
//
// Thread-safety: a pure function.
#pragma once

#include "dispatch/job.h"

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// Sets spec's flavor, endpoint, body and bodyText. Returns what makes the job
// unrunnable ("url: unknown endpoint ...", "body: not valid JSON"), or
// nothing.
std::optional<std::string> setStoredRequest(JobSpec& spec, std::string_view url, std::string bodyText);

}  // namespace sluice
