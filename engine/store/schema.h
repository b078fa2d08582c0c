// The job store's schema, kept in PRAGMA user_version, and its migrations:
// one step per version, each run once, in order, inside the caller's write
// transaction. A new database is built by running every step from 0, so the
// path an old file takes is the path every file takes.
//
// Thread-safety: none; runs on the caller's connection.
#pragma once

#include "store/sqlite.h"

#include <cstdint>

namespace sluice::store::schema {

inline constexpr int kCurrentVersion = 4;
// PRAGMA application_id: marks the file as a Sluice job store ("SLCE").
inline constexpr std::int64_t kApplicationId = 0x534C4345;

// Brings a database from schema version `from` to `to` (0 ≤ from ≤ to ≤
// kCurrentVersion) and records `to` in user_version. Call it inside a write
// transaction: a failed step leaves the file at `from`.
void migrate(Database& db, int from, int to);

}  // namespace sluice::store::schema
