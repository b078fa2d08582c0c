// The real `sluice-cli serve` as a child process on a free port, for tests
// that need the process itself (its signals, its exit, its stderr): started
// with the mock's key (MOCK_API_KEY=sk-mock) in its environment, its
// gateway address read from its first line.
//
// Thread-safety: none; use from the test's thread.
#pragma once

#include <QProcess>
#include <QProcessEnvironment>
#include <QStringList>
#include <QtTest>

#include <string>

namespace sluice::testing {

struct ServeProcess {
    QProcess process;
    std::string gatewayUrl;  // http://127.0.0.1:PORT
    QString err;             // its stderr read so far (readErr)

    // Appends what stderr has now to `err`, and returns it.
    const QString& readErr()
    {
        err += QString::fromUtf8(process.readAllStandardError());
        return err;
    }
    bool errHas(const QString& text) { return readErr().contains(text); }
};

// `cli serve --config CONFIG --listen 127.0.0.1:0 EXTRA...`; fails the
// calling test (QVERIFY) when it does not start listening within `startMs`.
inline void startServe(ServeProcess& serve, const QString& cli, const QString& config, const QStringList& extra = {},
                       int startMs = 15'000)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MOCK_API_KEY"), QStringLiteral("sk-mock"));
    serve.process.setProcessEnvironment(env);
    serve.process.start(cli, QStringList{QStringLiteral("serve"), QStringLiteral("--config"), config,
                                         QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")} +
                                 extra);
    QVERIFY(serve.process.waitForStarted(startMs));
    // Not QVERIFY2 with its stderr: the message is evaluated (and stderr
    // read away) even when the check passes.
    QVERIFY(serve.process.waitForReadyRead(startMs));
    const QString line = QString::fromUtf8(serve.process.readLine()).trimmed();
    QVERIFY2(line.startsWith(QStringLiteral("listening on http://")), qPrintable(line));
    serve.gatewayUrl = line.mid(13).toStdString();
}

}  // namespace sluice::testing
