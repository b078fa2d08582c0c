// Internal to sluice_loadtest: reading the file a workload's "replay" names
// (batch JSONL lines or usage records) into its entries. Stateless; safe from
// any thread.
#pragma once

#include "loadtest/workload.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::loadtest {

// The most tokens a workload or a replayed line may name.
inline constexpr std::int64_t kMaxReplayTokens = 10'000'000;

// Parses text (the file rp.file, in rp.format) into rp.entries, in order of
// their recorded times, rebased to start at zero when rp.timing is
// Recorded. Problems go to problems as "file:line: what" (at most 50), and
// "file: no requests to replay" when nothing could be read.
void readReplayEntries(const std::string& text, Replay& rp, std::vector<std::string>& problems);

}  // namespace sluice::loadtest
