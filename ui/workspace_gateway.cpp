#include "workspace_gateway.h"

#include "format.h"

#include "shared/shared_directory.h"

namespace sluice::ui {

WorkspaceGateway::WorkspaceGateway(ConsoleSession& session, QObject* parent)
    : ClientsSource(parent), m_session(session),
      m_settings(session.workspace().gatewaySection(), processEnvironment()),
      m_stats(std::make_shared<gateway::TenantStats>(session.host().clock()))
{
    m_drainPoll.setInterval(200);
    connect(&m_drainPoll, &QTimer::timeout, this, &WorkspaceGateway::checkDrain);
    if (session.workspace().gatewayRunning()) {
        m_error = run();
    }
}

WorkspaceGateway::~WorkspaceGateway()
{
    halt();
}

GatewayState WorkspaceGateway::gatewayState() const
{
    GatewayState s;
    s.running = m_gateway != nullptr;
    s.error = m_error;
    s.listen = qs(m_settings.listen());
    s.holdSeconds = m_settings.holdSeconds();
    s.draining = m_gateway != nullptr && m_drainingSince.has_value();
    if (s.draining) {
        s.underWay = m_gateway->requestsUnderWay();
    }
    if (m_gateway) {
        std::string host = "127.0.0.1";
        std::uint16_t port = 0;
        try {
            gateway::parseListen(m_settings.listen(), "listen", host, port);
        } catch (const std::exception&) {
            // Running means it was read before; keep the default host.
        }
        const bool v6 = host.find(':') != std::string::npos;
        s.url = QStringLiteral("http://%1:%2").arg(v6 ? QStringLiteral("[%1]").arg(qs(host)) : qs(host)).arg(m_gateway->port());
    }
    return s;
}

std::vector<gateway::TenantRow> WorkspaceGateway::tenants() const
{
    if (m_gateway) {
        return m_gateway->tenants();
    }
    // Stopped: the tokens as configured, with the figures kept so far.
    std::vector<gateway::TenantRow> rows;
    gateway::GatewayConfig cfg;
    try {
        cfg = m_settings.config();
    } catch (const std::exception&) {
        return rows;
    }
    const auto figures = m_stats->snapshot();
    for (const gateway::GatewayToken& t : cfg.tokens) {
        gateway::TenantRow row;
        row.figures.token = t.name;
        for (const gateway::TenantFigures& f : figures) {
            if (f.token == t.name) {
                row.figures = f;
            }
        }
        row.tenant = t.tenant;
        row.priority = t.priority;
        row.models.assign(t.models.begin(), t.models.end());
        row.limits = t.limits;
        row.paused = t.paused;
        rows.push_back(std::move(row));
    }
    return rows;
}

std::uint16_t WorkspaceGateway::port() const
{
    return m_gateway ? m_gateway->port() : 0;
}

void WorkspaceGateway::halt()
{
    m_drainPoll.stop();
    m_drainingSince.reset();
    if (m_gateway) {
        m_gateway->stop();
        m_gateway.reset();
    }
}

QString WorkspaceGateway::run()
{
    halt();
    try {
        auto gw = std::make_unique<gateway::Gateway>(m_settings.config(), m_session.host().dispatcher(),
                                                     m_session.host().clock(), 1, m_stats);
        if (const auto config = m_session.host().config(); config->shared) {
            // As sluice-cli serve does: gateways of one namespace find each
            // other's stored responses.
            gw->shareResponseOwners(shared::sharedDirectoryStore(m_session.host().clock(), *config->shared,
                                                                 std::string(gateway::kSharedOwnersSection),
                                                                 gateway::kSharedOwnersTtl));
        }
        gw->start();
        m_gateway = std::move(gw);
    } catch (const std::exception& e) {
        return tr("The gateway could not start on %1: %2").arg(qs(m_settings.listen()), QString::fromUtf8(e.what()));
    }
    return {};
}

QString WorkspaceGateway::save(bool running)
{
    const nlohmann::json section = m_settings.section();
    return m_session.editWorkspace([&](host::WorkspaceConfig& w) {
        w.setGatewaySection(section);
        w.setGatewayRunning(running);
    });
}

QString WorkspaceGateway::startGateway(const QString& listen, double holdSeconds)
{
    gateway::GatewaySettings next = m_settings;
    try {
        next.setListen(listen.trimmed().toStdString());
        next.setHoldSeconds(holdSeconds);
        if (std::string why = gateway::checkExposure(next.config()); !why.empty()) {
            throw InputError(why);
        }
    } catch (const std::exception& e) {
        m_error = QString::fromUtf8(e.what());
        Q_EMIT stateChanged();
        return m_error;
    }
    m_settings = std::move(next);
    m_error = run();
    // Saved either way: the address is what the operator chose; it runs at
    // the next open only if it runs now.
    const QString saved = save(m_error.isEmpty());
    Q_EMIT stateChanged();
    return m_error.isEmpty() ? saved : m_error;
}

QString WorkspaceGateway::stopGateway()
{
    m_error.clear();
    if (m_gateway && !m_drainingSince) {
        m_gateway->drain();
        m_drainingSince = m_session.host().clock().now();
        m_drainPoll.start();
        checkDrain();  // nothing under way: stops now
    } else {
        halt();  // stopped again while draining: at once
    }
    const QString saved = save(false);
    Q_EMIT stateChanged();
    return saved;
}

void WorkspaceGateway::checkDrain()
{
    if (!m_gateway || !m_drainingSince) {
        m_drainPoll.stop();
        return;
    }
    const std::size_t underWay = m_gateway->requestsUnderWay();
    if (underWay == 0 || m_session.host().clock().now() - *m_drainingSince >= kDrainLimit) {
        halt();
    } else if (underWay == m_underWay) {
        return;  // nothing new to show
    }
    m_underWay = underWay;
    Q_EMIT stateChanged();
}

QString WorkspaceGateway::createToken(const gateway::NewToken& token, Secret& value)
{
    gateway::GatewaySettings next = m_settings;
    try {
        value = next.addToken(token);
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return applyTokens(std::move(next));
}

QString WorkspaceGateway::revokeToken(const QString& name)
{
    gateway::GatewaySettings next = m_settings;
    try {
        next.removeToken(name.toStdString());
        if (std::string why = gateway::checkExposure(next.config()); !why.empty() && m_gateway) {
            throw InputError(why);
        }
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return applyTokens(std::move(next));
}

QString WorkspaceGateway::applyTokens(gateway::GatewaySettings next)
{
    if (m_gateway) {
        // Live: other tenants' requests under way are not disturbed.
        try {
            m_gateway->setTokens(next.config().tokens);
        } catch (const std::exception& e) {
            return QString::fromUtf8(e.what());
        }
    }
    m_settings = std::move(next);
    const QString saved = save(m_gateway != nullptr);
    Q_EMIT stateChanged();
    return saved;
}

QString WorkspaceGateway::setTenantLimit(const QString& name, host::LimitField field, std::optional<double> value)
{
    gateway::GatewaySettings next = m_settings;
    std::vector<LimitSpec> limits;
    try {
        limits = next.setTokenLimit(name.toStdString(), field, value);
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    m_settings = std::move(next);
    if (m_gateway) {
        m_gateway->setTenantLimits(name.toStdString(), limits);
    }
    return save(m_gateway != nullptr);
}

QString WorkspaceGateway::setTenantPaused(const QString& name, bool paused)
{
    gateway::GatewaySettings next = m_settings;
    try {
        next.setTokenPaused(name.toStdString(), paused);
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    m_settings = std::move(next);
    if (m_gateway) {
        m_gateway->setTenantPaused(name.toStdString(), paused);
    }
    return save(m_gateway != nullptr);
}

}  // namespace sluice::ui
