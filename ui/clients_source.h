// ClientsSource: what the Clients view reads and changes, whoever runs the
// gateway: its state (listening, where, or why not), every gateway token
// with its live figures and budget, and the operator's commands (start,
// stop, tokens created and revoked, a tenant's limits, pause). The view
// takes only this, so the same view can show the workspace's own gateway
// (WorkspaceGateway) or, later, one of a remote instance.
//
// Thread-safety: GUI thread only. Reads must be cheap (short locks): the
// view calls them on its refresh timer.
#pragma once

#include "core/secret.h"
#include "gateway/gateway_settings.h"
#include "gateway/tenant_stats.h"
#include "host/workspace.h"

#include <QObject>
#include <QString>

#include <optional>
#include <vector>

namespace sluice::ui {

struct GatewayState {
    bool running = false;
    QString url;      // "http://127.0.0.1:8080" while running
    QString error;    // why it is not running, when it should be
    QString listen;   // as configured, "HOST:PORT"
    double holdSeconds = 30;
    // Stopping: new requests get 503 while those under way finish.
    bool draining = false;
    std::size_t underWay = 0;  // requests under way, while draining
};

class ClientsSource : public QObject {
    Q_OBJECT

public:
    using QObject::QObject;

    virtual GatewayState gatewayState() const = 0;
    virtual std::vector<gateway::TenantRow> tenants() const = 0;

    // Each returns what went wrong (and then changed nothing), or an empty
    // string.
    virtual QString startGateway(const QString& listen, double holdSeconds) = 0;
    virtual QString stopGateway() = 0;
    // `value` receives the new token, to be shown once.
    virtual QString createToken(const gateway::NewToken& token, Secret& value) = 0;
    virtual QString revokeToken(const QString& name) = 0;
    virtual QString setTenantLimit(const QString& name, host::LimitField field, std::optional<double> value) = 0;
    virtual QString setTenantPaused(const QString& name, bool paused) = 0;

Q_SIGNALS:
    // Started, stopped, or its tokens changed.
    void stateChanged();
};

}  // namespace sluice::ui
