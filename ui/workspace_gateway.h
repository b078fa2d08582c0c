// WorkspaceGateway: the gateway run by the console's open workspace, on
// the workspace's own engine (its EngineHost's dispatcher, so gateway
// traffic is admitted, metered and shown like any other). Its settings are
// the workspace's "gateway" section (listen address, hold time, tokens as
// SHA-256 digests) and whether it runs; every change is saved with the
// workspace, so the gateway starts again when the workspace is reopened.
// Limits and pause reach the running gateway at once, keeping what was
// counted; a token created or revoked is applied to the running gateway's
// token table at once, without disturbing requests under way.
// Stopping drains, as `sluice-cli serve` does on SIGTERM: new requests get
// 503 (the SDKs retry them), those under way run to their end, and the
// gateway stops when none is left or after kDrainLimit; stopping again
// while it drains stops at once. Closing the workspace stops at once.
//
// Thread-safety: GUI thread only. The ConsoleSession must outlive it.
#pragma once

#include "clients_source.h"
#include "console_session.h"
#include "gateway/gateway.h"

#include <QTimer>

#include <memory>
#include <optional>

namespace sluice::ui {

class WorkspaceGateway final : public ClientsSource {
    Q_OBJECT

public:
    // Starts the gateway when the workspace says it runs; a failure to
    // start is kept in gatewayState().error, not thrown.
    explicit WorkspaceGateway(ConsoleSession& session, QObject* parent = nullptr);
    ~WorkspaceGateway() override;

    GatewayState gatewayState() const override;
    std::vector<gateway::TenantRow> tenants() const override;
    QString startGateway(const QString& listen, double holdSeconds) override;
    QString stopGateway() override;
    QString createToken(const gateway::NewToken& token, Secret& value) override;
    QString revokeToken(const QString& name) override;
    QString setTenantLimit(const QString& name, host::LimitField field, std::optional<double> value) override;
    QString setTenantPaused(const QString& name, bool paused) override;

    std::uint16_t port() const;
    static constexpr Duration kDrainLimit = std::chrono::seconds(60);

private:
    // Starts (or restarts) from m_settings; the error, or empty.
    QString run();
    void halt();
    // While draining: stops once nothing is under way or the limit passed.
    void checkDrain();
    // Keeps `next` and gives the running gateway its tokens; the error, or
    // what saving said.
    QString applyTokens(gateway::GatewaySettings next);
    // Saves the settings (and whether the gateway runs) with the workspace.
    QString save(bool running);

    ConsoleSession& m_session;
    gateway::GatewaySettings m_settings;
    std::shared_ptr<gateway::TenantStats> m_stats;
    std::unique_ptr<gateway::Gateway> m_gateway;
    QString m_error;
    std::optional<TimePoint> m_drainingSince;  // on the host's clock
    std::size_t m_underWay = 0;                // as last shown
    QTimer m_drainPoll;
};

}  // namespace sluice::ui
