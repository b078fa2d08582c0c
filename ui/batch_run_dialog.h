// BatchRunDialog: Workspace → Run batch file…, the console's `sluice-cli
// batch`. It reads an OpenAI Batch API input file (the same parser and
// checks as the CLI: engine/queue/batch_input.h and the dispatcher's
// validation), shows every rejected line with its line number and reason,
// queues the accepted lines into the workspace's durable queue (the
// EngineHost's JobStore, sent by its QueueRunner beside other work),
// and hands the batch to a BatchRun of the workspace's BatchRuns, which
// follows it (done/total, failed), cancels what has not finished, and
// writes the Batch API output (engine/batchfile/batch_output.h),
// atomically, when the batch is done or on demand. The dialog shows the run
// and its buttons; closed, the run goes on, and the dialog opened again on
// it (Workspace → Batch runs, or the status bar) shows where it is.
//
// A file with rejected lines queues nothing until the user ticks "queue the
// valid lines anyway": a half-run batch is a choice, never an accident.
// The rejects are then written beside the output (OUTPUT.rejects.jsonl),
// as the CLI does.
//
// Reading and queueing wait on the disk: each runs on a thread-pool thread
// (QtConcurrent) and reports back through a QFutureWatcher; the dialog
// waits for any still running when it closes. It is window-modal, so the
// workspace cannot close under it.
//
// Thread-safety: GUI thread only.
#pragma once

#include "batch_run.h"
#include "batchfile/batch_stream.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QPointer>
#include <QString>

#include <memory>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace sluice::ui {

class BatchRuns;
class ConsoleSession;

class BatchRunDialog : public QDialog {
    Q_OBJECT

public:
    // A batch queued here is added to `runs`.
    BatchRunDialog(ConsoleSession& session, BatchRuns& runs, QWidget* parent = nullptr);
    ~BatchRunDialog() override;

    // What the widgets say; tests set them and press the buttons.
    void setInputPath(const QString& path);
    void setOutputPath(const QString& path);
    // Shows a run queued before (this dialog, or one closed since).
    void showRun(BatchRun* run);
    BatchRun* run() const { return m_run; }
    // The batch's progress as last counted.
    BatchTally tally() const;
    bool running() const;

public Q_SLOTS:
    void readFile();
    void queueBatch();
    void cancelBatch();
    void writeOutput();

Q_SIGNALS:
    void fileRead(int accepted, int rejected);
    void batchQueued(int jobs);
    // The output file was written (`ok`), or not, and why.
    void outputWritten(bool ok, const QString& message);

private:
    struct ReadResult {
        std::shared_ptr<const BatchCheck> check;
        QString error;  // the file could not be read at all
    };
    struct QueueResult {
        std::shared_ptr<const QueuedBatch> queued;
        QString error;  // the whole message: whether anything was queued
    };
    void browseInput();
    void browseOutput();
    void showRead();
    void showQueued();
    void showProgress();
    void showRejects(const std::vector<RejectedLine>& rejects);
    void updateButtons();
    QString outputPath() const;

    ConsoleSession& m_session;
    BatchRuns& m_runs;
    QLineEdit* m_input = nullptr;
    QLineEdit* m_output = nullptr;
    QPushButton* m_read = nullptr;
    QLabel* m_summary = nullptr;
    QTableWidget* m_rejects = nullptr;
    QCheckBox* m_queueValid = nullptr;
    QPushButton* m_queue = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progressText = nullptr;
    QPushButton* m_cancel = nullptr;
    QPushButton* m_write = nullptr;
    QLabel* m_status = nullptr;

    QFutureWatcher<ReadResult> m_readWatch;
    QFutureWatcher<QueueResult> m_queueWatch;

    // The check of the file (counts and rejects; no request is kept: queueing
    // reads the file again, a chunk at a time).
    std::shared_ptr<const BatchCheck> m_inputRead;
    QString m_readPath;  // the file m_inputRead came from
    QPointer<BatchRun> m_run;  // the workspace's, once queued
    std::vector<RejectedLine> m_allRejects;  // read rejects and queue conflicts, by line
};

}  // namespace sluice::ui
