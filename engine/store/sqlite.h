// Move-only RAII wrappers over SQLite's C API: Database (sqlite3*), Statement
// (sqlite3_stmt*), CachedStatement (a prepared statement reused, reset when
// released) and Transaction (rolls back unless committed). Every failure
// throws StoreError naming the file, what was being done, and SQLite's code.
//
// Thread-safety: none. A Database and its statements belong to one thread at
// a time (the owner serialises access, as JobStore does with its mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace sluice::store {

// Broad causes a caller may act on without knowing SQLite's codes.
enum class StoreErrorKind : std::uint8_t {
    Other,
    Busy,          // locked by another connection or process; the busy timeout ran out
    ReadOnly,      // the file (or its directory) cannot be written
    Full,          // disk full, or the database's size limit reached
    Corrupt,       // malformed database file
    NotADatabase,  // not an SQLite file, or not one of ours
    TooNew,        // written by a newer schema than this build reads
    CannotOpen,    // missing file, missing directory, permissions
};

class StoreError : public std::runtime_error {
public:
    // sqliteCode is SQLite's extended result code (0 when the failure is ours,
    // e.g. a schema that is too new). what() is "<file>: <detail>".
    StoreError(int sqliteCode, StoreErrorKind kind, std::filesystem::path file, std::string detail);

    int code() const noexcept { return m_code; }
    int primaryCode() const noexcept { return m_code & 0xff; }
    StoreErrorKind kind() const noexcept { return m_kind; }
    const std::filesystem::path& file() const noexcept { return m_file; }
    const std::string& detail() const noexcept { return m_detail; }

    // The same error with the operation that failed in front of the detail:
    // "<file>: enqueueing 500 jobs: <detail>".
    StoreError withContext(std::string_view operation) const;

private:
    int m_code;
    StoreErrorKind m_kind;
    std::filesystem::path m_file;
    std::string m_detail;
};

StoreErrorKind kindOfSqliteCode(int sqliteCode) noexcept;

class Database;
namespace detail {
struct Connection;
}

class Statement {
public:
    Statement(Database& db, std::string_view sql, bool persistent = false);
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Parameters count from 1, as in SQLite. Text and blobs are copied.
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, int value) { return bind(index, std::int64_t{value}); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, std::nullptr_t);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value)
    {
        return value ? bind(index, *value) : bind(index, nullptr);
    }

    // true: a row is available; false: the statement is done.
    bool step();
    // Runs a statement that returns no rows (or whose rows do not matter).
    void run();
    // Clears the bindings and makes the statement ready to run again. A
    // statement left mid-result holds its read transaction open, so every
    // use ends with a reset (CachedStatement does it on release).
    void reset() noexcept;

    // Columns count from 0.
    bool isNull(int column) const;
    std::int64_t int64(int column) const;
    int int32(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    std::optional<std::int64_t> optionalInt64(int column) const;
    std::optional<std::string> optionalText(int column) const;

    const char* sql() const noexcept;

private:
    [[noreturn]] void fail(int rc, std::string_view what) const;

    const detail::Connection* m_conn = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
};

// A cached statement lent out by Database::cached(); resets it on release.
class CachedStatement {
public:
    CachedStatement(CachedStatement&& other) noexcept;
    CachedStatement& operator=(CachedStatement&&) = delete;
    CachedStatement(const CachedStatement&) = delete;
    CachedStatement& operator=(const CachedStatement&) = delete;
    ~CachedStatement();

    Statement* operator->() const noexcept { return m_stmt; }
    Statement& operator*() const noexcept { return *m_stmt; }

private:
    friend class Database;
    CachedStatement(Statement* stmt, bool* inUse) : m_stmt(stmt), m_inUse(inUse) {}

    Statement* m_stmt;
    bool* m_inUse;
};

enum class OpenMode : std::uint8_t { ReadWriteCreate, ReadWrite, ReadOnly };

class Database {
public:
    // Opens (or, with ReadWriteCreate, creates) the file. A file whose mode
    // grants no write permission is refused for writing even to root, so what
    // happens does not depend on who runs Sluice.
    Database(std::filesystem::path file, OpenMode mode,
             std::chrono::milliseconds busyTimeout = std::chrono::seconds(5));
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    // Runs one or more statements that return nothing of interest.
    void exec(std::string_view sql);
    // The single value of a one-row query such as "PRAGMA user_version".
    std::int64_t queryInt64(std::string_view sql);

    // A prepared statement kept for the life of the connection. The same SQL
    // may be lent out once at a time (a nested use is a logic error).
    CachedStatement cached(std::string_view sql);

    std::int64_t changes() const noexcept;
    std::int64_t lastInsertRowId() const noexcept;
    bool inTransaction() const noexcept;
    bool readOnly() const noexcept;
    std::chrono::milliseconds busyTimeout() const noexcept;
    const std::filesystem::path& file() const noexcept;
    sqlite3* handle() const noexcept;

    // Builds the error for a failed call: the file, what was being done,
    // SQLite's message and code, and a hint for the common causes.
    StoreError error(int rc, std::string_view what) const;

private:
    friend class Statement;
    // Heap-allocated so statements keep a stable pointer to it when the
    // Database object moves.
    std::unique_ptr<detail::Connection> m_conn;
};

enum class TransactionKind : std::uint8_t {
    Deferred,   // readers: takes a read snapshot at the first read
    Immediate,  // writers: takes the write lock at once, so a busy database fails early
    Exclusive,
};

class Transaction {
public:
    explicit Transaction(Database& db, TransactionKind kind = TransactionKind::Immediate);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    // Rolls back unless commit() succeeded: an exception thrown half way
    // through a batch leaves nothing of it behind.
    ~Transaction();

    void commit();

private:
    Database& m_db;
    bool m_done = false;
};

}  // namespace sluice::store
