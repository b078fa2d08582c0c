// StoreWorker: StoreClient's other half, living on its worker thread. It
// opens a read-only JobStore on the workspace file on first use and does
// whatever may wait on the disk; nothing here runs on the GUI thread.
//
// Thread-safety: its worker thread only (StoreClient queues every call).
#pragma once

#include "store_client.h"

#include <memory>

namespace sluice::ui {

class StoreWorker : public QObject {
    Q_OBJECT

public:
    explicit StoreWorker(host::EngineHost& host);
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

    host::EngineHost& m_host;
    std::unique_ptr<store::JobStore> m_reader;
};

}  // namespace sluice::ui
