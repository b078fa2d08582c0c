// BatchRunDialog: Workspace → Run batch file…, the console's `sluice-cli
// batch`. It reads an OpenAI Batch API input file (the same parser and
// checks as the CLI: engine/queue/batch_input.h and the dispatcher's
// validation), shows every rejected line with its line number and reason,
// queues the accepted lines into the workspace's durable queue (the
// EngineHost's JobStore, sent by its QueueRunner beside other work),
// follows the batch (done/total, failed), cancels what has not finished,
// and writes the Batch API output (engine/batchfile/batch_output.h),
// atomically, when the batch is done or on demand.
//
// A file with rejected lines queues nothing until the user ticks "queue the
// valid lines anyway": a half-run batch is a choice, never an accident.
// The rejects are then written beside the output (OUTPUT.rejects.jsonl),
// as the CLI does.
//
// Reading, queueing, counting and writing wait on the disk: each runs on a
// thread-pool thread (QtConcurrent) and reports back through a
// QFutureWatcher; the dialog waits for any still running when it closes.
// It is window-modal, so the workspace cannot close under it. Closing it
// leaves a queued batch running in the workspace; its results stay in the
// workspace's store.
//
// Thread-safety: GUI thread only.
#pragma once

#include "batchfile/batch_submission.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QString>
#include <QTimer>

#include <memory>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace sluice::ui {

class ConsoleSession;

class BatchRunDialog : public QDialog {
    Q_OBJECT

public:
    explicit BatchRunDialog(ConsoleSession& session, QWidget* parent = nullptr);
    ~BatchRunDialog() override;

    // What the widgets say; tests set them and press the buttons.
    void setInputPath(const QString& path);
    void setOutputPath(const QString& path);
    // The batch's progress as last counted.
    const BatchTally& tally() const { return m_tally; }
    bool running() const { return m_queued != nullptr && !m_tally.complete(); }

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
        std::shared_ptr<const BatchInput> input;
        QString error;  // the file could not be read at all
    };
    struct QueueResult {
        std::shared_ptr<const QueuedBatch> queued;
        QString error;
    };
    struct WriteResult {
        bool ok = false;
        QString message;
    };

    void browseInput();
    void browseOutput();
    void showRead();
    void showQueued();
    void refresh();
    void showTally();
    void showWritten();
    void showRejects(const std::vector<RejectedLine>& rejects);
    void updateButtons();
    QString outputPath() const;

    ConsoleSession& m_session;
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
    QFutureWatcher<BatchTally> m_tallyWatch;
    QFutureWatcher<WriteResult> m_writeWatch;
    QFutureWatcher<void> m_cancelWatch;
    QTimer m_refresh;

    std::shared_ptr<const BatchInput> m_inputRead;
    QString m_readPath;  // the file m_inputRead came from
    std::shared_ptr<const QueuedBatch> m_queued;
    std::vector<RejectedLine> m_allRejects;  // read rejects and queue conflicts, by line
    BatchTally m_tally;
};

}  // namespace sluice::ui
