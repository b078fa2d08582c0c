#include "clients_panel.h"

#include "format.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

namespace sluice::ui {

namespace {

constexpr int kNoLimit = 0;

std::optional<std::int64_t> limitOf(const std::vector<LimitSpec>& specs, Measure m)
{
    for (const LimitSpec& s : specs) {
        if (s.measure == m && (m == Measure::Concurrency || s.window == Window::Rolling)) {
            return s.limit;
        }
    }
    return std::nullopt;
}

// "12 / 60", or "12" without a limit.
QString ofLimit(std::int64_t value, std::optional<std::int64_t> limit)
{
    return limit ? QStringLiteral("%1 / %2").arg(formatCount(value), formatCount(*limit)) : formatCount(value);
}

QSpinBox* limitSpin(QWidget* parent, const char* name)
{
    auto* spin = new QSpinBox(parent);
    spin->setObjectName(QString::fromLatin1(name));
    spin->setRange(kNoLimit, 1'000'000'000);
    spin->setSpecialValueText(QApplication::translate("sluice::ui::ClientsPanel", "no limit"));
    spin->setGroupSeparatorShown(true);
    spin->setAlignment(Qt::AlignRight);
    return spin;
}

QSpinBox* labelled(QHBoxLayout* row, QWidget* parent, const QString& label, QSpinBox* spin)
{
    row->addWidget(new QLabel(label, parent));
    row->addWidget(spin);
    return spin;
}

}  // namespace

ClientsPanel::ClientsPanel(std::unique_ptr<ClientsSource> source, QWidget* parent)
    : LivePanel(std::chrono::milliseconds(500), parent), m_source(std::move(source))
{
    setObjectName(QStringLiteral("clientsPanel"));
    auto* layout = new QVBoxLayout(this);

    auto* gatewayRow = new QHBoxLayout;
    gatewayRow->addWidget(new QLabel(tr("Gateway on"), this));
    m_listen = new QLineEdit(this);
    m_listen->setObjectName(QStringLiteral("gatewayListen"));
    m_listen->setPlaceholderText(QStringLiteral("127.0.0.1:8080"));
    m_listen->setMaximumWidth(220);
    gatewayRow->addWidget(m_listen);
    gatewayRow->addWidget(new QLabel(tr("hold"), this));
    m_hold = new QDoubleSpinBox(this);
    m_hold->setObjectName(QStringLiteral("gatewayHold"));
    m_hold->setRange(0, 600);
    m_hold->setDecimals(1);
    m_hold->setSuffix(tr(" s"));
    m_hold->setToolTip(tr("How long a request waits for its budget before it is answered 429"));
    gatewayRow->addWidget(m_hold);
    m_startStop = new QPushButton(this);
    m_startStop->setObjectName(QStringLiteral("gatewayStartStop"));
    gatewayRow->addWidget(m_startStop);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("gatewayStatus"));
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status->setWordWrap(true);
    gatewayRow->addWidget(m_status, 1);
    layout->addLayout(gatewayRow);

    m_table = new QTableWidget(0, static_cast<int>(ClientColumn::Count), this);
    m_table->setObjectName(QStringLiteral("clientsTable"));
    m_table->setHorizontalHeaderLabels({tr("Token"), tr("Tenant"), tr("Priority"), tr("Requests/min"),
                                        tr("Tokens/min"), tr("Waiting"), tr("In flight"), tr("Wait p50"),
                                        tr("Wait p95"), tr("429s"), tr("Spend"), tr("State")});
    const QStringList tips = {
        tr("The gateway token's name (never its value)"),
        tr("The tenant its requests count under in metrics and the fair queue"),
        tr("Higher goes first"),
        tr("Requests admitted in the last 60 s / the token's requests per minute"),
        tr("Tokens of requests ended in the last 60 s / the token's tokens per minute"),
        tr("Requests held for the token's own budget now"),
        tr("Admitted by its budget and not ended (queued for a provider or sent) / its concurrency"),
        tr("Median wait from arrival to the first send, over the last 60 s"),
        tr("95th percentile of the same wait"),
        tr("429s the gateway handed out to this token since the start"),
        tr("Spend of its requests since the start"),
        tr("Paused: its requests wait, and get a 429 at the hold time"),
    };
    for (int c = 0; c < tips.size(); ++c) {
        m_table->horizontalHeaderItem(c)->setToolTip(tips[c]);
    }
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    layout->addWidget(m_table, 1);

    auto* editRow = new QHBoxLayout;
    m_newToken = new QPushButton(tr("New token…"), this);
    m_newToken->setObjectName(QStringLiteral("newTokenButton"));
    editRow->addWidget(m_newToken);
    m_revoke = new QPushButton(tr("Revoke"), this);
    m_revoke->setObjectName(QStringLiteral("revokeTokenButton"));
    editRow->addWidget(m_revoke);
    m_pause = new QPushButton(tr("Pause"), this);
    m_pause->setObjectName(QStringLiteral("pauseTenantButton"));
    editRow->addWidget(m_pause);
    editRow->addSpacing(24);
    m_rpm = labelled(editRow, this, tr("Requests/min"), limitSpin(this, "tenantRpm"));
    m_tpm = labelled(editRow, this, tr("Tokens/min"), limitSpin(this, "tenantTpm"));
    m_concurrency = labelled(editRow, this, tr("Concurrency"), limitSpin(this, "tenantConcurrency"));
    m_apply = new QPushButton(tr("Apply limits"), this);
    m_apply->setObjectName(QStringLiteral("applyTenantLimits"));
    m_apply->setToolTip(tr("Applied at once to the running gateway; what was already counted stays counted"));
    editRow->addWidget(m_apply);
    editRow->addStretch(1);
    layout->addLayout(editRow);

    auto* help = new QLabel(tr("Point an OpenAI or Anthropic SDK's base URL at the gateway (OpenAI: URL/v1) with a "
                               "token from here as its API key. Tokens are shown once; the workspace keeps only "
                               "their SHA-256."),
                            this);
    help->setWordWrap(true);
    layout->addWidget(help);

    connect(m_startStop, &QPushButton::clicked, this, [this] {
        if (m_source->gatewayState().running) {
            const QString error = m_source->stopGateway();
            const GatewayState after = m_source->gatewayState();
            report(error, after.draining ? tr("Gateway draining: %n request(s) under way run to their end first; "
                                              "Stop now stops at once.", nullptr, static_cast<int>(after.underWay))
                                         : tr("Gateway stopped."));
        } else {
            report(m_source->startGateway(m_listen->text(), m_hold->value()), QString());
        }
        refresh();
    });
    connect(m_newToken, &QPushButton::clicked, this, &ClientsPanel::showNewTokenDialog);
    connect(m_revoke, &QPushButton::clicked, this, [this] {
        const QString name = selectedToken();
        if (!name.isEmpty()) {
            report(m_source->revokeToken(name), tr("Gateway token %1 revoked.").arg(name));
            refresh();
        }
    });
    connect(m_pause, &QPushButton::clicked, this, [this] {
        const QString name = selectedToken();
        if (name.isEmpty()) {
            return;
        }
        bool paused = false;
        for (const gateway::TenantRow& r : m_source->tenants()) {
            if (qs(r.figures.token) == name) {
                paused = r.paused;
            }
        }
        report(m_source->setTenantPaused(name, !paused),
               paused ? tr("Gateway token %1 resumed.").arg(name)
                      : tr("Gateway token %1 paused: its requests are held, and answered 429 after the hold time.")
                            .arg(name));
        refresh();
    });
    connect(m_apply, &QPushButton::clicked, this, &ClientsPanel::applyLimits);
    connect(m_table, &QTableWidget::itemSelectionChanged, this, &ClientsPanel::loadEditors);
    connect(m_source.get(), &ClientsSource::stateChanged, this, &ClientsPanel::refresh);
    const GatewayState state = m_source->gatewayState();
    m_listen->setText(state.listen);
    m_hold->setValue(state.holdSeconds);
    refresh();
}

ClientsPanel::~ClientsPanel() = default;

void ClientsPanel::report(const QString& error, const QString& done)
{
    if (!error.isEmpty()) {
        Q_EMIT message(error);
    } else if (!done.isEmpty()) {
        Q_EMIT message(done);
    }
}

QString ClientsPanel::selectedToken() const
{
    const auto rows = m_table->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        return {};
    }
    const QTableWidgetItem* item = m_table->item(rows.first().row(), static_cast<int>(ClientColumn::Token));
    return item ? item->text() : QString();
}

void ClientsPanel::refreshState()
{
    const GatewayState state = m_source->gatewayState();
    m_startStop->setText(state.draining ? tr("Stop now") : state.running ? tr("Stop") : tr("Start"));
    m_listen->setEnabled(!state.running);
    m_hold->setEnabled(!state.running);
    if (state.running) {
        // What runs, whoever started it (this view, the workspace, a remote).
        m_listen->setText(state.listen);
        m_hold->setValue(state.holdSeconds);
    }
    QPalette p = m_status->palette();
    if (!state.error.isEmpty()) {
        m_status->setText(state.error);
        p.setColor(QPalette::WindowText, QColor(0xb0, 0x10, 0x10));
    } else if (state.draining) {
        m_status->setText(tr("Draining on %1: %n request(s) under way finish; new requests are answered 503 "
                             "(the SDKs retry them)", nullptr, static_cast<int>(state.underWay)).arg(state.url));
        p.setColor(QPalette::WindowText, palette().color(QPalette::WindowText));
    } else if (state.running) {
        m_status->setText(m_table->rowCount() == 0
                              ? tr("Listening on %1 with no tokens: anyone on this machine may use it").arg(state.url)
                              : tr("Listening on %1 — OpenAI SDKs: base URL %1/v1").arg(state.url));
        p.setColor(QPalette::WindowText, palette().color(QPalette::WindowText));
    } else {
        m_status->setText(tr("Not running"));
        p.setColor(QPalette::WindowText, palette().color(QPalette::WindowText));
    }
    m_status->setPalette(p);
}

void ClientsPanel::refresh()
{
    const std::vector<gateway::TenantRow> rows = m_source->tenants();
    const QString selected = selectedToken();
    const QSignalBlocker block(m_table);
    if (m_table->rowCount() != static_cast<int>(rows.size())) {
        m_table->setRowCount(static_cast<int>(rows.size()));
    }
    int selectRow = -1;
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
        const gateway::TenantRow& r = rows[static_cast<std::size_t>(i)];
        const gateway::TenantFigures& f = r.figures;
        const auto set = [&](ClientColumn c, const QString& text, bool right = true) {
            QTableWidgetItem* item = m_table->item(i, static_cast<int>(c));
            if (item == nullptr) {
                item = new QTableWidgetItem;
                item->setTextAlignment(right ? Qt::AlignRight | Qt::AlignVCenter : Qt::AlignLeft | Qt::AlignVCenter);
                m_table->setItem(i, static_cast<int>(c), item);
            }
            if (item->text() != text) {
                item->setText(text);
            }
        };
        set(ClientColumn::Token, qs(f.token), false);
        set(ClientColumn::Tenant, qs(r.tenant), false);
        set(ClientColumn::Priority, QString::number(r.priority));
        set(ClientColumn::Requests, ofLimit(f.requestsLastMinute, limitOf(r.limits, Measure::Requests)));
        set(ClientColumn::Tokens, ofLimit(f.tokensLastMinute, limitOf(r.limits, Measure::TotalTokens)));
        set(ClientColumn::Waiting, formatCount(f.waiting));
        set(ClientColumn::InFlight, ofLimit(f.inFlight, limitOf(r.limits, Measure::Concurrency)));
        set(ClientColumn::WaitP50, formatSeconds(std::chrono::duration<double>(f.waitP50).count()));
        set(ClientColumn::WaitP95, formatSeconds(std::chrono::duration<double>(f.waitP95).count()));
        set(ClientColumn::Refused, formatCount(static_cast<std::int64_t>(f.refused)));
        set(ClientColumn::Spend, formatUsd(f.spendMicroUsd));
        set(ClientColumn::State, r.paused ? tr("paused") : tr("active"), false);
        if (qs(f.token) == selected) {
            selectRow = i;
        }
    }
    if (selectRow >= 0) {
        m_table->selectRow(selectRow);
    } else if (!selected.isEmpty()) {
        m_table->clearSelection();
    }
    const QString now = selectedToken();
    m_revoke->setEnabled(!now.isEmpty());
    m_pause->setEnabled(!now.isEmpty());
    m_apply->setEnabled(!now.isEmpty());
    bool paused = false;
    for (const gateway::TenantRow& r : rows) {
        if (qs(r.figures.token) == now) {
            paused = r.paused;
        }
    }
    m_pause->setText(paused ? tr("Resume") : tr("Pause"));
    if (now != m_editorsFor) {
        loadEditors();
    }
    refreshState();
}

void ClientsPanel::loadEditors()
{
    const QString name = selectedToken();
    m_editorsFor = name;
    for (const gateway::TenantRow& r : m_source->tenants()) {
        if (qs(r.figures.token) != name) {
            continue;
        }
        const auto load = [&](QSpinBox* spin, Measure m) {
            spin->setValue(static_cast<int>(std::min<std::int64_t>(limitOf(r.limits, m).value_or(kNoLimit), spin->maximum())));
        };
        load(m_rpm, Measure::Requests);
        load(m_tpm, Measure::TotalTokens);
        load(m_concurrency, Measure::Concurrency);
    }
    m_revoke->setEnabled(!name.isEmpty());
    m_pause->setEnabled(!name.isEmpty());
    m_apply->setEnabled(!name.isEmpty());
}

void ClientsPanel::applyLimits()
{
    const QString name = selectedToken();
    if (name.isEmpty()) {
        return;
    }
    const auto value = [](const QSpinBox* spin) {
        return spin->value() == kNoLimit ? std::optional<double>() : std::optional<double>(spin->value());
    };
    for (const auto& [field, spin] : {std::pair{host::LimitField::Rpm, m_rpm}, std::pair{host::LimitField::Tpm, m_tpm},
                                      std::pair{host::LimitField::Concurrency, m_concurrency}}) {
        const QString error = m_source->setTenantLimit(name, field, value(spin));
        if (!error.isEmpty()) {
            Q_EMIT message(error);
            return;
        }
    }
    Q_EMIT message(tr("Limits of gateway token %1 applied.").arg(name));
    refresh();
}

void ClientsPanel::showNewTokenDialog()
{
    auto* dialog = new NewTokenDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const gateway::NewToken token = dialog->token();
        Secret value;
        const QString error = m_source->createToken(token, value);
        if (!error.isEmpty() && value.view().empty()) {
            Q_EMIT message(error);
            return;
        }
        if (!error.isEmpty()) {
            Q_EMIT message(error);
        }
        auto* shown = new TokenShownDialog(qs(token.name), value, this);
        shown->setAttribute(Qt::WA_DeleteOnClose);
        shown->open();
        refresh();
    });
    dialog->open();
}

NewTokenDialog::NewTokenDialog(QWidget* parent) : QDialog(parent)
{
    setObjectName(QStringLiteral("newTokenDialog"));
    setWindowTitle(tr("New gateway token"));
    auto* form = new QFormLayout(this);
    const auto line = [this](const char* name, const QString& placeholder) {
        auto* e = new QLineEdit(this);
        e->setObjectName(QString::fromLatin1(name));
        e->setPlaceholderText(placeholder);
        return e;
    };
    m_name = line("newTokenName", tr("e.g. billing-service"));
    m_tenant = line("newTokenTenant", tr("the name, if empty"));
    m_priority = new QSpinBox(this);
    m_priority->setObjectName(QStringLiteral("newTokenPriority"));
    m_priority->setRange(-1000, 1000);
    m_rpm = limitSpin(this, "newTokenRpm");
    m_tpm = limitSpin(this, "newTokenTpm");
    m_models = line("newTokenModels", tr("every model, if empty; else comma-separated"));
    form->addRow(tr("Name"), m_name);
    form->addRow(tr("Tenant"), m_tenant);
    form->addRow(tr("Priority"), m_priority);
    form->addRow(tr("Requests/min"), m_rpm);
    form->addRow(tr("Tokens/min"), m_tpm);
    form->addRow(tr("Models"), m_models);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->setObjectName(QStringLiteral("newTokenButtons"));
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

gateway::NewToken NewTokenDialog::token() const
{
    gateway::NewToken t;
    t.name = m_name->text().trimmed().toStdString();
    t.tenant = m_tenant->text().trimmed().toStdString();
    t.priority = m_priority->value();
    if (m_rpm->value() != kNoLimit) {
        t.limits.emplace_back(host::LimitField::Rpm, m_rpm->value());
    }
    if (m_tpm->value() != kNoLimit) {
        t.limits.emplace_back(host::LimitField::Tpm, m_tpm->value());
    }
    for (const QString& m : m_models->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        if (!m.trimmed().isEmpty()) {
            t.models.push_back(m.trimmed().toStdString());
        }
    }
    return t;
}

TokenShownDialog::TokenShownDialog(const QString& name, const Secret& value, QWidget* parent) : QDialog(parent)
{
    setObjectName(QStringLiteral("tokenShownDialog"));
    setWindowTitle(tr("Gateway token %1").arg(name));
    auto* layout = new QVBoxLayout(this);
    auto* text = new QLabel(tr("This is the only time this token is shown: copy it now. The workspace keeps only "
                               "its SHA-256, so it cannot be shown again; revoke it and make another if it is lost."),
                            this);
    text->setWordWrap(true);
    layout->addWidget(text);
    auto* row = new QHBoxLayout;
    auto* field = new QLineEdit(QString::fromUtf8(value.view().data(), static_cast<qsizetype>(value.view().size())), this);
    field->setObjectName(QStringLiteral("tokenValue"));
    field->setReadOnly(true);
    field->setMinimumWidth(520);
    row->addWidget(field, 1);
    auto* copy = new QPushButton(tr("Copy"), this);
    copy->setObjectName(QStringLiteral("copyToken"));
    row->addWidget(copy);
    layout->addLayout(row);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    layout->addWidget(buttons);
    connect(copy, &QPushButton::clicked, this, [field] { QGuiApplication::clipboard()->setText(field->text()); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

}  // namespace sluice::ui
