#include "shared_status_watch.h"

#include "console_session.h"
#include "host/engine_host.h"

namespace sluice::ui {

SharedStatusWatch::SharedStatusWatch(ConsoleSession& session, QObject* parent) : QObject(parent), m_session(session)
{
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &SharedStatusWatch::poll);
    m_timer.start();
    poll();
}

void SharedStatusWatch::poll()
{
    const host::SharedLinkStatus s = m_session.host().status().shared;
    const int state = s.stopped ? 2 : s.fallback ? 1 : 0;
    if (state == m_state) {
        return;
    }
    m_state = state;
    Q_EMIT changed(state != 0 ? QString::fromStdString(host::sharedStatusLine(s))
                              : tr("Shared budget reachable again: this console's engine shares namespace %1.")
                                    .arg(QString::fromStdString(s.ns)));
}

}  // namespace sluice::ui
