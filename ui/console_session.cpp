#include "console_session.h"

#include "format.h"
#include "shared/shared_run.h"

#include <QCoreApplication>
#include <QFuture>
#include <QPointer>
#include <QStringList>
#include <QtConcurrent/QtConcurrentRun>

#include <filesystem>
#include <map>

namespace sluice::ui {

namespace {

// Long enough to gather a burst of spin-box steps or typed digits, short
// enough that an edit reaches the engine well within a second.
constexpr std::chrono::milliseconds kApplyDelay(300);

struct Loaded {
    host::WorkspacePaths paths;
    std::optional<host::WorkspaceConfig> workspace;
    QString error;
};

struct Started {
    std::unique_ptr<Clock> clock;
    std::unique_ptr<host::EngineHost> host;
    std::vector<host::MissingKey> missing;
    std::vector<host::OriginChange> held;
    QString error;
};

// Off the GUI thread: find, create or load the settings file.
Loaded loadWorkspace(const OpenRequest& r)
{
    Loaded out;
    try {
        out.paths = host::workspacePaths(r.name.toStdString(), std::filesystem::path(r.dataHome.toStdString()));
        if (r.create) {
            if (!r.replace && host::workspaceExists(r.name.toStdString(), std::filesystem::path(r.dataHome.toStdString()))) {
                out.error = QCoreApplication::translate("sluice::ui::ConsoleSession",
                                                        "A workspace named \"%1\" exists already; it was not changed. "
                                                        "Choose another name, or open it with Workspace → Open…")
                                .arg(r.name);
                return out;
            }
            r.create->save(out.paths.settings);
            out.workspace = *r.create;
        } else if (std::filesystem::exists(out.paths.settings)) {
            out.workspace = host::WorkspaceConfig::load(out.paths.settings);
        } else if (r.demo) {
            out.workspace = host::WorkspaceConfig::demo();
            out.workspace->save(out.paths.settings);
        } else {
            out.error = QCoreApplication::translate("sluice::ui::ConsoleSession", "No workspace \"%1\" (%2)")
                            .arg(r.name, QString::fromStdString(out.paths.settings.string()));
        }
    } catch (const std::exception& e) {
        out.error = QString::fromUtf8(e.what());
    }
    return out;
}

// Off the GUI thread: build the engine's configuration and start it.
std::shared_ptr<Started> startEngine(const OpenRequest& r, const Loaded& loaded,
                                     const std::map<std::string, std::string>& keychain)
{
    auto result = std::make_shared<Started>();
    Started& out = *result;
    try {
        const EnvLookup env = host::demoKeyLookup([keychain, process = processEnvironment()](const std::string& name) {
            if (name.rfind(host::kKeychainPrefix, 0) == 0) {
                const auto it = keychain.find(name.substr(host::kKeychainPrefix.size()));
                return it == keychain.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
            }
            return process(name);
        });
        host::HostOptions options;
        options.database = loaded.paths.database;
        options.config = loaded.workspace->toConfig(env, out.missing);
        if (loaded.workspace->demoEnabled()) {
            options.mock = r.mock ? *r.mock : host::demoMockConfig();
            options.workload = r.workload ? *r.workload : host::DemoWorkloadOptions{};
            // The demo as users see it has a neighbour on key team-b, so
            // 429 triage shows; a caller that tunes the workload (tests,
            // benchmarks) gets one only when it asks.
            options.neighbour = r.workload ? r.neighbour : std::optional(host::DemoNeighbourOptions{});
        }
        options.runner.owner = "console";
        // With "shared", this engine is one of the namespace's instances:
        // the same budgets, signals and fleet as serve, batch and worker.
        options.shared = shared::sharedLinkFactory("sluice console");
        // The providers tab shows a key+model's recent rate against its
        // limit, from the same series the dashboard reads (the recorder's
        // cap on scopes with series bounds the memory).
        options.metrics.seriesFor[static_cast<std::size_t>(metrics::ScopeKind::KeyModel)] = true;
        out.clock = std::make_unique<SystemClock>();
        const std::filesystem::path database = options.database;
        out.host = std::make_unique<host::EngineHost>(*out.clock, std::move(options));
        // Jobs queued for one provider are never sent to another by surprise:
        // when a provider they were queued for is gone or points elsewhere,
        // the queue is held until the operator decides.
        const auto current = host::providerOrigins(loaded.workspace->config());
        const host::QueueOrigin origin(database);
        const store::Counts counts = out.host->store().counts();
        auto changes = host::originChanges(origin.recorded(), current);
        if (counts.pending + counts.leased > 0 && !changes.empty()) {
            out.held = std::move(changes);
            out.host->holdQueue();
        } else {
            origin.record(current);
        }
        if (loaded.workspace->paused()) {
            out.host->pause();
        }
        out.host->start();
    } catch (const std::exception& e) {
        out.host.reset();
        out.error = QString::fromUtf8(e.what());
    }
    return result;
}

}  // namespace

void ConsoleSession::open(OpenRequest request, KeyVault& vault, QObject* context, Opened done)
{
    auto shared = std::make_shared<OpenRequest>(std::move(request));
    QPointer<KeyVault> vaultPtr(&vault);
    QtConcurrent::run([shared] { return loadWorkspace(*shared); })
        .then(context, [shared, vaultPtr, context, done](Loaded loaded) {
            if (!loaded.workspace) {
                done(nullptr, loaded.error);
                return;
            }
            // Keys in the keychain are read one by one (asynchronous jobs);
            // the engine starts when the last answer is in.
            auto entries = loaded.workspace->keychainEntries();
            auto secrets = std::make_shared<std::map<std::string, std::string>>();
            auto left = std::make_shared<std::size_t>(entries.size());
            auto state = std::make_shared<Loaded>(std::move(loaded));
            auto start = [shared, state, secrets, vaultPtr, context, done] {
                QtConcurrent::run([shared, state, secrets] { return startEngine(*shared, *state, *secrets); })
                    .then(context, [state, vaultPtr, done](std::shared_ptr<Started> startedPtr) {
                        Started& started = *startedPtr;
                        if (!started.host || vaultPtr.isNull()) {
                            done(nullptr, started.error);
                            return;
                        }
                        const QString name = QString::fromStdString(state->paths.database.stem().string());
                        done(std::make_unique<ConsoleSession>(name, state->paths, *state->workspace,
                                                              std::move(started.clock), std::move(started.host),
                                                              *vaultPtr, std::move(started.missing),
                                                              std::move(started.held)),
                             {});
                    });
            };
            if (entries.empty() || vaultPtr.isNull()) {
                start();
                return;
            }
            for (const std::string& entry : entries) {
                vaultPtr->read(QString::fromStdString(entry), context,
                               [entry, secrets, left, start](std::optional<QString> value, const QString&) {
                                   if (value) {
                                       (*secrets)[entry] = value->toStdString();
                                   }
                                   if (--*left == 0) {
                                       start();
                                   }
                               });
            }
        });
}

ConsoleSession::ConsoleSession(QString name, host::WorkspacePaths paths, host::WorkspaceConfig workspace,
                               std::unique_ptr<Clock> clock, std::unique_ptr<host::EngineHost> host, KeyVault& vault,
                               std::vector<host::MissingKey> missing, std::vector<host::OriginChange> held)
    : m_name(std::move(name)),
      m_paths(std::move(paths)),
      m_workspace(std::move(workspace)),
      m_clock(std::move(clock)),
      m_host(std::move(host)),
      m_store(std::make_unique<StoreClient>(*m_host)),
      m_vault(vault),
      m_missing(std::move(missing)),
      m_held(std::move(held)),
      m_backend(std::make_unique<EmbeddedBackend>(*m_host))
{
    m_applyTimer.setSingleShot(true);
    m_applyTimer.setInterval(kApplyDelay);
    connect(&m_applyTimer, &QTimer::timeout, this, &ConsoleSession::applyPendingEdits);
    connect(m_store.get(), &StoreClient::storeError, this, &ConsoleSession::problem);
}

ConsoleSession::~ConsoleSession()
{
    // Joins the worker first (it may be writing through the host), then
    // stops the engine: the runner writes what it has and releases leases.
    m_background.waitForFinished();
    m_store.reset();
    m_backend.reset();
    if (m_host) {
        m_host->stop();
    }
}

QString ConsoleSession::heldDescription() const
{
    QStringList parts;
    for (const host::OriginChange& c : m_held) {
        if (c.removed) {
            parts.append(tr("provider %1 (%2) is no longer configured").arg(qs(c.was.provider), qs(c.was.baseUrl)));
        } else {
            parts.append(tr("provider %1 was %2 (%3) and is now %4 (%5)")
                             .arg(qs(c.was.provider), qs(c.was.baseUrl), qs(c.was.flavor), qs(c.now.baseUrl),
                                  qs(c.now.flavor)));
        }
    }
    return tr("Queued jobs are held: they were queued when %1. Nothing queued is sent until you choose.")
        .arg(parts.join(tr("; ")));
}

void ConsoleSession::recordOrigins()
{
    if (queueHeld()) {
        return;
    }
    m_background.waitForFinished();
    m_background = QtConcurrent::run([database = m_paths.database, current = host::providerOrigins(m_workspace.config())] {
        try {
            host::QueueOrigin(database).record(current);
        } catch (const std::exception&) {
            // The next open compares against the older record and, at worst,
            // holds the queue and asks: never a surprise send.
        }
    });
}

void ConsoleSession::sendHeldToCurrent()
{
    releaseHeld(false);
}

void ConsoleSession::discardHeld()
{
    releaseHeld(true);
}

void ConsoleSession::releaseHeld(bool discard)
{
    if (!queueHeld()) {
        return;
    }
    m_background.waitForFinished();
    QStringList was;
    for (const host::OriginChange& c : m_held) {
        was.append(qs(c.was.provider) + QStringLiteral(" at ") + qs(c.was.baseUrl));
    }
    const std::string reason =
        (tr("discarded by the operator: queued for %1, which the workspace no longer has").arg(was.join(QStringLiteral(", "))))
            .toStdString();
    m_held.clear();
    auto count = std::make_shared<std::size_t>(0);
    m_background = QtConcurrent::run([host = m_host.get(), database = m_paths.database,
                                      current = host::providerOrigins(m_workspace.config()), discard, reason, count] {
        if (discard) {
            *count = host->discardQueued(reason);
        }
        try {
            host::QueueOrigin(database).record(current);
        } catch (const std::exception&) {
            // As in recordOrigins: at worst the next open asks again.
        }
        host->releaseQueue();
    });
    m_background.then(this, [this, discard, count] {
        Q_EMIT message(discard ? tr("Discarded %1 held jobs (they are in dead letters); new work goes to the providers "
                                    "as configured now.")
                                     .arg(formatCount(static_cast<std::int64_t>(*count)))
                               : tr("Held jobs released: they go to the providers as configured now."));
        Q_EMIT queueHoldChanged();
    });
}

void ConsoleSession::save()
{
    m_store->saveFile(QString::fromStdString(m_paths.settings.string()), QByteArray::fromStdString(m_workspace.text() + "\n"));
}

std::vector<LimitSpec> ConsoleSession::currentLimits(const LimitTarget& t) const
{
    if (attached()) {
        return attachedLimits(t);
    }
    const Admission& admission = m_host->admission();
    std::optional<ScopeId> scope = Admission::root();
    if (!t.provider.empty()) {
        scope = admission.findScope(*scope, t.provider);
        if (t.key.empty() && !t.model.empty()) {
            // A model on every key: what the provider's model settings say.
            const auto config = m_host->config();
            const ProviderConfig* p = config->provider(t.provider);
            const ModelConfig* m = p != nullptr ? p->model(t.model) : nullptr;
            return m != nullptr ? m->limits : std::vector<LimitSpec>{};
        }
        if (scope && !t.key.empty()) {
            scope = admission.findScope(*scope, t.key);
        }
        if (scope && !t.model.empty()) {
            scope = admission.findScope(*scope, t.model);
        }
    }
    std::vector<LimitSpec> out;
    if (scope) {
        for (const DimensionState& d : admission.snapshot(*scope).dimensions) {
            out.push_back(d.spec);
        }
    }
    return out;
}

void ConsoleSession::editLimit(const LimitTarget& target, host::LimitField field, std::optional<double> value)
{
    m_pending[TargetKey{target.provider, target.key, target.model}][field] = value;
    if (!m_applyTimer.isActive()) {
        m_applyTimer.start();
    }
}

std::optional<std::optional<double>> ConsoleSession::pendingValue(const LimitTarget& target, host::LimitField field) const
{
    const auto t = m_pending.find(TargetKey{target.provider, target.key, target.model});
    if (t == m_pending.end()) {
        return std::nullopt;
    }
    const auto f = t->second.find(field);
    if (f == t->second.end()) {
        return std::nullopt;
    }
    return f->second;
}

void ConsoleSession::applyPendingEdits()
{
    if (attached()) {
        applyAttachedEdits();
        return;
    }
    m_applyTimer.stop();
    auto pending = std::move(m_pending);
    m_pending.clear();
    int applied = 0;
    for (const auto& [key, fields] : pending) {
        const LimitTarget target{std::get<0>(key), std::get<1>(key), std::get<2>(key)};
        host::WorkspaceConfig next = m_workspace;
        try {
            const std::vector<LimitSpec> current = currentLimits(target);
            std::vector<LimitSpec> specs;
            for (const auto& [field, value] : fields) {
                specs = next.setLimit(target, field, value, current);
            }
            m_host->setLimits(target, specs);
            m_workspace = std::move(next);
            ++applied;
        } catch (const std::exception& e) {
            Q_EMIT problem(tr("Limits not changed: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    if (applied > 0) {
        save();
        Q_EMIT limitsApplied(applied);
    }
}

QString ConsoleSession::commit(const std::function<void(host::WorkspaceConfig&)>& edit, const std::function<void()>& apply)
{
    host::WorkspaceConfig next = m_workspace;
    try {
        edit(next);
        apply();
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    m_workspace = std::move(next);
    save();
    Q_EMIT changed();
    return {};
}

QString ConsoleSession::keychainEntry(const QString& provider, const QString& key) const
{
    return m_name + QLatin1Char('/') + provider + QLatin1Char('/') + key;
}

void ConsoleSession::resolveKey(const QString& provider, const QString& key, KeySource source, const QString& text,
                                std::function<void(const ResolvedKey& key, const QString& error)> done)
{
    ResolvedKey resolved;
    resolved.name = key.toStdString();
    if (key.trimmed().isEmpty()) {
        done(resolved, tr("Give the key a name (a label such as \"prod-1\"; never the key itself)."));
        return;
    }
    if (source == KeySource::Environment) {
        const QString value = qEnvironmentVariable(text.toUtf8().constData());
        if (text.isEmpty() || value.isEmpty()) {
            done(resolved, tr("Environment variable %1 is not set in Sluice's environment. Set it before starting Sluice.")
                               .arg(text.isEmpty() ? tr("(none named)") : text));
            return;
        }
        resolved.env = text.toStdString();
        resolved.value = Secret(value.toStdString());
        done(resolved, {});
        return;
    }
    if (m_vault.availability() != KeyVault::Availability::Available) {
        done(resolved, m_vault.unavailableReason().isEmpty() ? tr("The keychain is not available.")
                                                              : m_vault.unavailableReason());
        return;
    }
    if (text.isEmpty()) {
        done(resolved, tr("Paste the key's value."));
        return;
    }
    const QString entry = keychainEntry(provider, key);
    resolved.env = std::string(host::kKeychainPrefix) + entry.toStdString();
    resolved.value = Secret(text.toStdString());
    auto shared = std::make_shared<ResolvedKey>(std::move(resolved));
    m_vault.write(entry, text, this, [shared, done](bool ok, const QString& error) {
        done(*shared, ok ? QString() : tr("The keychain did not store the key: %1").arg(error));
    });
}

QString ConsoleSession::addKey(const QString& provider, const ResolvedKey& key)
{
    if (attached()) {
        return tr("An attached instance's keys come from its configuration file and environment.");
    }
    KeyConfig kc;
    kc.name = key.name;
    kc.envVar = key.env;
    kc.value = key.value;
    return commit([&](host::WorkspaceConfig& w) { w.addKey(provider.toStdString(), kc.name, kc.envVar); },
                  [&] { m_host->addKey(provider.toStdString(), kc); });
}

QString ConsoleSession::setKeyEnabled(const QString& provider, const QString& key, bool enabled)
{
    if (attached()) {
        m_backend->setKeyEnabled(provider.toStdString(), key.toStdString(), enabled);
        Q_EMIT changed();
        return {};
    }
    if (enabled) {
        for (const host::MissingKey& m : m_missing) {
            if (qs(m.provider) == provider && qs(m.key) == key) {
                return tr("Key %1/%2 has no value: %3").arg(provider, key, qs(m.why));
            }
        }
    }
    return commit([&](host::WorkspaceConfig& w) { w.setKeyEnabled(provider.toStdString(), key.toStdString(), enabled); },
                  [&] { m_host->setKeyEnabled(provider.toStdString(), key.toStdString(), enabled); });
}

QString ConsoleSession::removeKey(const QString& provider, const QString& key)
{
    if (attached()) {
        return tr("An attached instance's keys come from its configuration file and environment.");
    }
    const QString error =
        commit([&](host::WorkspaceConfig& w) { w.removeKey(provider.toStdString(), key.toStdString()); },
               [&] { m_host->removeKey(provider.toStdString(), key.toStdString()); });
    if (error.isEmpty()) {
        m_vault.remove(keychainEntry(provider, key));
    }
    return error;
}

QString ConsoleSession::addProvider(const QString& provider, ApiFlavor flavor, const QString& baseUrl,
                                    const ResolvedKey& key)
{
    if (attached()) {
        return tr("An attached instance's providers come from its configuration file.");
    }
    ProviderConfig pc;
    pc.name = provider.toStdString();
    pc.flavor = flavor;
    pc.baseUrl = baseUrl.toStdString();
    pc.tokenAccounting = defaultTokenAccounting(flavor);
    KeyConfig kc;
    kc.name = key.name;
    kc.envVar = key.env;
    kc.value = key.value;
    pc.keys.push_back(kc);
    const QString error = commit(
        [&](host::WorkspaceConfig& w) {
            w.addProvider(pc.name, flavor, pc.baseUrl);
            w.addKey(pc.name, kc.name, kc.envVar);
        },
        [&] {
            m_host->addProvider(pc);
        });
    if (error.isEmpty()) {
        recordOrigins();
    }
    return error;
}

QString ConsoleSession::removeProvider(const QString& provider)
{
    if (attached()) {
        return tr("An attached instance's providers come from its configuration file.");
    }
    const QString error = commit([&](host::WorkspaceConfig& w) { w.removeProvider(provider.toStdString()); },
                                 [&] { m_host->removeProvider(provider.toStdString()); });
    if (error.isEmpty()) {
        recordOrigins();
    }
    return error;
}

QString ConsoleSession::editWorkspace(const std::function<void(host::WorkspaceConfig&)>& edit)
{
    return commit(edit, [] {});
}

void ConsoleSession::pause()
{
    m_backend->pause();
    // Saved, so a restart does not start sending again behind the operator.
    m_workspace.setPaused(true);
    if (!attached()) {
        save();
    }
    Q_EMIT message(tr("Dispatch paused: nothing new is sent; requests in flight finish."));
}

void ConsoleSession::resume()
{
    m_backend->resume();
    m_workspace.setPaused(false);
    if (!attached()) {
        save();
    }
    Q_EMIT message(tr("Dispatch resumed."));
}

void ConsoleSession::drain()
{
    m_backend->setIntakeOpen(false);
    m_backend->resume();
    if (m_workspace.paused() && !attached()) {
        m_workspace.setPaused(false);
        save();
    }
    m_draining = true;
    Q_EMIT message(tr("Draining: no new work is taken in; the queue runs until it is empty."));
}

void ConsoleSession::reopenIntake()
{
    m_backend->setIntakeOpen(true);
    m_draining = false;
    Q_EMIT message(tr("Intake open: the demo workload queues requests again."));
}

}  // namespace sluice::ui
