#include "batch_runs.h"

namespace sluice::ui {

BatchRuns::~BatchRuns()
{
    // Each run waits for its own disk jobs as it goes (QObject children).
    m_runs.clear();
}

BatchRun* BatchRuns::add(std::unique_ptr<BatchRun> run)
{
    BatchRun* r = run.release();
    r->setParent(this);
    m_runs.push_back(r);
    connect(r, &BatchRun::changed, this, &BatchRuns::changed);
    Q_EMIT changed();
    return r;
}

int BatchRuns::unfinished() const
{
    int n = 0;
    for (const BatchRun* r : m_runs) {
        n += r->complete() ? 0 : 1;
    }
    return n;
}

QString BatchRuns::statusText() const
{
    if (m_runs.empty()) {
        return {};
    }
    // The newest run not finished, else the newest.
    const BatchRun* shown = m_runs.back();
    for (auto it = m_runs.rbegin(); it != m_runs.rend(); ++it) {
        if (!(*it)->complete()) {
            shown = *it;
            break;
        }
    }
    const int others = static_cast<int>(m_runs.size()) - 1;
    QString text = tr("Batch %1").arg(shown->summary());
    if (others > 0) {
        text += tr(" (+%n more)", nullptr, others);
    }
    return text;
}

}  // namespace sluice::ui
