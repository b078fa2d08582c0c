// ConsoleSession: one open workspace as the console sees it. It holds the
// running EngineHost, the workspace's settings (WorkspaceConfig) and where
// they are saved, the StoreClient for the job store, and performs what the
// panels ask: limit edits, providers and keys, pause, resume and drain.
// Every change goes to the file and to the engine together, so they never
// disagree; the file is written on the store's worker thread.
//
// Limit edits are deferred, as qBittorrent does it: an edit is noted and a
// short timer started (not restarted), so a burst of edits becomes one
// apply that reaches the engine within a second of the first, each target
// getting one Dispatcher::setLimits call with only its edited fields
// changed (usage already counted is kept).
//
// Opening is asynchronous: reading the settings file, reading keys from the
// keychain and opening the job store all happen off the GUI thread or as
// keychain jobs; open() calls back on the GUI thread.
//
// Thread-safety: GUI thread only.
#pragma once

#include "console_backend.h"
#include "host/engine_host.h"
#include "host/queue_origin.h"
#include "host/workspace.h"
#include "key_vault.h"
#include "store_client.h"

#include <QFuture>
#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

namespace sluice::ui {

struct OpenRequest {
    QString name;              // the workspace name
    QString dataHome;          // QStandardPaths' generic data directory
    bool demo = false;         // create the demo workspace when it does not exist
    // When set, written as the workspace's settings before opening (a new
    // workspace from the "Connect a provider" page). A workspace of that
    // name that exists already is refused unless `replace` says so.
    std::optional<host::WorkspaceConfig> create;
    bool replace = false;
    // Replaces the demo workload's options (tests and programs tune it).
    std::optional<host::DemoWorkloadOptions> workload;
    // With `workload` set: another program sharing a demo key, if wanted.
    std::optional<host::DemoNeighbourOptions> neighbour;
    std::optional<mock::MockConfig> mock;
};

class ConsoleSession : public QObject {
    Q_OBJECT

public:
    using Opened = std::function<void(std::unique_ptr<ConsoleSession> session, const QString& error)>;
    // Opens a workspace and starts its engine; `done` runs on the GUI thread
    // with the session, or null and what went wrong. `context` bounds the
    // callback's life.
    static void open(OpenRequest request, KeyVault& vault, QObject* context, Opened done);
    // Attaches to a headless instance's control endpoint (sluice-cli serve,
    // batch or worker --control): connects off the GUI thread, then `done`
    // with a session that operates the instance instead of a workspace
    // engine (console_session_attach.cpp).
    static void attach(RemoteTarget target, KeyVault& vault, QObject* context, Opened done);

    ConsoleSession(QString name, host::WorkspacePaths paths, host::WorkspaceConfig workspace,
                   std::unique_ptr<Clock> clock, std::unique_ptr<host::EngineHost> host, KeyVault& vault,
                   std::vector<host::MissingKey> missing, std::vector<host::OriginChange> held = {});
    // An attached instance: no workspace file, no engine of its own.
    ConsoleSession(QString name, std::unique_ptr<RemoteBackend> backend, std::unique_ptr<StoreClient> store,
                   KeyVault& vault);
    ~ConsoleSession() override;

    const QString& name() const { return m_name; }
    bool isDemo() const { return m_workspace.demoEnabled(); }
    // The workspace's own engine; attached() sessions have none.
    host::EngineHost& host() { return *m_host; }
    // What the panels read and command: the own engine or the attached one.
    ConsoleBackend& backend() { return *m_backend; }
    bool attached() const { return m_remote != nullptr; }
    RemoteBackend* remote() { return m_remote; }
    StoreClient& store() { return *m_store; }
    KeyVault& vault() { return m_vault; }
    const host::WorkspaceConfig& workspace() const { return m_workspace; }
    const std::vector<host::MissingKey>& missingKeys() const { return m_missing; }

    // Deferred limit edits. nullopt removes the limit.
    void editLimit(const LimitTarget& target, host::LimitField field, std::optional<double> value);
    bool hasPendingEdits() const { return !m_pending.empty(); }
    // The value an edit not yet applied will set (shown until it is).
    std::optional<std::optional<double>> pendingValue(const LimitTarget& target, host::LimitField field) const;
    // What the target enforces now (learned limits included).
    std::vector<LimitSpec> currentLimits(const LimitTarget& target) const;

    // A key as the engine needs it: its name, where its value comes from
    // (an environment variable or "keychain:ENTRY") and the value.
    struct ResolvedKey {
        std::string name;
        std::string env;
        Secret value;
    };
    enum class KeySource : std::uint8_t { Environment, Keychain };
    // For the environment, reads the variable now; for the keychain, stores
    // `text` (the value) there first, asynchronously. `done` gets the key,
    // or what went wrong.
    void resolveKey(const QString& provider, const QString& key, KeySource source, const QString& text,
                    std::function<void(const ResolvedKey& key, const QString& error)> done);

    // Immediate changes; each returns what went wrong, or an empty string.
    QString addKey(const QString& provider, const ResolvedKey& key);
    QString addProvider(const QString& provider, ApiFlavor flavor, const QString& baseUrl, const ResolvedKey& key);
    QString setKeyEnabled(const QString& provider, const QString& key, bool enabled);
    QString removeKey(const QString& provider, const QString& key);
    QString removeProvider(const QString& provider);

    // A change to the workspace's settings only (nothing in the engine),
    // saved like any other: the gateway's settings (WorkspaceGateway).
    QString editWorkspace(const std::function<void(host::WorkspaceConfig&)>& edit);

    void pause();
    void resume();
    // Closes the intake and lets dispatch run until the queue is empty.
    void drain();
    void reopenIntake();
    bool draining() const { return m_draining; }
    void setDrained() { m_draining = false; }
    bool paused() const { return m_workspace.paused(); }

    // The queue is held when jobs were queued for a provider that is now
    // gone or points elsewhere (a workspace replaced, a base URL changed):
    // nothing queued is sent until the operator chooses.
    bool queueHeld() const { return !m_held.empty(); }
    const std::vector<host::OriginChange>& heldChanges() const { return m_held; }
    // What changed, in a sentence for the banner.
    QString heldDescription() const;
    // Sends the held jobs to the providers as configured now.
    void sendHeldToCurrent();
    // Dead-letters every held job (they can still be requeued by hand),
    // then releases the queue for new work.
    void discardHeld();

public Q_SLOTS:
    void applyPendingEdits();

Q_SIGNALS:
    // One deferred apply reached the engine (targets changed).
    void limitsApplied(int targets);
    void changed();               // providers or keys changed
    void queueHoldChanged();      // the held queue was released or discarded
    void problem(const QString& message);
    void message(const QString& text);

private:
    using TargetKey = std::tuple<std::string, std::string, std::string>;
    void save();
    QString commit(const std::function<void(host::WorkspaceConfig&)>& edit, const std::function<void()>& apply);
    QString keychainEntry(const QString& provider, const QString& key) const;
    std::vector<LimitSpec> attachedLimits(const LimitTarget& target) const;
    void applyAttachedEdits();
    // Records the providers as they are now as the queue's destination.
    void recordOrigins();
    void releaseHeld(bool discard);

    QString m_name;
    host::WorkspacePaths m_paths;
    host::WorkspaceConfig m_workspace;
    std::unique_ptr<Clock> m_clock;
    std::unique_ptr<host::EngineHost> m_host;
    std::unique_ptr<StoreClient> m_store;
    KeyVault& m_vault;
    std::vector<host::MissingKey> m_missing;
    std::map<TargetKey, std::map<host::LimitField, std::optional<double>>> m_pending;
    QTimer m_applyTimer;
    bool m_draining = false;
    std::vector<host::OriginChange> m_held;
    QFuture<void> m_background;  // a record or discard on a worker; waited for on close
    // Last: goes before the host and store it reads.
    std::unique_ptr<ConsoleBackend> m_backend;
    RemoteBackend* m_remote = nullptr;  // m_backend, when attached
};

}  // namespace sluice::ui
