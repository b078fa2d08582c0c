// BatchRun: one batch file queued from the console, followed to its end.
// It belongs to the workspace's open session (BatchRuns), not to the
// dialog that queued it: closing Workspace → Run batch file… leaves it
// counting done/total/failed every half second, and it writes the Batch
// API output (and the rejects beside it) when the batch is done, whether a
// dialog shows it or not. Cancel and "write output now" are its own.
//
// Counting, cancelling and writing wait on the disk: each runs on a
// thread-pool thread (QtConcurrent) and reports back through a
// QFutureWatcher; the destructor waits for any still running, so the
// session's engine must outlive the run.
//
// Thread-safety: GUI thread only.
#pragma once

#include "batchfile/batch_stream.h"
#include "batchfile/batch_submission.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>
#include <vector>

namespace sluice::ui {

class ConsoleSession;

class BatchRun : public QObject {
    Q_OBJECT

public:
    // Starts following `queued` at once. `rejects` (read rejects and queue
    // conflicts, by line) are written beside the output.
    BatchRun(ConsoleSession& session, std::shared_ptr<const QueuedBatch> queued, std::vector<RejectedLine> rejects,
             QString inputPath, QString outputPath, QObject* parent = nullptr);
    ~BatchRun() override;

    const QueuedBatch& queued() const { return *m_queued; }
    const std::vector<RejectedLine>& rejects() const { return m_rejects; }
    QString inputPath() const { return m_inputPath; }
    QString outputPath() const { return m_outputPath; }
    // Another path, after a write failed there.
    void setOutputPath(const QString& path) { m_outputPath = path; }
    // The progress as last counted.
    const BatchTally& tally() const { return m_tally; }
    bool complete() const { return m_tally.complete(); }
    bool cancelling() const { return m_cancelWatch.isRunning(); }
    bool writing() const { return m_writeWatch.isRunning(); }
    // The output has been written (at least once).
    bool written() const { return m_written; }
    // What the last write said, or empty.
    QString message() const { return m_message; }
    // "requests.jsonl: 40/100 done · 2 failed", for lists and the status bar.
    QString summary() const;

public Q_SLOTS:
    // Cancels every request not finished yet (dead-lettered as cancelled).
    void cancel();
    // Writes the output now (what is done so far).
    void writeOutput();
    void refresh();

Q_SIGNALS:
    void changed();
    void outputWritten(bool ok, const QString& message);

private:
    struct WriteResult {
        bool ok = false;
        QString message;
    };
    void showTally();
    void showWritten();

    ConsoleSession& m_session;
    std::shared_ptr<const QueuedBatch> m_queued;
    std::vector<RejectedLine> m_rejects;
    QString m_inputPath;
    QString m_outputPath;
    BatchTally m_tally;
    bool m_written = false;
    QString m_message;
    QFutureWatcher<BatchTally> m_tallyWatch;
    QFutureWatcher<WriteResult> m_writeWatch;
    QFutureWatcher<void> m_cancelWatch;
    QTimer m_refresh;
};

}  // namespace sluice::ui
