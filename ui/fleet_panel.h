// FleetPanel: every instance sharing the workspace's Redis namespace (its
// configuration's "shared" section): program, host, pid, requests and
// tokens per minute, in flight and queued, and how long ago it last beat;
// the state of the link to Redis; and a limit change applied to every
// instance at once (stored, versioned, in the namespace and signalled, so
// serve, batch and worker processes take it within a loop of their
// dispatchers), and to this console's own engine and workspace file.
// Without "shared" it says how to add one.
//
// Redis is read and written off the GUI thread (QtConcurrent); one read at
// a time.
//
// Thread-safety: GUI thread only.
#pragma once

#include "config/config.h"
#include "live_panel.h"
#include "shared/fleet_registry.h"

#include <memory>
#include <optional>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;

namespace sluice::shared {
class SignalBridge;
}

namespace sluice::ui {

class ConsoleSession;

class FleetPanel : public LivePanel {
    Q_OBJECT

public:
    explicit FleetPanel(ConsoleSession& session, QWidget* parent = nullptr);
    ~FleetPanel() override;

public Q_SLOTS:
    void refresh() override;

private:
    void showFleet(const std::vector<shared::FleetMember>& fleet, const QString& error);
    void applyToFleet();
    void fillTargets();

    ConsoleSession& m_session;
    std::optional<SharedConfig> m_shared;
    // Shared with a change under way off the GUI thread, which may outlive
    // the panel.
    std::shared_ptr<shared::SignalBridge> m_bridge;
    bool m_reading = false;
    QLabel* m_status = nullptr;
    QTableWidget* m_table = nullptr;
    QComboBox* m_provider = nullptr;
    QLineEdit* m_key = nullptr;
    QLineEdit* m_model = nullptr;
    QComboBox* m_field = nullptr;
    QDoubleSpinBox* m_value = nullptr;
    QPushButton* m_apply = nullptr;
    QLabel* m_applied = nullptr;
};

}  // namespace sluice::ui
