// FileLock, the lock beside a state file that keeps two runs off one queue:
// a second locker is refused while the first holds it, with a message that
// names the file; the lock is free again once its holder is destroyed, and
// once a holding process dies without cleaning up (killed, not exited).
#include "queue/file_lock.h"

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace sluice;

class TestFileLock : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void secondLockerIsRefused();
    void destructionReleases();
    void deathOfTheHolderReleases();
    void unopenableFileSaysWhy();

private:
    QTemporaryDir m_dir;
    std::string lockPath(const char* name) const { return m_dir.filePath(QString::fromUtf8(name)).toStdString(); }
};

void TestFileLock::secondLockerIsRefused()
{
    QVERIFY(m_dir.isValid());
    const std::string path = lockPath("state.lock");
    FileLock first(path);
    QVERIFY2(first.locked(), first.error().c_str());
    QVERIFY(first.error().empty());
    // A separate open of the same file, as a second run would make.
    FileLock second(path);
    QVERIFY(!second.locked());
    QCOMPARE(QString::fromStdString(second.error()), QString::fromStdString(path + ": another run holds this state file"));
    // Another file is another lock.
    FileLock other(lockPath("other.lock"));
    QVERIFY(other.locked());
}

void TestFileLock::destructionReleases()
{
    const std::string path = lockPath("scoped.lock");
    {
        FileLock held(path);
        QVERIFY(held.locked());
        QVERIFY(!FileLock(path).locked());
    }
    FileLock again(path);
    QVERIFY2(again.locked(), again.error().c_str());
}

void TestFileLock::deathOfTheHolderReleases()
{
    const std::string path = lockPath("child.lock");
    int ready[2];
    QCOMPARE(::pipe(ready), 0);
    const pid_t child = ::fork();
    QVERIFY(child >= 0);
    if (child == 0) {
        // The child takes the lock, says so, and waits to be killed: it
        // never runs a destructor.
        ::close(ready[0]);
        FileLock held(path);
        const char c = held.locked() ? 'y' : 'n';
        if (::write(ready[1], &c, 1) != 1) {
            ::_exit(2);
        }
        for (;;) {
            ::pause();
        }
    }
    ::close(ready[1]);
    char c = 0;
    QCOMPARE(::read(ready[0], &c, 1), ssize_t{1});
    ::close(ready[0]);
    QCOMPARE(c, 'y');
    {
        FileLock whileAlive(path);
        QVERIFY(!whileAlive.locked());
    }
    QCOMPARE(::kill(child, SIGKILL), 0);
    int status = 0;
    QCOMPARE(::waitpid(child, &status, 0), child);
    QVERIFY(WIFSIGNALED(status));
    FileLock afterDeath(path);
    QVERIFY2(afterDeath.locked(), afterDeath.error().c_str());
}

void TestFileLock::unopenableFileSaysWhy()
{
    const std::string path = lockPath("no-such-dir/state.lock");
    FileLock lock(path);
    QVERIFY(!lock.locked());
    QVERIFY2(lock.error().rfind(path + ": cannot open lock file (", 0) == 0, lock.error().c_str());
}

QTEST_APPLESS_MAIN(TestFileLock)
#include "tst_file_lock.moc"
