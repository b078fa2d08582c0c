// writeFileAtomically on real files: the whole content arrives; a write that
// fails half-way (a file size limit, as a full disk would) or a writer that
// throws leaves the previous file byte for byte, with no temporary beside it;
// a missing directory is named; and the directory flush after the rename
// runs on a real directory and names one it cannot open.
#include "core/atomic_file.h"

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/resource.h>

using namespace sluice;

namespace {

std::string readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Files in `dir` other than `keep`.
QStringList othersIn(const QString& dir, const QString& keep)
{
    QStringList names = QDir(dir).entryList(QDir::Files | QDir::Hidden | QDir::System);
    names.removeAll(keep);
    return names;
}

// Lowers this process's file size limit for its lifetime: a write past it
// fails with EFBIG (SIGXFSZ ignored), as a disk that fills up fails with ENOSPC.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes)
    {
        ::getrlimit(RLIMIT_FSIZE, &m_old);
        m_oldHandler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lower = m_old;
        lower.rlim_cur = bytes;
        m_ok = ::setrlimit(RLIMIT_FSIZE, &lower) == 0;
    }
    ~FileSizeLimit()
    {
        ::setrlimit(RLIMIT_FSIZE, &m_old);
        std::signal(SIGXFSZ, m_oldHandler);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    bool ok() const { return m_ok; }

private:
    rlimit m_old{};
    void (*m_oldHandler)(int) = nullptr;
    bool m_ok = false;
};

}  // namespace

class TestAtomicFile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void writesWholeContentStreamed();
    void failedWriteKeepsOldFile();
    void throwingWriterKeepsOldFile();
    void missingDirectoryIsNamed();
    void directoryFlush();
};

void TestAtomicFile::writesWholeContentStreamed()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("out.jsonl")).toStdString();
    std::ofstream(path) << "old\n";
    // Far more than the stream's buffer, in pieces small and large.
    const std::string big(200 * 1024, 'x');
    std::string expected;
    writeFileAtomically(path, [&](std::ostream& out) {
        for (int i = 0; i < 5000; ++i) {
            out << "line " << i << '\n';
            expected += "line " + std::to_string(i) + "\n";
        }
        out << big;
        expected += big;
        out.put('!');
        expected += '!';
    });
    QCOMPARE(readAll(path), expected);
    QCOMPARE(othersIn(dir.path(), QStringLiteral("out.jsonl")), QStringList());
}

void TestAtomicFile::failedWriteKeepsOldFile()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("out.jsonl")).toStdString();
    const std::string old = "the previous output\n";
    std::ofstream(path) << old;
    std::size_t written = 0;
    bool threw = false;
    std::string message;
    {
        FileSizeLimit limit(256 * 1024);
        QVERIFY(limit.ok());
        try {
            writeFileAtomically(path, [&](std::ostream& out) {
                const std::string row(1000, 'r');
                for (int i = 0; i < 10000; ++i) {  // 10 MB: well past the limit
                    out << row << '\n';
                    written += row.size() + 1;
                }
            });
        } catch (const FileError& e) {
            threw = true;
            message = e.what();
        }
    }
    QVERIFY(threw);
    QVERIFY2(message.find(path) != std::string::npos, message.c_str());
    QVERIFY2(message.find("write failed") != std::string::npos, message.c_str());
    // The stream stopped at the first failed write, not after formatting all.
    QVERIFY(written < 1024 * 1024);
    QCOMPARE(readAll(path), old);
    QCOMPARE(othersIn(dir.path(), QStringLiteral("out.jsonl")), QStringList());
}

void TestAtomicFile::throwingWriterKeepsOldFile()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("out.jsonl")).toStdString();
    const std::string old = "kept\n";
    std::ofstream(path) << old;
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, writeFileAtomically(path, [](std::ostream& out) {
                                 out << std::string(300 * 1024, 'y');  // some of it already on disk
                                 throw std::runtime_error("the store went away");
                             }));
    QCOMPARE(readAll(path), old);
    QCOMPARE(othersIn(dir.path(), QStringLiteral("out.jsonl")), QStringList());
}

void TestAtomicFile::missingDirectoryIsNamed()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("nowhere/out.jsonl")).toStdString();
    try {
        writeFileAtomically(path, [](std::ostream& out) { out << "x"; });
        QFAIL("wrote into a directory that does not exist");
    } catch (const FileError& e) {
        QVERIFY2(std::string(e.what()).find(path) != std::string::npos, e.what());
    }
    QVERIFY(!std::filesystem::exists(path));
}

void TestAtomicFile::directoryFlush()
{
    QTemporaryDir dir;
    syncDirectory(dir.path().toStdString());
    // A relative path's directory is the working directory: "out" alone.
    const QString before = QDir::currentPath();
    QVERIFY(QDir::setCurrent(dir.path()));
    writeFileAtomically("relative.txt", [](std::ostream& out) { out << "here\n"; });
    QVERIFY(QDir::setCurrent(before));
    QCOMPARE(readAll(dir.filePath(QStringLiteral("relative.txt")).toStdString()), std::string("here\n"));
    const std::string missing = dir.filePath(QStringLiteral("gone")).toStdString();
    try {
        syncDirectory(missing);
        QFAIL("flushed a directory that does not exist");
    } catch (const FileError& e) {
        QVERIFY2(std::string(e.what()).find(missing) != std::string::npos, e.what());
    }
}

QTEST_APPLESS_MAIN(TestAtomicFile)
#include "tst_atomic_file.moc"
