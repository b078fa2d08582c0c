// StoreWorker: StoreClient's other half, living on its worker thread. It
// opens a read-only JobStore on the workspace file on first use and does
// whatever may wait on the disk; nothing here runs on the GUI thread.
//
// Thread-safety: its worker thread only (StoreClient queues every call).
#pragma once

#include "control/control_client.h"
#include "store_client.h"

#include <memory>

namespace sluice::ui {

class StoreWorker : public QObject {
    Q_OBJECT

public:
    explicit StoreWorker(host::EngineHost& host);
    // An attached instance's store, through its control endpoint.
    explicit StoreWorker(RemoteTarget remote);
    ~StoreWorker() override;

    void fetchCounts();
    void fetchDeadLetters(const store::DeadLetterFilter& filter, std::size_t limit);
    void fetchJob(store::JobId id);
    void requeue(store::JobId id);
    void editAndRequeue(store::JobId id, const QString& body);
    void requeueMatching(const store::DeadLetterFilter& filter);
    void saveFile(const QString& path, const QByteArray& content);
    void exportReport(const sluice::ui::ReportRequest& request);

Q_SIGNALS:
    void countsReady(const sluice::store::Counts& counts);
    void deadLettersReady(const sluice::ui::DeadLetterPage& page);
    void jobReady(const sluice::ui::JobDetails& details);
    void requeueDone(bool ok, const QString& message);
    void storeError(const QString& message);
    void reportExported(const sluice::ui::ReportOutcome& outcome);

private:
    store::JobStore& reader();

    control::ControlClient& remote();

    host::EngineHost* m_host = nullptr;  // null for an attached instance
    std::unique_ptr<store::JobStore> m_reader;
    std::optional<RemoteTarget> m_remote;
    SystemClock m_remoteClock;
    std::unique_ptr<control::ControlClient> m_client;  // made on the worker thread, on first use
};

}  // namespace sluice::ui
