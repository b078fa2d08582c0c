#include "store/sqlite.h"

#include <sqlite3.h>

#include <map>
#include <system_error>
#include <utility>

namespace sluice::store {

namespace detail {

struct Connection {
    struct Closer {
        void operator()(sqlite3* handle) const noexcept { sqlite3_close_v2(handle); }
    };
    struct Cached {
        std::unique_ptr<Statement> statement;
        bool inUse = false;
    };

    std::filesystem::path file;
    std::chrono::milliseconds busyTimeout{};
    bool readOnly = false;
    std::unique_ptr<sqlite3, Closer> db;
    // Declared after db: members are destroyed in reverse order, so every
    // cached statement is finalised before the connection closes.
    std::map<std::string, Cached, std::less<>> cache;
};

}  // namespace detail

namespace {

std::string shortSql(std::string_view sql)
{
    constexpr std::size_t kMax = 60;
    std::string s(sql.substr(0, kMax));
    for (char& c : s) {
        if (c == '\n') {
            c = ' ';
        }
    }
    return sql.size() > kMax ? s + "..." : s;
}

// What a user can do about the common failures; the bare SQLite message
// ("database is locked") does not say.
std::string hintFor(StoreErrorKind kind, std::chrono::milliseconds busyTimeout)
{
    switch (kind) {
    case StoreErrorKind::Busy:
        return "another process or connection holds the database lock; gave up after " +
               std::to_string(busyTimeout.count()) + " ms";
    case StoreErrorKind::ReadOnly:
        return "the file or its directory is not writable";
    case StoreErrorKind::Full:
        return "the disk is full or the database reached its size limit; nothing of this operation "
               "was committed";
    case StoreErrorKind::Corrupt:
        return "the database file is corrupted; move it aside or restore a backup";
    case StoreErrorKind::NotADatabase:
        return "the file is not an SQLite database (corrupted, or some other file)";
    case StoreErrorKind::CannotOpen:
        return "check that the file's directory exists and is accessible";
    case StoreErrorKind::TooNew:
    case StoreErrorKind::Other:
        break;
    }
    return {};
}

StoreError makeError(const detail::Connection& conn, int rc, std::string_view what)
{
    const StoreErrorKind kind = kindOfSqliteCode(rc);
    std::string detail(what);
    detail += ": ";
    // The connection's message is more specific than the code's text, but
    // only if it belongs to this failure (it is the last call's message).
    if (conn.db != nullptr && sqlite3_extended_errcode(conn.db.get()) == rc) {
        detail += sqlite3_errmsg(conn.db.get());
    } else {
        detail += sqlite3_errstr(rc);
    }
    detail += " (SQLite code " + std::to_string(rc) + ")";
    const std::string hint = hintFor(kind, conn.busyTimeout);
    if (!hint.empty()) {
        detail += "; " + hint;
    }
    return StoreError(rc, kind, conn.file, std::move(detail));
}

}  // namespace

StoreError::StoreError(int sqliteCode, StoreErrorKind kind, std::filesystem::path file, std::string detail)
    : std::runtime_error(file.string() + ": " + detail),
      m_code(sqliteCode),
      m_kind(kind),
      m_file(std::move(file)),
      m_detail(std::move(detail))
{
}

StoreError StoreError::withContext(std::string_view operation) const
{
    return StoreError(m_code, m_kind, m_file, std::string(operation) + ": " + m_detail);
}

StoreErrorKind kindOfSqliteCode(int sqliteCode) noexcept
{
    switch (sqliteCode & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return StoreErrorKind::Busy;
    case SQLITE_READONLY:
        return StoreErrorKind::ReadOnly;
    case SQLITE_FULL:
        return StoreErrorKind::Full;
    case SQLITE_CORRUPT:
        return StoreErrorKind::Corrupt;
    case SQLITE_NOTADB:
        return StoreErrorKind::NotADatabase;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return StoreErrorKind::CannotOpen;
    default:
        return StoreErrorKind::Other;
    }
}

// ---- Statement ----------------------------------------------------------

Statement::Statement(Database& db, std::string_view sql, bool persistent) : m_conn(db.m_conn.get())
{
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(m_conn->db.get(), sql.data(), static_cast<int>(sql.size()),
                                      persistent ? SQLITE_PREPARE_PERSISTENT : 0, &m_stmt, &tail);
    if (rc != SQLITE_OK) {
        throw makeError(*m_conn, rc, "preparing \"" + shortSql(sql) + "\"");
    }
    if (m_stmt == nullptr) {
        throw std::logic_error("Statement: no SQL in \"" + std::string(sql) + "\"");
    }
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        sqlite3_finalize(m_stmt);
        throw std::logic_error("Statement: more than one statement in \"" + std::string(sql) + "\"");
    }
}

Statement::Statement(Statement&& other) noexcept
    : m_conn(std::exchange(other.m_conn, nullptr)), m_stmt(std::exchange(other.m_stmt, nullptr))
{
}

Statement& Statement::operator=(Statement&& other) noexcept
{
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_conn = std::exchange(other.m_conn, nullptr);
        m_stmt = std::exchange(other.m_stmt, nullptr);
    }
    return *this;
}

Statement::~Statement()
{
    sqlite3_finalize(m_stmt);
}

void Statement::fail(int rc, std::string_view what) const
{
    throw makeError(*m_conn, rc, std::string(what) + " \"" + shortSql(sql()) + "\"");
}

Statement& Statement::bind(int index, std::int64_t value)
{
    if (const int rc = sqlite3_bind_int64(m_stmt, index, value); rc != SQLITE_OK) {
        fail(rc, "binding parameter " + std::to_string(index) + " of");
    }
    return *this;
}

Statement& Statement::bind(int index, double value)
{
    if (const int rc = sqlite3_bind_double(m_stmt, index, value); rc != SQLITE_OK) {
        fail(rc, "binding parameter " + std::to_string(index) + " of");
    }
    return *this;
}

Statement& Statement::bind(int index, std::string_view value)
{
    // SQLITE_TRANSIENT copies, so a temporary string bound here is safe.
    const int rc = sqlite3_bind_text64(m_stmt, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) {
        fail(rc, "binding parameter " + std::to_string(index) + " of");
    }
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t)
{
    if (const int rc = sqlite3_bind_null(m_stmt, index); rc != SQLITE_OK) {
        fail(rc, "binding parameter " + std::to_string(index) + " of");
    }
    return *this;
}

bool Statement::step()
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    fail(rc, "running");
}

void Statement::run()
{
    while (step()) {
    }
}

void Statement::reset() noexcept
{
    // reset() repeats the last step's error code; that error was already
    // thrown from step(), so it is not news here.
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

bool Statement::isNull(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

int Statement::int32(int column) const
{
    return sqlite3_column_int(m_stmt, column);
}

double Statement::real(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

std::string Statement::text(int column) const
{
    const auto* p = sqlite3_column_text(m_stmt, column);
    if (p == nullptr) {
        return {};
    }
    // column_bytes after column_text: the length of the UTF-8 form just made.
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column)));
}

std::optional<std::int64_t> Statement::optionalInt64(int column) const
{
    if (isNull(column)) {
        return std::nullopt;
    }
    return int64(column);
}

std::optional<std::string> Statement::optionalText(int column) const
{
    if (isNull(column)) {
        return std::nullopt;
    }
    return text(column);
}

const char* Statement::sql() const noexcept
{
    return sqlite3_sql(m_stmt);
}

// ---- CachedStatement ----------------------------------------------------

CachedStatement::CachedStatement(CachedStatement&& other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)), m_inUse(std::exchange(other.m_inUse, nullptr))
{
}

CachedStatement::~CachedStatement()
{
    if (m_stmt != nullptr) {
        m_stmt->reset();
        *m_inUse = false;
    }
}

// ---- Database -----------------------------------------------------------

Database::Database(std::filesystem::path file, OpenMode mode, std::chrono::milliseconds busyTimeout)
    : m_conn(std::make_unique<detail::Connection>())
{
    m_conn->file = std::move(file);
    m_conn->busyTimeout = busyTimeout;
    m_conn->readOnly = mode == OpenMode::ReadOnly;

    std::error_code ec;
    const auto st = std::filesystem::status(m_conn->file, ec);
    if (mode != OpenMode::ReadOnly && !ec && std::filesystem::exists(st) &&
        (st.permissions() & std::filesystem::perms::owner_write) == std::filesystem::perms::none) {
        throw StoreError(SQLITE_READONLY, StoreErrorKind::ReadOnly, m_conn->file,
                         "opening for writing: the file is read-only (its mode grants no write permission)");
    }

    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    switch (mode) {
    case OpenMode::ReadWriteCreate:
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        break;
    case OpenMode::ReadWrite:
        flags |= SQLITE_OPEN_READWRITE;
        break;
    case OpenMode::ReadOnly:
        flags |= SQLITE_OPEN_READONLY;
        break;
    }
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(m_conn->file.c_str(), &raw, flags, nullptr);
    m_conn->db.reset(raw);
    if (rc != SQLITE_OK) {
        throw makeError(*m_conn, rc, "opening");
    }
    sqlite3_busy_timeout(raw, static_cast<int>(busyTimeout.count()));
    if (mode != OpenMode::ReadOnly && sqlite3_db_readonly(raw, "main") == 1) {
        // SQLite falls back to read-only quietly when the OS refuses writes.
        throw StoreError(SQLITE_READONLY, StoreErrorKind::ReadOnly, m_conn->file,
                         "opening for writing: the file can only be opened read-only");
    }
}

Database::Database(Database&& other) noexcept = default;
Database& Database::operator=(Database&& other) noexcept = default;
Database::~Database() = default;

void Database::exec(std::string_view sql)
{
    // sqlite3_exec needs a terminated string; exec is for setup, not hot paths.
    const std::string text(sql);
    if (const int rc = sqlite3_exec(handle(), text.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        throw makeError(*m_conn, rc, "running \"" + shortSql(sql) + "\"");
    }
}

std::int64_t Database::queryInt64(std::string_view sql)
{
    Statement stmt(*this, sql);
    if (!stmt.step()) {
        throw makeError(*m_conn, SQLITE_MISMATCH, "reading \"" + shortSql(sql) + "\" (no row)");
    }
    return stmt.int64(0);
}

CachedStatement Database::cached(std::string_view sql)
{
    auto it = m_conn->cache.find(sql);
    if (it == m_conn->cache.end()) {
        auto stmt = std::make_unique<Statement>(*this, sql, true);
        it = m_conn->cache.emplace(std::string(sql), detail::Connection::Cached{std::move(stmt), false}).first;
    }
    if (it->second.inUse) {
        throw std::logic_error("Database::cached: statement already in use: " + shortSql(sql));
    }
    it->second.inUse = true;
    return CachedStatement(it->second.statement.get(), &it->second.inUse);
}

std::int64_t Database::changes() const noexcept
{
    return sqlite3_changes64(handle());
}

std::int64_t Database::lastInsertRowId() const noexcept
{
    return sqlite3_last_insert_rowid(handle());
}

bool Database::inTransaction() const noexcept
{
    return sqlite3_get_autocommit(handle()) == 0;
}

bool Database::readOnly() const noexcept
{
    return m_conn->readOnly;
}

std::chrono::milliseconds Database::busyTimeout() const noexcept
{
    return m_conn->busyTimeout;
}

const std::filesystem::path& Database::file() const noexcept
{
    return m_conn->file;
}

sqlite3* Database::handle() const noexcept
{
    return m_conn->db.get();
}

StoreError Database::error(int rc, std::string_view what) const
{
    return makeError(*m_conn, rc, what);
}

// ---- Transaction --------------------------------------------------------

Transaction::Transaction(Database& db, TransactionKind kind) : m_db(db)
{
    switch (kind) {
    case TransactionKind::Deferred:
        m_db.cached("BEGIN DEFERRED")->run();
        break;
    case TransactionKind::Immediate:
        m_db.cached("BEGIN IMMEDIATE")->run();
        break;
    case TransactionKind::Exclusive:
        m_db.cached("BEGIN EXCLUSIVE")->run();
        break;
    }
}

Transaction::~Transaction()
{
    // Some errors (a full disk, an I/O error) roll SQLite back by themselves;
    // roll back only what is still open.
    if (!m_done && m_db.inTransaction()) {
        sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

void Transaction::commit()
{
    m_db.cached("COMMIT")->run();
    m_done = true;
}

}  // namespace sluice::store
