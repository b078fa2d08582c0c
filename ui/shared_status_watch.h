// SharedStatusWatch: says in the status bar, loudly, when the workspace's
// own engine loses the shared budget ("Shared budget unreachable: running
// on a local share (1/N of each limit)" or "...: admitting nothing
// (when_unavailable: stop)") and when it is back. Polls the host's status
// (short locks; the shared state there is sampled off the GUI thread) once
// a second and speaks only on a change.
//
// Thread-safety: GUI thread only.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

namespace sluice::ui {

class ConsoleSession;

class SharedStatusWatch : public QObject {
    Q_OBJECT

public:
    // `session` must have an engine of its own (not attached).
    SharedStatusWatch(ConsoleSession& session, QObject* parent);

Q_SIGNALS:
    void changed(const QString& text);

private:
    void poll();

    ConsoleSession& m_session;
    QTimer m_timer;
    int m_state = 0;  // 0 reachable or unshared, 1 local share, 2 stopped
};

}  // namespace sluice::ui
