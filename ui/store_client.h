// StoreClient: the console's way to the workspace's job store, which may
// wait on the disk. Every call returns at once; the work runs on one
// worker thread whose StoreWorker owns a read-only JobStore for reads (a WAL
// reader never waits for the writer) and writes through the EngineHost;
// results come back as queued signals on the GUI thread. Small files (the
// workspace settings) are written there too, and usage reports exported.
// Each call is one post(): a callable run on the worker, its result handed
// to a callable on the GUI thread.
//
// Thread-safety: GUI thread only; the worker is private to it.
#pragma once

#include "host/engine_host.h"
#include "remote_backend.h"
#include "report_export.h"
#include "store/job_store.h"

#include <QByteArray>
#include <QMetaObject>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QThread>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace sluice::ui {

struct DeadLetterPage {
    std::vector<store::DeadLetter> items;
    bool more = false;  // the page was full: narrow the filter to see the rest
    QString error;
};

struct JobDetails {
    std::optional<store::Job> job;
    std::vector<store::TimelineEntry> timeline;
    std::vector<store::Attempt> attempts;
    std::optional<store::Result> result;
    QString error;
};

class StoreWorker;

class StoreClient : public QObject {
    Q_OBJECT

public:
    StoreClient(host::EngineHost& host, QObject* parent = nullptr);
    // An attached instance's store: the same calls, over its control
    // endpoint (ControlClient) on the worker thread.
    explicit StoreClient(RemoteTarget remote, QObject* parent = nullptr);
    ~StoreClient() override;

    // A counts request while one is outstanding is dropped: the answer on
    // its way is as fresh as a timer needs.
    void fetchCounts();
    void fetchDeadLetters(const store::DeadLetterFilter& filter, std::size_t limit = 500);
    void fetchJob(store::JobId id);
    void requeue(store::JobId id);
    void editAndRequeue(store::JobId id, const QString& body);
    void requeueMatching(const store::DeadLetterFilter& filter);
    void saveFile(const QString& path, const QByteArray& content);
    // A usage report from the workspace's rollups (report_export.h).
    void exportReport(const sluice::ui::ReportRequest& request);

Q_SIGNALS:
    void countsReady(const sluice::store::Counts& counts);
    void deadLettersReady(const sluice::ui::DeadLetterPage& page);
    void jobReady(const sluice::ui::JobDetails& details);
    // A requeue (or edit and requeue) finished; `ok` false says why not.
    void requeueDone(bool ok, const QString& message);
    void storeError(const QString& message);
    void reportExported(const sluice::ui::ReportOutcome& outcome);

private:
    void startWorker();

    // Runs `work(StoreWorker&)` on the worker thread, then `done(result)` on
    // this object's thread (the GUI's), so the GUI never waits. Calls run in
    // the order posted. A result still on its way when the client goes is
    // dropped with it (Qt discards calls queued to a deleted object).
    template <typename Work, typename Done>
    void post(Work work, Done done)
    {
        QMetaObject::invokeMethod(
            m_context.get(),
            [this, worker = m_worker.get(), work = std::move(work), done = std::move(done)]() mutable {
                auto result = work(*worker);
                QMetaObject::invokeMethod(
                    this, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); },
                    Qt::QueuedConnection);
            },
            Qt::QueuedConnection);
    }

    QThread m_thread;
    // Lives on m_thread: the queued calls' context there.
    std::unique_ptr<QObject> m_context;
    // Used and destroyed on m_thread only.
    std::unique_ptr<StoreWorker> m_worker;
    bool m_countsPending = false;
};

}  // namespace sluice::ui

Q_DECLARE_METATYPE(sluice::store::Counts)
Q_DECLARE_METATYPE(sluice::store::DeadLetterFilter)
Q_DECLARE_METATYPE(sluice::ui::DeadLetterPage)
Q_DECLARE_METATYPE(sluice::ui::JobDetails)
