// StoreWorker: what StoreClient runs on its worker thread. It opens a
// read-only JobStore on the workspace file on first use (or talks to an
// attached instance's control endpoint) and does whatever may wait on the
// disk or the network; each call returns its result as a value, errors
// included, and StoreClient delivers it to the GUI thread. Nothing here
// runs on the GUI thread.
//
// Thread-safety: its worker thread only (StoreClient queues every call).
#pragma once

#include "control/control_client.h"
#include "store_client.h"

#include <QCoreApplication>

#include <memory>

namespace sluice::ui {

// A requeue's outcome; `ok` false says why not in `message`.
struct RequeueReply {
    bool ok = false;
    QString message;
};

// Counts (zeros on an error, which `error` says).
struct CountsReply {
    store::Counts counts;
    QString error;
};

class StoreWorker {
    Q_DECLARE_TR_FUNCTIONS(StoreWorker)

public:
    explicit StoreWorker(host::EngineHost& host);
    // An attached instance's store, through its control endpoint.
    explicit StoreWorker(RemoteTarget remote);
    ~StoreWorker();
    StoreWorker(const StoreWorker&) = delete;
    StoreWorker& operator=(const StoreWorker&) = delete;

    CountsReply counts();
    DeadLetterPage deadLetters(const store::DeadLetterFilter& filter, std::size_t limit);
    JobDetails job(store::JobId id);
    RequeueReply requeue(store::JobId id);
    RequeueReply editAndRequeue(store::JobId id, const QString& body);
    RequeueReply requeueMatching(const store::DeadLetterFilter& filter);
    // Empty, or why the file could not be written.
    QString saveFile(const QString& path, const QByteArray& content);
    ReportOutcome exportReport(const ReportRequest& request);

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
