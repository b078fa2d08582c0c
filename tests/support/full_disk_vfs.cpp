#include "support/full_disk_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <stdexcept>

namespace sluice::test {

namespace {

// A file opened through the shim: the wrapped file lives right after it, in
// the space szOsFile asks SQLite to allocate.
struct ShimFile {
    sqlite3_file base;
    FullDiskVfs* owner;
    sqlite3_file* real;
};

FullDiskVfs* ownerOf(sqlite3_vfs* vfs)
{
    return static_cast<FullDiskVfs*>(vfs->pAppData);
}

sqlite3_file* real(sqlite3_file* f)
{
    return reinterpret_cast<ShimFile*>(f)->real;
}

const sqlite3_io_methods& realMethods(sqlite3_file* f)
{
    return *real(f)->pMethods;
}

int shimClose(sqlite3_file* f)
{
    return realMethods(f).xClose(real(f));
}

int shimRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset)
{
    return realMethods(f).xRead(real(f), buf, amount, offset);
}

int shimWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset)
{
    FullDiskVfs* owner = reinterpret_cast<ShimFile*>(f)->owner;
    if (!owner->admit(amount)) {
        owner->noteRefused();
        return SQLITE_FULL;
    }
    return realMethods(f).xWrite(real(f), buf, amount, offset);
}

int shimTruncate(sqlite3_file* f, sqlite3_int64 size)
{
    // A full file system may refuse even to shrink a file (copy-on-write
    // file systems need space for the new metadata).
    FullDiskVfs* owner = reinterpret_cast<ShimFile*>(f)->owner;
    if (owner->full()) {
        owner->noteRefused();
        return SQLITE_FULL;
    }
    return realMethods(f).xTruncate(real(f), size);
}

int shimSync(sqlite3_file* f, int flags)
{
    return realMethods(f).xSync(real(f), flags);
}

int shimFileSize(sqlite3_file* f, sqlite3_int64* size)
{
    return realMethods(f).xFileSize(real(f), size);
}

int shimLock(sqlite3_file* f, int level)
{
    return realMethods(f).xLock(real(f), level);
}

int shimUnlock(sqlite3_file* f, int level)
{
    return realMethods(f).xUnlock(real(f), level);
}

int shimCheckReservedLock(sqlite3_file* f, int* out)
{
    return realMethods(f).xCheckReservedLock(real(f), out);
}

int shimFileControl(sqlite3_file* f, int op, void* arg)
{
    return realMethods(f).xFileControl(real(f), op, arg);
}

int shimSectorSize(sqlite3_file* f)
{
    return realMethods(f).xSectorSize(real(f));
}

int shimDeviceCharacteristics(sqlite3_file* f)
{
    return realMethods(f).xDeviceCharacteristics(real(f));
}

// The WAL index lives in shared memory, not on the disk that fills up.
int shimShmMap(sqlite3_file* f, int page, int pageSize, int extend, void volatile** out)
{
    return realMethods(f).xShmMap(real(f), page, pageSize, extend, out);
}

int shimShmLock(sqlite3_file* f, int offset, int n, int flags)
{
    return realMethods(f).xShmLock(real(f), offset, n, flags);
}

void shimShmBarrier(sqlite3_file* f)
{
    realMethods(f).xShmBarrier(real(f));
}

int shimShmUnmap(sqlite3_file* f, int deleteFlag)
{
    return realMethods(f).xShmUnmap(real(f), deleteFlag);
}

int shimFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out)
{
    return realMethods(f).xFetch(real(f), offset, amount, out);
}

int shimUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* p)
{
    return realMethods(f).xUnfetch(real(f), offset, p);
}

const sqlite3_io_methods kShimMethods = {
    3,
    shimClose,
    shimRead,
    shimWrite,
    shimTruncate,
    shimSync,
    shimFileSize,
    shimLock,
    shimUnlock,
    shimCheckReservedLock,
    shimFileControl,
    shimSectorSize,
    shimDeviceCharacteristics,
    shimShmMap,
    shimShmLock,
    shimShmBarrier,
    shimShmUnmap,
    shimFetch,
    shimUnfetch,
};

// The VFS the shim wraps: the default when it was registered (one shim at
// a time, so one pointer).
sqlite3_vfs* g_base = nullptr;

sqlite3_vfs* baseOf(sqlite3_vfs*)
{
    return g_base;
}

int vfsOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* outFlags)
{
    auto* shim = reinterpret_cast<ShimFile*>(file);
    shim->base.pMethods = nullptr;
    shim->owner = ownerOf(vfs);
    shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
    std::memset(shim->real, 0, static_cast<std::size_t>(baseOf(vfs)->szOsFile));
    const int rc = baseOf(vfs)->xOpen(baseOf(vfs), name, shim->real, flags, outFlags);
    if (rc == SQLITE_OK) {
        // The shim forwards version 3 methods (WAL, memory maps); every
        // file of the default unix VFS has them.
        if (shim->real->pMethods == nullptr || shim->real->pMethods->iVersion < 3) {
            if (shim->real->pMethods != nullptr) {
                shim->real->pMethods->xClose(shim->real);
            }
            return SQLITE_CANTOPEN;
        }
        shim->base.pMethods = &kShimMethods;
    }
    return rc;
}

int vfsDelete(sqlite3_vfs* vfs, const char* name, int syncDir)
{
    return baseOf(vfs)->xDelete(baseOf(vfs), name, syncDir);
}

int vfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out)
{
    return baseOf(vfs)->xAccess(baseOf(vfs), name, flags, out);
}

int vfsFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out)
{
    return baseOf(vfs)->xFullPathname(baseOf(vfs), name, n, out);
}

void* vfsDlOpen(sqlite3_vfs* vfs, const char* name)
{
    return baseOf(vfs)->xDlOpen(baseOf(vfs), name);
}

void vfsDlError(sqlite3_vfs* vfs, int n, char* out)
{
    baseOf(vfs)->xDlError(baseOf(vfs), n, out);
}

void (*vfsDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))()
{
    return baseOf(vfs)->xDlSym(baseOf(vfs), handle, symbol);
}

void vfsDlClose(sqlite3_vfs* vfs, void* handle)
{
    baseOf(vfs)->xDlClose(baseOf(vfs), handle);
}

int vfsRandomness(sqlite3_vfs* vfs, int n, char* out)
{
    return baseOf(vfs)->xRandomness(baseOf(vfs), n, out);
}

int vfsSleep(sqlite3_vfs* vfs, int micros)
{
    return baseOf(vfs)->xSleep(baseOf(vfs), micros);
}

int vfsCurrentTime(sqlite3_vfs* vfs, double* out)
{
    return baseOf(vfs)->xCurrentTime(baseOf(vfs), out);
}

int vfsGetLastError(sqlite3_vfs* vfs, int n, char* out)
{
    return baseOf(vfs)->xGetLastError(baseOf(vfs), n, out);
}

int vfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out)
{
    return baseOf(vfs)->xCurrentTimeInt64(baseOf(vfs), out);
}

}  // namespace

FullDiskVfs::FullDiskVfs(std::int64_t limit) : m_limit(limit)
{
    if (g_base != nullptr) {
        throw std::logic_error("FullDiskVfs: only one at a time");
    }
    sqlite3_initialize();
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (base == nullptr || base->iVersion < 2) {
        throw std::logic_error("FullDiskVfs: no usable default VFS");
    }
    m_previousDefault = base;
    m_vfs = std::make_unique<sqlite3_vfs>();
    sqlite3_vfs& v = *m_vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(sizeof(ShimFile)) + base->szOsFile;
    v.mxPathname = base->mxPathname;
    v.zName = "sluice-full-disk";
    v.pAppData = this;
    v.xOpen = vfsOpen;
    v.xDelete = vfsDelete;
    v.xAccess = vfsAccess;
    v.xFullPathname = vfsFullPathname;
    v.xDlOpen = vfsDlOpen;
    v.xDlError = vfsDlError;
    v.xDlSym = vfsDlSym;
    v.xDlClose = vfsDlClose;
    v.xRandomness = vfsRandomness;
    v.xSleep = vfsSleep;
    v.xCurrentTime = vfsCurrentTime;
    v.xGetLastError = vfsGetLastError;
    v.xCurrentTimeInt64 = vfsCurrentTimeInt64;
    g_base = base;
    if (sqlite3_vfs_register(m_vfs.get(), 1) != SQLITE_OK) {
        g_base = nullptr;
        throw std::runtime_error("FullDiskVfs: sqlite3_vfs_register failed");
    }
}

FullDiskVfs::~FullDiskVfs()
{
    sqlite3_vfs_unregister(m_vfs.get());
    sqlite3_vfs_register(m_previousDefault, 1);
    g_base = nullptr;
}

void FullDiskVfs::setRemaining(std::int64_t bytes)
{
    const std::int64_t w = m_written.load();
    m_limit.store(bytes >= kUnlimited - w ? kUnlimited : w + bytes);
}

bool FullDiskVfs::admit(std::int64_t bytes) noexcept
{
    std::int64_t w = m_written.load();
    do {
        if (w + bytes > m_limit.load()) {
            return false;
        }
    } while (!m_written.compare_exchange_weak(w, w + bytes));
    return true;
}

}  // namespace sluice::test
