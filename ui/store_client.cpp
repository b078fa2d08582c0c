#include "store_client.h"

#include "core/atomic_file.h"
#include "store_worker.h"

namespace sluice::ui {

// ---------------------------------------------------------------- worker

StoreWorker::StoreWorker(host::EngineHost& host) : m_host(&host) {}

// m_host stays null: every member checks m_remote first.
StoreWorker::StoreWorker(RemoteTarget remote) : m_remote(std::move(remote)) {}

control::ControlClient& StoreWorker::remote()
{
    if (!m_client) {
        m_client = std::make_unique<control::ControlClient>(m_remote->address, m_remote->token, m_remoteClock);
    }
    return *m_client;
}

StoreWorker::~StoreWorker() = default;

store::JobStore& StoreWorker::reader()
{
    if (!m_reader) {
        store::StoreOptions options;
        options.readOnly = true;
        m_reader = std::make_unique<store::JobStore>(m_host->databasePath(), m_host->clock(), options);
    }
    return *m_reader;
}

void StoreWorker::fetchCounts()
{
    if (m_remote) {
        try {
            // An instance without a durable queue (serve, worker) has no
            // counts: zeros, not an error.
            Q_EMIT countsReady(remote().status().queue.value_or(store::Counts{}));
        } catch (const std::exception& e) {
            Q_EMIT countsReady(store::Counts{});
            Q_EMIT storeError(QString::fromUtf8(e.what()));
        }
        return;
    }
    try {
        Q_EMIT countsReady(reader().counts());
    } catch (const std::exception& e) {
        Q_EMIT countsReady(store::Counts{});
        Q_EMIT storeError(QString::fromUtf8(e.what()));
    }
}

void StoreWorker::fetchDeadLetters(const store::DeadLetterFilter& filter, std::size_t limit)
{
    DeadLetterPage page;
    try {
        // One more than asked tells whether there is more without counting.
        page.items = m_remote ? remote().deadLetters(filter, limit + 1) : reader().deadLetters(filter, limit + 1);
        page.more = page.items.size() > limit;
        if (page.more) {
            page.items.pop_back();
        }
    } catch (const std::exception& e) {
        page.error = QString::fromUtf8(e.what());
    }
    Q_EMIT deadLettersReady(page);
}

void StoreWorker::fetchJob(store::JobId id)
{
    JobDetails d;
    if (m_remote) {
        try {
            control::JobDetail r = remote().job(id);
            d.job = std::move(r.job);
            d.timeline = std::move(r.timeline);
            d.attempts = std::move(r.attempts);
            d.result = std::move(r.result);
        } catch (const std::exception& e) {
            d.error = QString::fromUtf8(e.what());
        }
        Q_EMIT jobReady(d);
        return;
    }
    try {
        store::JobStore& s = reader();
        d.job = s.job(id);
        if (d.job) {
            d.timeline = s.timeline(id);
            d.attempts = s.attempts(id);
            d.result = s.result(id);
        }
    } catch (const std::exception& e) {
        d.error = QString::fromUtf8(e.what());
    }
    Q_EMIT jobReady(d);
}

void StoreWorker::requeue(store::JobId id)
{
    try {
        const bool ok = m_remote ? remote().requeue(id) == 1 : m_host->requeue(id);
        Q_EMIT requeueDone(ok, ok ? tr("Job %1 requeued").arg(id) : tr("Job %1 is no longer dead").arg(id));
    } catch (const std::exception& e) {
        Q_EMIT requeueDone(false, QString::fromUtf8(e.what()));
    }
}

void StoreWorker::editAndRequeue(store::JobId id, const QString& body)
{
    try {
        const bool ok =
            m_remote ? remote().editAndRequeue(id, body.toStdString()) : m_host->editAndRequeue(id, body.toStdString());
        Q_EMIT requeueDone(ok, ok ? tr("Job %1 edited and requeued").arg(id) : tr("Job %1 is no longer dead").arg(id));
    } catch (const std::exception& e) {
        Q_EMIT requeueDone(false, QString::fromUtf8(e.what()));
    }
}

void StoreWorker::requeueMatching(const store::DeadLetterFilter& filter)
{
    try {
        const std::size_t n = m_remote ? remote().requeueDead(filter) : m_host->requeueDead(filter);
        Q_EMIT requeueDone(true, tr("%n dead letter(s) requeued", nullptr, static_cast<int>(n)));
    } catch (const std::exception& e) {
        Q_EMIT requeueDone(false, QString::fromUtf8(e.what()));
    }
}

void StoreWorker::saveFile(const QString& path, const QByteArray& content)
{
    try {
        writeFileAtomically(path.toStdString(), [&](std::ostream& out) {
            out.write(content.constData(), static_cast<std::streamsize>(content.size()));
        });
    } catch (const std::exception& e) {
        Q_EMIT storeError(QString::fromUtf8(e.what()));
    }
}

void StoreWorker::exportReport(const ReportRequest& request)
{
    Q_EMIT reportExported(m_remote ? ui::exportReport(remote(), request) : ui::exportReport(*m_host, request));
}

// ---------------------------------------------------------------- client

StoreClient::StoreClient(host::EngineHost& host, QObject* parent) : QObject(parent)
{
    m_worker = new StoreWorker(host);
    startWorker();
}

StoreClient::StoreClient(RemoteTarget remote, QObject* parent) : QObject(parent)
{
    m_worker = new StoreWorker(std::move(remote));
    startWorker();
}

void StoreClient::startWorker()
{
    qRegisterMetaType<store::Counts>();
    qRegisterMetaType<DeadLetterPage>();
    qRegisterMetaType<JobDetails>();
    qRegisterMetaType<ReportOutcome>();
    m_thread.setObjectName(QStringLiteral("sluice-store"));
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &StoreWorker::countsReady, this, [this](const store::Counts& c) {
        m_countsPending = false;
        Q_EMIT countsReady(c);
    });
    connect(m_worker, &StoreWorker::deadLettersReady, this, &StoreClient::deadLettersReady);
    connect(m_worker, &StoreWorker::jobReady, this, &StoreClient::jobReady);
    connect(m_worker, &StoreWorker::requeueDone, this, &StoreClient::requeueDone);
    connect(m_worker, &StoreWorker::storeError, this, &StoreClient::storeError);
    connect(m_worker, &StoreWorker::reportExported, this, &StoreClient::reportExported);
    m_thread.start();
}

StoreClient::~StoreClient()
{
    // Work already queued runs to the end (a requeue or a settings save
    // asked for is not lost): a blocking no-op waits for it, at shutdown
    // only.
    QMetaObject::invokeMethod(m_worker, [] {}, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

void StoreClient::fetchCounts()
{
    if (m_countsPending) {
        return;
    }
    m_countsPending = true;
    QMetaObject::invokeMethod(m_worker, [w = m_worker] { w->fetchCounts(); }, Qt::QueuedConnection);
}

void StoreClient::fetchDeadLetters(const store::DeadLetterFilter& filter, std::size_t limit)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, filter, limit] { w->fetchDeadLetters(filter, limit); },
                              Qt::QueuedConnection);
}

void StoreClient::fetchJob(store::JobId id)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, id] { w->fetchJob(id); }, Qt::QueuedConnection);
}

void StoreClient::requeue(store::JobId id)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, id] { w->requeue(id); }, Qt::QueuedConnection);
}

void StoreClient::editAndRequeue(store::JobId id, const QString& body)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, id, body] { w->editAndRequeue(id, body); }, Qt::QueuedConnection);
}

void StoreClient::requeueMatching(const store::DeadLetterFilter& filter)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, filter] { w->requeueMatching(filter); }, Qt::QueuedConnection);
}

void StoreClient::saveFile(const QString& path, const QByteArray& content)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, path, content] { w->saveFile(path, content); },
                              Qt::QueuedConnection);
}

void StoreClient::exportReport(const ReportRequest& request)
{
    QMetaObject::invokeMethod(m_worker, [w = m_worker, request] { w->exportReport(request); }, Qt::QueuedConnection);
}

}  // namespace sluice::ui
