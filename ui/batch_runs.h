// BatchRuns: the batch files queued from the console in the open workspace,
// each a BatchRun, in the order they were queued. The main window owns it
// for as long as the session is open and destroys it before the session
// (a run's disk jobs use the session's engine); the status bar and
// Workspace → Batch runs show it, and a dialog reopened on a run shows its
// progress where it is.
//
// Thread-safety: GUI thread only.
#pragma once

#include "batch_run.h"

#include <QObject>

#include <vector>

namespace sluice::ui {

class BatchRuns : public QObject {
    Q_OBJECT

public:
    explicit BatchRuns(QObject* parent = nullptr) : QObject(parent) {}
    ~BatchRuns() override;

    // Takes the run (a child from now on) and returns it.
    BatchRun* add(std::unique_ptr<BatchRun> run);
    const std::vector<BatchRun*>& runs() const { return m_runs; }
    // Runs not done yet.
    int unfinished() const;
    // One line for the status bar: empty without runs.
    QString statusText() const;

Q_SIGNALS:
    // A run was added, counted, cancelled or written.
    void changed();

private:
    std::vector<BatchRun*> m_runs;  // children
};

}  // namespace sluice::ui
