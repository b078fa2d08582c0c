// Internal to sluice_store: the row helpers job_store.cpp (writes) and
// job_store_reads.cpp (reads, dead letters) share. Not part of the module's
// interface; stateless, so safe from any thread.
#pragma once

#include "store/job_store.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::store::rows {

std::int64_t toMs(WallTime t);
WallTime fromMs(std::int64_t ms);
std::optional<WallTime> optionalFromMs(const std::optional<std::int64_t>& ms);
std::optional<std::int64_t> optionalToMs(const std::optional<WallTime>& t);

// Every public call holds the mutex for its whole transaction and names the
// operation in any StoreError it lets through.
template <typename F>
auto guarded(std::mutex& mutex, std::string_view operation, F&& body) -> decltype(body())
{
    std::lock_guard guard(mutex);
    try {
        return body();
    } catch (const StoreError& e) {
        throw e.withContext(operation);
    }
}

// The jobs table's columns in the order readJob reads them.
extern const std::string kJobColumns;
extern const std::string kSelectJobById;
Job readJob(const Statement& s);

// Dead-letter selection; parameters ?2..?7 come from bindFilter. A NULL
// parameter matches everything.
inline constexpr std::string_view kDeadFilter =
    "state = 3 AND (?2 IS NULL OR last_error_class = ?2) AND (?3 IS NULL OR last_key_label = ?3) "
    "AND (?4 IS NULL OR model = ?4) AND (?5 IS NULL OR finished_ms >= ?5) AND (?6 IS NULL OR finished_ms < ?6) "
    "AND (?7 IS NULL OR id = ?7)";
void bindFilter(Statement& s, const DeadLetterFilter& f, std::optional<JobId> only);

// One attempt as a line of the job's timeline.
std::string attemptText(const Attempt& a);

}  // namespace sluice::store::rows
