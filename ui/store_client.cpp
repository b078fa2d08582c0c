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

CountsReply StoreWorker::counts()
{
    CountsReply reply;
    try {
        // An instance without a durable queue (serve, worker) has no
        // counts: zeros, not an error.
        reply.counts = m_remote ? remote().status().queue.value_or(store::Counts{}) : reader().counts();
    } catch (const std::exception& e) {
        reply.counts = store::Counts{};
        reply.error = QString::fromUtf8(e.what());
    }
    return reply;
}

DeadLetterPage StoreWorker::deadLetters(const store::DeadLetterFilter& filter, std::size_t limit)
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
    return page;
}

JobDetails StoreWorker::job(store::JobId id)
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
        return d;
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
    return d;
}

RequeueReply StoreWorker::requeue(store::JobId id)
{
    try {
        const bool ok = m_remote ? remote().requeue(id) == 1 : m_host->requeue(id);
        return {ok, ok ? tr("Job %1 requeued").arg(id) : tr("Job %1 is no longer dead").arg(id)};
    } catch (const std::exception& e) {
        return {false, QString::fromUtf8(e.what())};
    }
}

RequeueReply StoreWorker::editAndRequeue(store::JobId id, const QString& body)
{
    try {
        const bool ok =
            m_remote ? remote().editAndRequeue(id, body.toStdString()) : m_host->editAndRequeue(id, body.toStdString());
        return {ok, ok ? tr("Job %1 edited and requeued").arg(id) : tr("Job %1 is no longer dead").arg(id)};
    } catch (const std::exception& e) {
        return {false, QString::fromUtf8(e.what())};
    }
}

RequeueReply StoreWorker::requeueMatching(const store::DeadLetterFilter& filter)
{
    try {
        const std::size_t n = m_remote ? remote().requeueDead(filter) : m_host->requeueDead(filter);
        return {true, tr("%n dead letter(s) requeued", nullptr, static_cast<int>(n))};
    } catch (const std::exception& e) {
        return {false, QString::fromUtf8(e.what())};
    }
}

QString StoreWorker::saveFile(const QString& path, const QByteArray& content)
{
    try {
        writeFileAtomically(path.toStdString(), [&](std::ostream& out) {
            out.write(content.constData(), static_cast<std::streamsize>(content.size()));
        });
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

ReportOutcome StoreWorker::exportReport(const ReportRequest& request)
{
    return m_remote ? ui::exportReport(remote(), request) : ui::exportReport(*m_host, request);
}

// ---------------------------------------------------------------- client

StoreClient::StoreClient(host::EngineHost& host, QObject* parent)
    : QObject(parent), m_worker(std::make_unique<StoreWorker>(host))
{
    startWorker();
}

StoreClient::StoreClient(RemoteTarget remote, QObject* parent)
    : QObject(parent), m_worker(std::make_unique<StoreWorker>(std::move(remote)))
{
    startWorker();
}

void StoreClient::startWorker()
{
    qRegisterMetaType<store::Counts>();
    qRegisterMetaType<DeadLetterPage>();
    qRegisterMetaType<JobDetails>();
    qRegisterMetaType<ReportOutcome>();
    m_thread.setObjectName(QStringLiteral("sluice-store"));
    m_context = std::make_unique<QObject>();
    m_context->moveToThread(&m_thread);
    m_thread.start();
}

StoreClient::~StoreClient()
{
    // Work already queued runs to the end (a requeue or a settings save
    // asked for is not lost); then the worker goes, on its own thread, which
    // made its store and control connections. Blocking, at shutdown only.
    QMetaObject::invokeMethod(m_context.get(), [this] { m_worker.reset(); }, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

void StoreClient::fetchCounts()
{
    if (m_countsPending) {
        return;
    }
    m_countsPending = true;
    post([](StoreWorker& w) { return w.counts(); },
         [this](CountsReply r) {
             m_countsPending = false;
             Q_EMIT countsReady(r.counts);
             if (!r.error.isEmpty()) {
                 Q_EMIT storeError(r.error);
             }
         });
}

void StoreClient::fetchDeadLetters(const store::DeadLetterFilter& filter, std::size_t limit)
{
    post([filter, limit](StoreWorker& w) { return w.deadLetters(filter, limit); },
         [this](DeadLetterPage page) { Q_EMIT deadLettersReady(page); });
}

void StoreClient::fetchJob(store::JobId id)
{
    post([id](StoreWorker& w) { return w.job(id); }, [this](JobDetails d) { Q_EMIT jobReady(d); });
}

void StoreClient::requeue(store::JobId id)
{
    post([id](StoreWorker& w) { return w.requeue(id); },
         [this](RequeueReply r) { Q_EMIT requeueDone(r.ok, r.message); });
}

void StoreClient::editAndRequeue(store::JobId id, const QString& body)
{
    post([id, body](StoreWorker& w) { return w.editAndRequeue(id, body); },
         [this](RequeueReply r) { Q_EMIT requeueDone(r.ok, r.message); });
}

void StoreClient::requeueMatching(const store::DeadLetterFilter& filter)
{
    post([filter](StoreWorker& w) { return w.requeueMatching(filter); },
         [this](RequeueReply r) { Q_EMIT requeueDone(r.ok, r.message); });
}

void StoreClient::saveFile(const QString& path, const QByteArray& content)
{
    post([path, content](StoreWorker& w) { return w.saveFile(path, content); },
         [this](const QString& error) {
             if (!error.isEmpty()) {
                 Q_EMIT storeError(error);
             }
         });
}

void StoreClient::exportReport(const ReportRequest& request)
{
    post([request](StoreWorker& w) { return w.exportReport(request); },
         [this](ReportOutcome outcome) { Q_EMIT reportExported(outcome); });
}

}  // namespace sluice::ui
