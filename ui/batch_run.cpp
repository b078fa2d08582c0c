#include "batch_run.h"

#include "batchfile/batch_output.h"
#include "console_session.h"
#include "format.h"

#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

namespace sluice::ui {

BatchRun::BatchRun(ConsoleSession& session, std::shared_ptr<const QueuedBatch> queued,
                   std::vector<RejectedLine> rejects, QString inputPath, QString outputPath, QObject* parent)
    : QObject(parent), m_session(session), m_queued(std::move(queued)), m_rejects(std::move(rejects)),
      m_inputPath(std::move(inputPath)), m_outputPath(std::move(outputPath))
{
    m_tally = BatchTally{m_queued->ids.size(), 0, 0};
    connect(&m_tallyWatch, &QFutureWatcher<BatchTally>::finished, this, &BatchRun::showTally);
    connect(&m_writeWatch, &QFutureWatcher<WriteResult>::finished, this, &BatchRun::showWritten);
    connect(&m_cancelWatch, &QFutureWatcher<void>::finished, this, &BatchRun::refresh);
    m_refresh.setInterval(500);
    connect(&m_refresh, &QTimer::timeout, this, &BatchRun::refresh);
    m_refresh.start();
    refresh();
}

BatchRun::~BatchRun()
{
    // The jobs hold references to the workspace's engine: they end first.
    m_refresh.stop();
    m_tallyWatch.waitForFinished();
    m_writeWatch.waitForFinished();
    m_cancelWatch.waitForFinished();
}

QString BatchRun::summary() const
{
    QString text = tr("%1: %2/%3 done · %4 failed")
                       .arg(QFileInfo(m_inputPath).fileName(), formatCount(static_cast<std::int64_t>(m_tally.finished())),
                            formatCount(static_cast<std::int64_t>(m_tally.total)),
                            formatCount(static_cast<std::int64_t>(m_tally.dead)));
    if (m_tally.complete()) {
        text += m_written ? tr(" · written") : tr(" · writing");
    }
    return text;
}

void BatchRun::refresh()
{
    if (m_tallyWatch.isRunning()) {
        return;
    }
    host::EngineHost* host = &m_session.host();
    auto queued = m_queued;
    m_tallyWatch.setFuture(QtConcurrent::run([host, queued]() -> BatchTally {
        try {
            return tallyBatch(host->store(), queued->ids);
        } catch (const std::exception&) {
            // A busy or failing store: the next count says it again.
            return BatchTally{};
        }
    }));
}

void BatchRun::showTally()
{
    if (m_tallyWatch.future().resultCount() > 0) {
        const BatchTally t = m_tallyWatch.result();
        if (t.total > 0) {
            m_tally = t;
        }
    }
    if (m_tally.complete() && m_refresh.isActive()) {
        m_refresh.stop();
        writeOutput();
    }
    Q_EMIT changed();
}

void BatchRun::cancel()
{
    if (m_cancelWatch.isRunning() || m_tally.complete()) {
        return;
    }
    host::EngineHost* host = &m_session.host();
    auto queued = m_queued;
    m_cancelWatch.setFuture(QtConcurrent::run([host, queued] {
        try {
            for (const std::string& id : sluice::cancelBatch(host->store(), queued->ids, "cancelled from the console")) {
                host->dispatcher().cancel(id);
            }
        } catch (const std::exception&) {
            // What was not cancelled keeps running; the count shows it.
        }
    }));
    Q_EMIT changed();
}

void BatchRun::writeOutput()
{
    if (m_writeWatch.isRunning()) {
        return;
    }
    host::EngineHost* host = &m_session.host();
    auto queued = m_queued;
    const std::string out = m_outputPath.toStdString();
    const std::string rejectsFile = QString(m_outputPath + QStringLiteral(".rejects.jsonl")).toStdString();
    const std::vector<RejectedLine> rejects = m_rejects;
    m_writeWatch.setFuture(QtConcurrent::run([host, queued, out, rejectsFile, rejects]() -> WriteResult {
        try {
            const BatchOutputCounts c = writeBatchOutput(host->store(), out, queued->ids);
            QString text = QObject::tr("Wrote %1: %2 completed, %3 dead-lettered")
                               .arg(QString::fromStdString(out), formatCount(static_cast<std::int64_t>(c.completed)),
                                    formatCount(static_cast<std::int64_t>(c.dead)));
            if (!rejects.empty()) {
                writeBatchRejects(rejectsFile, rejects);
                text += QObject::tr("; %1 rejected lines in %2")
                            .arg(formatCount(static_cast<std::int64_t>(rejects.size())), QString::fromStdString(rejectsFile));
            }
            return {true, text + QStringLiteral(".")};
        } catch (const std::exception& e) {
            return {false, QObject::tr("The output was not written: %1. The results stay in the workspace; try again "
                                       "with another file.")
                               .arg(QString::fromStdString(e.what()))};
        }
    }));
    Q_EMIT changed();
}

void BatchRun::showWritten()
{
    const WriteResult r = m_writeWatch.result();
    m_message = r.message;
    m_written = m_written || r.ok;
    Q_EMIT changed();
    Q_EMIT outputWritten(r.ok, r.message);
}

}  // namespace sluice::ui
