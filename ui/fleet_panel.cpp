#include "fleet_panel.h"

#include "console_session.h"
#include "format.h"
#include "host/engine_host.h"
#include "host/workspace.h"
#include "shared/shared_membership.h"
#include "shared/signal_bridge.h"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <random>

#include <unistd.h>

namespace sluice::ui {

namespace {

enum Column { Program, Host, Pid, Rpm, Tpm, InFlight, Queued, Seen, Id, ColumnCount };

struct FleetRead {
    std::vector<shared::FleetMember> fleet;
    QString error;
};

// What the engine enforces now for `target` (learned limits included), the
// base a field edit starts from when the file has no limits for it.
std::vector<LimitSpec> enforced(const Admission& admission, const LimitTarget& t)
{
    ScopeId scope = Admission::root();
    for (const std::string& name : {t.provider, t.key, t.model}) {
        if (name.empty()) {
            continue;
        }
        const auto next = admission.findScope(scope, name);
        if (!next) {
            return {};
        }
        scope = *next;
    }
    std::vector<LimitSpec> out;
    for (const auto& d : admission.snapshot(scope).dimensions) {
        out.push_back(d.spec);
    }
    return out;
}

std::string consoleInstanceId()
{
    std::random_device rd;
    return "console-" + std::to_string(::getpid()) + "-" + std::to_string(rd() & 0xffff);
}

}  // namespace

FleetPanel::FleetPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(std::chrono::milliseconds(1000), parent), m_session(session)
{
    setObjectName(QStringLiteral("fleetPanel"));
    auto* layout = new QVBoxLayout(this);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("fleetStatus"));
    m_status->setWordWrap(true);
    layout->addWidget(m_status);

    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName(QStringLiteral("fleetTable"));
    m_table->setHorizontalHeaderLabels({tr("Program"), tr("Host"), tr("PID"), tr("Requests/min"), tr("Tokens/min"),
                                        tr("In flight"), tr("Queued"), tr("Last seen"), tr("Instance")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    layout->addWidget(m_table, 1);

    auto* change = new QHBoxLayout;
    m_provider = new QComboBox(this);
    m_provider->setObjectName(QStringLiteral("fleetProvider"));
    m_key = new QLineEdit(this);
    m_key->setObjectName(QStringLiteral("fleetKey"));
    m_key->setPlaceholderText(tr("every key"));
    m_model = new QLineEdit(this);
    m_model->setObjectName(QStringLiteral("fleetModel"));
    m_model->setPlaceholderText(tr("every model"));
    m_field = new QComboBox(this);
    m_field->setObjectName(QStringLiteral("fleetField"));
    for (int i = 0; i < host::kLimitFieldCount; ++i) {
        m_field->addItem(qs(host::limitFieldName(static_cast<host::LimitField>(i))), i);
    }
    m_field->setCurrentIndex(static_cast<int>(host::LimitField::Rpm));
    m_value = new QDoubleSpinBox(this);
    m_value->setObjectName(QStringLiteral("fleetValue"));
    m_value->setRange(0, 1e12);
    m_value->setDecimals(2);
    m_apply = new QPushButton(tr("Apply to every instance"), this);
    m_apply->setObjectName(QStringLiteral("fleetApply"));
    change->addWidget(new QLabel(tr("Limit:"), this));
    change->addWidget(m_provider);
    change->addWidget(m_key);
    change->addWidget(m_model);
    change->addWidget(m_field);
    change->addWidget(m_value);
    change->addWidget(m_apply);
    layout->addLayout(change);
    m_applied = new QLabel(this);
    m_applied->setObjectName(QStringLiteral("fleetApplied"));
    m_applied->setWordWrap(true);
    layout->addWidget(m_applied);
    connect(m_apply, &QPushButton::clicked, this, &FleetPanel::applyToFleet);

    const auto config = m_session.host().config();
    if (config && config->shared) {
        m_shared = config->shared;
        // Subscribed in the background; the console only sends on it.
        m_bridge = std::make_shared<shared::SignalBridge>(shared::endpointOf(*m_shared), m_shared->ns,
                                                          consoleInstanceId());
        m_status->setText(tr("Namespace %1 at redis://%2:%3/%4: reading…")
                              .arg(qs(m_shared->ns), qs(m_shared->host))
                              .arg(m_shared->port)
                              .arg(m_shared->db));
    } else {
        m_status->setText(tr("This workspace shares nothing: add a \"shared\" section (a Redis URL and a namespace) "
                             "to its configuration to see and steer every instance sharing its limits "
                             "(docs/configuration.md)."));
        m_apply->setEnabled(false);
    }
    fillTargets();
}

FleetPanel::~FleetPanel() = default;

void FleetPanel::fillTargets()
{
    m_provider->clear();
    if (const auto config = m_session.host().config()) {
        for (const ProviderConfig& p : config->providers) {
            if (!p.removed) {
                m_provider->addItem(qs(p.name));
            }
        }
    }
}

void FleetPanel::refresh()
{
    if (!m_shared || m_reading) {
        return;
    }
    m_reading = true;
    const shared::RedisEndpoint endpoint = shared::endpointOf(*m_shared);
    const std::string ns = m_shared->ns;
    QPointer<FleetPanel> self(this);
    QtConcurrent::run([endpoint, ns] {
        FleetRead r;
        try {
            shared::RedisConnection conn(endpoint);
            r.fleet = shared::listFleet(conn, ns);
        } catch (const shared::RedisError& e) {
            r.error = QString::fromUtf8(e.what());
        }
        return r;
    }).then(this, [self](FleetRead r) {
        if (self) {
            self->m_reading = false;
            self->showFleet(r.fleet, r.error);
        }
    });
}

void FleetPanel::showFleet(const std::vector<shared::FleetMember>& fleet, const QString& error)
{
    const QString where =
        tr("Namespace %1 at redis://%2:%3/%4").arg(qs(m_shared->ns), qs(m_shared->host)).arg(m_shared->port).arg(m_shared->db);
    // This console's own engine is a member too: its state, loudly when it
    // is running on a fallback.
    const host::SharedLinkStatus own = m_session.host().status().shared;
    const QString ownLine = own.active ? QStringLiteral("\n") + tr("This console's engine: %1").arg(qs(host::sharedStatusLine(own)))
                                       : QString();
    m_status->setStyleSheet(own.fallback || own.stopped ? QStringLiteral("color: #b00020; font-weight: bold;") : QString());
    if (!error.isEmpty()) {
        m_status->setText(tr("%1: Redis unreachable (%2); the instances keep their configured fallback.").arg(where, error) +
                          ownLine);
        return;
    }
    const bool signalling = m_bridge && m_bridge->subscribed();
    m_status->setText(tr("%1: %n instance(s) sharing; signals %2.", nullptr, static_cast<int>(fleet.size()))
                          .arg(where, signalling ? tr("connected") : tr("connecting")) +
                      ownLine);
    m_table->setRowCount(static_cast<int>(fleet.size()));
    const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
    for (int row = 0; row < static_cast<int>(fleet.size()); ++row) {
        const shared::FleetMember& m = fleet[static_cast<std::size_t>(row)];
        const auto set = [&](int column, const QString& text) {
            auto* item = new QTableWidgetItem(text);
            if (column >= Pid && column <= Queued) {
                item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            }
            m_table->setItem(row, column, item);
        };
        set(Program, m.id == own.instanceId ? tr("%1 (this console)").arg(qs(m.program)) : qs(m.program));
        set(Host, qs(m.host));
        set(Pid, QString::number(m.pid));
        set(Rpm, formatRate(m.load.requestsPerMinute));
        set(Tpm, formatRate(m.load.tokensPerMinute));
        set(InFlight, formatCount(m.load.inFlight));
        set(Queued, formatCount(m.load.queued));
        set(Seen, tr("%1 s ago").arg(std::max<qint64>(0, nowMs - m.heartbeatMs) / 1000.0, 0, 'f', 1));
        set(Id, qs(m.id));
    }
}

void FleetPanel::applyToFleet()
{
    if (!m_bridge || m_provider->currentIndex() < 0) {
        return;
    }
    const LimitTarget target{m_provider->currentText().toStdString(), m_key->text().trimmed().toStdString(),
                             m_model->text().trimmed().toStdString()};
    const auto field = static_cast<host::LimitField>(m_field->currentData().toInt());
    const double value = m_value->value();
    std::vector<LimitSpec> specs;
    try {
        // The target's limits with this one field changed, as the console's
        // own editor would set them.
        host::WorkspaceConfig next = m_session.workspace();
        specs = next.setLimit(target, field, value, enforced(m_session.host().admission(), target));
    } catch (const std::exception& e) {
        m_applied->setText(tr("Not changed: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    // This console's engine and workspace file, through the usual editor.
    m_session.editLimit(target, field, value);
    m_apply->setEnabled(false);
    m_applied->setText(tr("Applying…"));
    std::shared_ptr<shared::SignalBridge> bridge = m_bridge;
    QPointer<FleetPanel> self(this);
    QtConcurrent::run([bridge, target, specs] {
        try {
            return tr("Applied to every instance of the namespace (change %1).").arg(bridge->changeLimits(target, specs));
        } catch (const std::exception& e) {
            return tr("Applied here only; the other instances were not told: %1").arg(QString::fromUtf8(e.what()));
        }
    }).then(this, [self](const QString& text) {
        if (self) {
            self->m_applied->setText(text);
            self->m_apply->setEnabled(true);
        }
    });
}

}  // namespace sluice::ui
