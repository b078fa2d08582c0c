// ClientsPanel: the "Clients" tab. The gateway's controls (listen address,
// hold time, start and stop, why it is not running) and one row per gateway
// token, live: requests and tokens in the last minute against the token's
// limits, requests held and in flight, p50/p95 wait before admission, the
// 429s handed out, spend, paused or not. Below, the selected token's limits
// (requests, tokens a minute, concurrency) are edited and applied at once,
// kept usage and all; it is paused or resumed, revoked; new tokens are
// made in a dialog and shown once.
//
// It reads and commands only a ClientsSource, so it can be fed by the
// workspace's own gateway or a remote one.
//
// Thread-safety: GUI thread only.
#pragma once

#include "clients_source.h"
#include "live_panel.h"

#include <QDialog>

class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace sluice::ui {

// The column of each figure in the table.
enum class ClientColumn : int {
    Token, Tenant, Priority, Requests, Tokens, Waiting, InFlight, WaitP50, WaitP95, Refused, Spend, State, Count
};

class ClientsPanel : public LivePanel {
    Q_OBJECT

public:
    // Takes ownership of `source`.
    explicit ClientsPanel(std::unique_ptr<ClientsSource> source, QWidget* parent = nullptr);
    ~ClientsPanel() override;

    ClientsSource& source() { return *m_source; }

public Q_SLOTS:
    void refresh() override;
    // Opens the new-token dialog (window-modal, not blocking).
    void showNewTokenDialog();

Q_SIGNALS:
    // A message for the status bar (errors included).
    void message(const QString& text);

private:
    void refreshState();
    void loadEditors();
    QString selectedToken() const;
    void applyLimits();
    void report(const QString& error, const QString& done);

    std::unique_ptr<ClientsSource> m_source;
    QLineEdit* m_listen = nullptr;
    QDoubleSpinBox* m_hold = nullptr;
    QPushButton* m_startStop = nullptr;
    QLabel* m_status = nullptr;
    QTableWidget* m_table = nullptr;
    QPushButton* m_newToken = nullptr;
    QPushButton* m_revoke = nullptr;
    QPushButton* m_pause = nullptr;
    QSpinBox* m_rpm = nullptr;
    QSpinBox* m_tpm = nullptr;
    QSpinBox* m_concurrency = nullptr;
    QPushButton* m_apply = nullptr;
    QString m_editorsFor;  // the token whose limits the editors show
};

// Asks for a new token's name, tenant, priority, limits and models.
class NewTokenDialog : public QDialog {
    Q_OBJECT

public:
    explicit NewTokenDialog(QWidget* parent = nullptr);
    gateway::NewToken token() const;

private:
    QLineEdit* m_name = nullptr;
    QLineEdit* m_tenant = nullptr;
    QSpinBox* m_priority = nullptr;
    QSpinBox* m_rpm = nullptr;
    QSpinBox* m_tpm = nullptr;
    QLineEdit* m_models = nullptr;
};

// Shows a new token's value once, with a button that copies it.
class TokenShownDialog : public QDialog {
    Q_OBJECT

public:
    TokenShownDialog(const QString& name, const Secret& value, QWidget* parent = nullptr);
};

}  // namespace sluice::ui
