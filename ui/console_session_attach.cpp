// ConsoleSession's attached form: a headless instance operated through its
// control endpoint (RemoteBackend, StoreClient over ControlClient) instead
// of a workspace's own engine. Kept apart from console_session.cpp, whose
// members only ask attached() where a workspace file or an own engine
// would be needed.
#include "console_session.h"

#include "format.h"

#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

#include <atomic>

namespace sluice::ui {

namespace {

constexpr std::chrono::milliseconds kAttachedApplyDelay(300);

struct Attached {
    std::optional<RemoteFirstLook> first;
    QString error;
};

}  // namespace

void ConsoleSession::attach(RemoteTarget target, KeyVault& vault, QObject* context, Opened done)
{
    QPointer<KeyVault> vaultPtr(&vault);
    QtConcurrent::run([target] {
        Attached out;
        try {
            SystemClock clock;
            out.first = firstLook(target, clock);
        } catch (const std::exception& e) {
            out.error = QString::fromUtf8(e.what());
        }
        return out;
    }).then(context, [target, vaultPtr, done](Attached attached) {
        if (!attached.first || vaultPtr.isNull()) {
            done(nullptr, attached.error.isEmpty() ? tr("the console is closing") : attached.error);
            return;
        }
        // Problems the backend's thread meets reach the session on the GUI
        // thread; none are said before it exists.
        auto session = std::make_shared<std::atomic<ConsoleSession*>>(nullptr);
        const QString kind = qs(attached.first->status.kind);
        auto backend = std::make_unique<RemoteBackend>(target, std::move(*attached.first), [session](const std::string& m) {
            if (ConsoleSession* s = session->load()) {
                QMetaObject::invokeMethod(
                    s, [s, text = QString::fromStdString(m)] { Q_EMIT s->problem(tr("Attached instance: %1").arg(text)); },
                    Qt::QueuedConnection);
            }
        });
        const QString name = tr("%1 (sluice-cli %2)").arg(qs(backend->baseUrl()), kind);
        auto store = std::make_unique<StoreClient>(target);
        auto created = std::make_unique<ConsoleSession>(name, std::move(backend), std::move(store), *vaultPtr);
        session->store(created.get());
        done(std::move(created), QString());
    });
}

ConsoleSession::ConsoleSession(QString name, std::unique_ptr<RemoteBackend> backend, std::unique_ptr<StoreClient> store,
                               KeyVault& vault)
    : m_name(std::move(name)),
      m_workspace(host::WorkspaceConfig::parse("attached instance", R"({"config":{}})")),
      m_store(std::move(store)),
      m_vault(vault)
{
    m_remote = backend.get();
    m_backend = std::move(backend);
    m_workspace.setPaused(m_backend->status().dispatch.paused);
    m_applyTimer.setSingleShot(true);
    m_applyTimer.setInterval(kAttachedApplyDelay);
    connect(&m_applyTimer, &QTimer::timeout, this, &ConsoleSession::applyPendingEdits);
    connect(m_store.get(), &StoreClient::storeError, this, &ConsoleSession::problem);
}

std::vector<LimitSpec> ConsoleSession::attachedLimits(const LimitTarget& t) const
{
    if (!t.provider.empty() && t.key.empty() && !t.model.empty()) {
        // A model on every key: what the provider's model settings say.
        const auto config = m_backend->config();
        const ProviderConfig* p = config->provider(t.provider);
        const ModelConfig* m = p != nullptr ? p->model(t.model) : nullptr;
        return m != nullptr ? m->limits : std::vector<LimitSpec>{};
    }
    const host::HostStatus status = m_backend->status();
    const auto child = [&](ScopeId parent, const std::string& name) -> std::optional<ScopeId> {
        for (const ScopeState& s : status.scopes) {
            if (s.parent == parent && s.name == name && !s.removed) {
                return s.id;
            }
        }
        return std::nullopt;
    };
    std::optional<ScopeId> scope;
    for (const ScopeState& s : status.scopes) {
        if (s.parent == kNoScope) {
            scope = s.id;
        }
    }
    for (const std::string* name : {&t.provider, &t.key, &t.model}) {
        if (scope && !name->empty()) {
            scope = child(*scope, *name);
        }
    }
    std::vector<LimitSpec> out;
    for (const ScopeState& s : status.scopes) {
        if (scope && s.id == *scope) {
            for (const DimensionState& d : s.dimensions) {
                out.push_back(d.spec);
            }
        }
    }
    return out;
}

void ConsoleSession::applyAttachedEdits()
{
    m_applyTimer.stop();
    auto pending = std::move(m_pending);
    m_pending.clear();
    int applied = 0;
    for (const auto& [key, fields] : pending) {
        const LimitTarget target{std::get<0>(key), std::get<1>(key), std::get<2>(key)};
        try {
            std::vector<LimitSpec> specs = currentLimits(target);
            for (const auto& [field, value] : fields) {
                specs = withLimitField(specs, field, value);
            }
            m_backend->setLimits(target, std::move(specs));
            ++applied;
        } catch (const std::exception& e) {
            Q_EMIT problem(tr("Limits not changed: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    if (applied > 0) {
        Q_EMIT limitsApplied(applied);
    }
}

}  // namespace sluice::ui
