// What the tests that run the real sluice-cli share: waiting for a started
// QProcess and collecting its exit code and output (a run that hangs is
// killed and reported as "timed out", never waited on for ever), and small
// text files written and read in the test's temporary directory.
//
// Thread-safety: none; use from the test's thread.
#pragma once

#include <QFile>
#include <QProcess>
#include <QString>
#include <QtTest>

#include <string>

namespace sluice::testing {

struct CliRun {
    int exitCode = -1;  // -1: crashed or timed out
    std::string out;
    std::string err;
};

// Waits for `p` (already started) to finish, up to `timeoutMs`.
inline CliRun finishCli(QProcess& p, int timeoutMs = 120'000)
{
    CliRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = "timed out";
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    return r;
}

// Fails the calling test function (QVERIFY) when the file cannot be written.
inline void writeTextFile(const QString& path, const std::string& text)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text.data(), static_cast<qint64>(text.size()));
}

// The file's text, empty when it cannot be read.
inline std::string readTextFile(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll().toStdString() : std::string();
}

}  // namespace sluice::testing
