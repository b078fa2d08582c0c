// FullDiskVfs: an SQLite VFS for tests that behaves like a file system
// filling up. It wraps the default VFS and, once `limit` bytes have been
// written through it (database, WAL, journal: every file), fails every
// further write and truncation with SQLITE_FULL, as a full disk does. Raising
// the limit is freeing space. Registered as the default VFS while it lives,
// so code under test opens its files through it unchanged; nothing outside
// tests links it.
//
// Thread-safety: the byte count is atomic, so connections on other threads
// may write through it; construct and destroy it on one thread while no
// database is open.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

struct sqlite3_vfs;

namespace sluice::test {

class FullDiskVfs {
public:
    static constexpr std::int64_t kUnlimited = INT64_MAX;

    explicit FullDiskVfs(std::int64_t limit = kUnlimited);
    ~FullDiskVfs();
    FullDiskVfs(const FullDiskVfs&) = delete;
    FullDiskVfs& operator=(const FullDiskVfs&) = delete;

    // Bytes written from now on before the disk is full.
    void setRemaining(std::int64_t bytes);
    // Bytes written through this VFS so far.
    std::int64_t written() const noexcept { return m_written.load(); }
    // Writes and truncations refused since construction.
    std::int64_t refused() const noexcept { return m_refused.load(); }

    // Called by the shim: may `bytes` more be written?
    bool admit(std::int64_t bytes) noexcept;
    void noteRefused() noexcept { m_refused.fetch_add(1); }
    bool full() const noexcept { return m_written.load() >= m_limit.load(); }

private:
    std::unique_ptr<sqlite3_vfs> m_vfs;
    sqlite3_vfs* m_previousDefault = nullptr;
    std::atomic<std::int64_t> m_limit;
    std::atomic<std::int64_t> m_written{0};
    std::atomic<std::int64_t> m_refused{0};
};

}  // namespace sluice::test
