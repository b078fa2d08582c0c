#include "batch_run_dialog.h"

#include "batch_run.h"
#include "batch_runs.h"
#include "console_session.h"
#include "format.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <fstream>

namespace sluice::ui {

namespace {

// Rows beyond this are counted, not listed; the rejects file has them all.
constexpr int kMaxRejectRows = 1000;

QString rejectsPathFor(const QString& output)
{
    return output + QStringLiteral(".rejects.jsonl");
}

}  // namespace

BatchRunDialog::BatchRunDialog(ConsoleSession& session, BatchRuns& runs, QWidget* parent)
    : QDialog(parent), m_session(session), m_runs(runs)
{
    setObjectName(QStringLiteral("batchRunDialog"));
    setWindowTitle(tr("Run batch file — %1").arg(session.name()));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("An OpenAI Batch API input file (one {custom_id, method, url, body} per line), run "
                                "through this workspace's queue within every limit, as <tt>sluice-cli batch</tt> "
                                "does. The output has one line per custom_id."),
                             this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto* form = new QFormLayout;
    const auto pathRow = [this, form](QLineEdit*& edit, const char* name, const QString& label, const char* browseName) {
        auto* row = new QHBoxLayout;
        edit = new QLineEdit(this);
        edit->setObjectName(QString::fromLatin1(name));
        auto* browse = new QPushButton(tr("Choose…"), this);
        browse->setObjectName(QString::fromLatin1(browseName));
        row->addWidget(edit, 1);
        row->addWidget(browse);
        form->addRow(label, row);
        return browse;
    };
    QPushButton* browseIn = pathRow(m_input, "input", tr("Input file"), "browseInput");
    QPushButton* browseOut = pathRow(m_output, "output", tr("Output file"), "browseOutput");
    m_input->setPlaceholderText(tr("requests.jsonl"));
    m_output->setPlaceholderText(tr("default: the input's name with .output.jsonl"));
    layout->addLayout(form);

    auto* readRow = new QHBoxLayout;
    m_read = new QPushButton(tr("Check file"), this);
    m_read->setObjectName(QStringLiteral("read"));
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("summary"));
    m_summary->setWordWrap(true);
    readRow->addWidget(m_read);
    readRow->addWidget(m_summary, 1);
    layout->addLayout(readRow);

    m_rejects = new QTableWidget(0, 3, this);
    m_rejects->setObjectName(QStringLiteral("rejects"));
    m_rejects->setHorizontalHeaderLabels({tr("Line"), tr("custom_id"), tr("Why it was rejected")});
    m_rejects->horizontalHeader()->setStretchLastSection(true);
    m_rejects->verticalHeader()->setVisible(false);
    m_rejects->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_rejects->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_rejects->setVisible(false);
    layout->addWidget(m_rejects, 1);

    m_queueValid = new QCheckBox(this);
    m_queueValid->setObjectName(QStringLiteral("queueValidLines"));
    m_queueValid->setVisible(false);
    layout->addWidget(m_queueValid);

    auto* progressRow = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progressText = new QLabel(this);
    m_progressText->setObjectName(QStringLiteral("progressText"));
    progressRow->addWidget(m_progress, 1);
    progressRow->addWidget(m_progressText);
    layout->addLayout(progressRow);

    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_queue = buttons->addButton(tr("Queue batch"), QDialogButtonBox::ActionRole);
    m_queue->setObjectName(QStringLiteral("queue"));
    m_cancel = buttons->addButton(tr("Cancel batch"), QDialogButtonBox::ActionRole);
    m_cancel->setObjectName(QStringLiteral("cancelBatch"));
    m_write = buttons->addButton(tr("Write output now"), QDialogButtonBox::ActionRole);
    m_write->setObjectName(QStringLiteral("writeOutput"));
    layout->addWidget(buttons);

    connect(browseIn, &QPushButton::clicked, this, &BatchRunDialog::browseInput);
    connect(browseOut, &QPushButton::clicked, this, &BatchRunDialog::browseOutput);
    connect(m_read, &QPushButton::clicked, this, &BatchRunDialog::readFile);
    connect(m_queue, &QPushButton::clicked, this, &BatchRunDialog::queueBatch);
    connect(m_cancel, &QPushButton::clicked, this, &BatchRunDialog::cancelBatch);
    connect(m_write, &QPushButton::clicked, this, &BatchRunDialog::writeOutput);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_queueValid, &QCheckBox::toggled, this, &BatchRunDialog::updateButtons);
    connect(m_input, &QLineEdit::textChanged, this, [this] {
        // Another file: what was read no longer applies (unless queued).
        if (!m_run) {
            m_inputRead.reset();
            m_summary->clear();
            m_rejects->setVisible(false);
            m_queueValid->setVisible(false);
            m_queueValid->setChecked(false);
        }
        updateButtons();
    });
    connect(&m_readWatch, &QFutureWatcher<ReadResult>::finished, this, &BatchRunDialog::showRead);
    connect(&m_queueWatch, &QFutureWatcher<QueueResult>::finished, this, &BatchRunDialog::showQueued);
    updateButtons();
}

BatchRunDialog::~BatchRunDialog()
{
    // The jobs hold references to the workspace's engine: they end first.
    // The run, if any, is the workspace's and goes on.
    m_readWatch.waitForFinished();
    m_queueWatch.waitForFinished();
}

void BatchRunDialog::setInputPath(const QString& path)
{
    m_input->setText(path);
}

void BatchRunDialog::setOutputPath(const QString& path)
{
    m_output->setText(path);
}

QString BatchRunDialog::outputPath() const
{
    const QString given = m_output->text().trimmed();
    if (!given.isEmpty()) {
        return given;
    }
    const QString in = m_input->text().trimmed();
    if (in.isEmpty()) {
        return {};
    }
    const QFileInfo info(in);
    return info.dir().filePath(info.completeBaseName() + QStringLiteral(".output.jsonl"));
}

void BatchRunDialog::browseInput()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Batch input file"), m_input->text(),
                                                      tr("JSON Lines (*.jsonl *.json);;All files (*)"));
    if (!path.isEmpty()) {
        m_input->setText(path);
    }
}

void BatchRunDialog::browseOutput()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Batch output file"), outputPath(),
                                                      tr("JSON Lines (*.jsonl);;All files (*)"));
    if (!path.isEmpty()) {
        m_output->setText(path);
    }
}

void BatchRunDialog::readFile()
{
    if (m_readWatch.isRunning() || m_run) {
        return;
    }
    const QString path = m_input->text().trimmed();
    if (path.isEmpty()) {
        m_summary->setText(tr("Choose the batch input file."));
        return;
    }
    m_readPath = path;
    m_summary->setText(tr("Reading %1…").arg(path));
    host::EngineHost* host = &m_session.host();
    const std::string file = path.toStdString();
    m_readWatch.setFuture(QtConcurrent::run([host, file]() -> ReadResult {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return {nullptr, QObject::tr("%1: cannot open for reading").arg(QString::fromStdString(file))};
        }
        if (QFileInfo(QString::fromStdString(file)).isDir()) {
            return {nullptr, QObject::tr("%1: is a directory, not a batch file").arg(QString::fromStdString(file))};
        }
        // The dispatcher's own checks (known provider and model, a body it
        // can send), as sluice-cli batch applies them.
        Dispatcher& dispatcher = host->dispatcher();
        return {std::make_shared<BatchCheck>(checkBatchInput(
                    in, [&dispatcher](const BatchLine& line) { return dispatcher.validate(line.job); })),
                {}};
    }));
    updateButtons();
}

void BatchRunDialog::showRead()
{
    ReadResult r = m_readWatch.result();
    if (!r.check) {
        m_summary->setText(r.error);
        updateButtons();
        return;
    }
    m_inputRead = std::move(r.check);
    m_allRejects = m_inputRead->rejects;
    const int accepted = static_cast<int>(m_inputRead->accepted);
    const int rejected = static_cast<int>(m_allRejects.size());
    if (rejected == 0) {
        m_summary->setText(tr("%1 requests, none rejected.").arg(formatCount(accepted)));
    } else {
        m_summary->setText(tr("%1 requests accepted, %2 lines rejected: nothing is queued from a file with rejected "
                              "lines unless you choose to.")
                               .arg(formatCount(accepted), formatCount(rejected)));
        m_queueValid->setText(tr("Queue the %1 valid lines anyway (the rejected ones go to %2)")
                                  .arg(formatCount(accepted), rejectsPathFor(outputPath())));
    }
    m_queueValid->setVisible(rejected > 0 && accepted > 0);
    m_queueValid->setChecked(false);
    showRejects(m_allRejects);
    updateButtons();
    Q_EMIT fileRead(accepted, rejected);
}

void BatchRunDialog::showRejects(const std::vector<RejectedLine>& rejects)
{
    const int rows = std::min<int>(static_cast<int>(rejects.size()), kMaxRejectRows);
    m_rejects->setRowCount(rows);
    for (int i = 0; i < rows; ++i) {
        const RejectedLine& r = rejects[static_cast<std::size_t>(i)];
        auto* line = new QTableWidgetItem;
        line->setData(Qt::DisplayRole, static_cast<qulonglong>(r.line));
        m_rejects->setItem(i, 0, line);
        m_rejects->setItem(i, 1, new QTableWidgetItem(qs(r.customId)));
        auto* why = new QTableWidgetItem(qs(r.error));
        why->setToolTip(qs(r.text));
        m_rejects->setItem(i, 2, why);
    }
    m_rejects->resizeColumnToContents(0);
    m_rejects->setVisible(!rejects.empty());
}

void BatchRunDialog::queueBatch()
{
    if (!m_inputRead || m_run || m_queueWatch.isRunning()) {
        return;
    }
    if (m_input->text().trimmed() != m_readPath) {
        m_status->setText(tr("The input changed since it was checked: check it again."));
        return;
    }
    if (!m_allRejects.empty() && !m_queueValid->isChecked()) {
        m_status->setText(tr("The file has rejected lines: fix them, or choose to queue the valid lines."));
        return;
    }
    const QString out = outputPath();
    if (QFileInfo(out).exists() && QFileInfo(out).canonicalFilePath() == QFileInfo(m_readPath).canonicalFilePath()) {
        m_status->setText(tr("The output %1 is the input file: write elsewhere.").arg(out));
        return;
    }
    m_status->setText(tr("Queueing…"));
    host::EngineHost* host = &m_session.host();
    BatchStreamQueue::Options options;
    options.defaultPriority = host->config()->defaults.priority;
    options.start = host->clock().wallNow();
    options.storeName = "this workspace";
    const std::string file = m_readPath.toStdString();
    m_queueWatch.setFuture(QtConcurrent::run([host, file, options]() -> QueueResult {
        // Read again, as checked, and queued a chunk at a time: no batch is
        // held whole in memory, however long its file.
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return {nullptr, QObject::tr("Nothing was queued: %1: cannot open for reading.")
                                 .arg(QString::fromStdString(file))};
        }
        Dispatcher& dispatcher = host->dispatcher();
        try {
            return {std::make_shared<QueuedBatch>(queueBatchFile(
                        host->store(), in, [&dispatcher](const BatchLine& line) { return dispatcher.validate(line.job); },
                        options)),
                    {}};
        } catch (const std::exception& e) {
            // Chunks before the failing one are in the store already.
            return {nullptr, QObject::tr("Queueing stopped: %1. Lines before the failure may be queued: queueing "
                                         "the file again adds the rest and none twice.")
                                 .arg(QString::fromStdString(e.what()))};
        }
    }));
    updateButtons();
}

void BatchRunDialog::showQueued()
{
    QueueResult r = m_queueWatch.result();
    if (!r.queued) {
        m_status->setText(r.error);
        updateButtons();
        return;
    }
    // What queueing found is the truth (the file may have changed since the
    // check): its rejects include the check's and the store's conflicts.
    m_allRejects = r.queued->rejects;
    const std::size_t jobs = r.queued->ids.size();
    QString text = tr("%1 requests queued in the workspace.").arg(formatCount(static_cast<std::int64_t>(jobs)));
    if (r.queued->resumed > 0) {
        text += tr(" %1 were queued before (same custom_id and request) and were not queued again.")
                    .arg(formatCount(static_cast<std::int64_t>(r.queued->resumed)));
    }
    // The workspace follows it from here, with this dialog open or not.
    showRun(m_runs.add(std::make_unique<BatchRun>(m_session, std::move(r.queued), m_allRejects, m_readPath, outputPath())));
    m_status->setText(text);
    Q_EMIT batchQueued(static_cast<int>(jobs));
}

void BatchRunDialog::showRun(BatchRun* run)
{
    if (m_run || run == nullptr) {
        return;
    }
    m_run = run;
    m_input->setText(run->inputPath());
    m_output->setText(run->outputPath());
    m_input->setEnabled(false);
    m_output->setEnabled(false);
    m_queueValid->setEnabled(false);
    m_allRejects = run->rejects();
    showRejects(m_allRejects);
    m_progress->setRange(0, static_cast<int>(std::max<std::size_t>(1, run->tally().total)));
    m_status->setText(run->message());
    connect(run, &BatchRun::changed, this, &BatchRunDialog::showProgress);
    connect(run, &BatchRun::outputWritten, this, [this](bool ok, const QString& message) {
        m_status->setText(message);
        if (!ok) {
            m_output->setEnabled(true);  // another path may do
        }
        Q_EMIT outputWritten(ok, message);
    });
    showProgress();
}

BatchTally BatchRunDialog::tally() const
{
    return m_run ? m_run->tally() : BatchTally{};
}

bool BatchRunDialog::running() const
{
    return m_run && !m_run->complete();
}

void BatchRunDialog::showProgress()
{
    if (!m_run) {
        return;
    }
    const BatchTally& t = m_run->tally();
    m_progress->setValue(static_cast<int>(t.finished()));
    m_progressText->setText(tr("%1/%2 done · %3 failed")
                                .arg(formatCount(static_cast<std::int64_t>(t.finished())),
                                     formatCount(static_cast<std::int64_t>(t.total)),
                                     formatCount(static_cast<std::int64_t>(t.dead))));
    updateButtons();
}

void BatchRunDialog::cancelBatch()
{
    if (!m_run || m_run->cancelling() || m_run->complete()) {
        return;
    }
    m_status->setText(tr("Cancelling the requests not finished yet…"));
    m_run->cancel();
}

void BatchRunDialog::writeOutput()
{
    if (!m_run || m_run->writing()) {
        return;
    }
    m_run->setOutputPath(outputPath());
    m_run->writeOutput();
}

void BatchRunDialog::updateButtons()
{
    const bool reading = m_readWatch.isRunning();
    m_read->setEnabled(!reading && !m_run && !m_input->text().trimmed().isEmpty());
    const bool canQueue = m_inputRead && !m_run && !m_queueWatch.isRunning() && m_inputRead->accepted > 0 &&
                          (m_allRejects.empty() || m_queueValid->isChecked());
    m_queue->setEnabled(canQueue);
    m_cancel->setEnabled(m_run && !m_run->complete() && !m_run->cancelling());
    m_write->setEnabled(m_run && !m_run->writing());
}

}  // namespace sluice::ui
