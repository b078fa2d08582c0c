// LimitsDialog: every limit of one scope in one form. On OK only the fields
// that changed go to ConsoleSession::editLimit (one deferred apply), so
// usage counted on the others is untouched. A model's limits may go to
// that model on every key of its provider instead of one key.
//
// Thread-safety: GUI thread only.
#pragma once

#include "dispatch/dispatch_types.h"
#include "host/workspace.h"

#include <QDialog>

#include <array>
#include <optional>

class QCheckBox;
class QDoubleSpinBox;

namespace sluice::ui {

// A limit's spin box (in this dialog and the limits table's editor) shows "no
// limit" at this value, below the smallest limit.
inline constexpr double kNoLimit = -1;

class ConsoleSession;

class LimitsDialog : public QDialog {
    Q_OBJECT

public:
    LimitsDialog(ConsoleSession& session, LimitTarget target, QWidget* parent = nullptr);

    void accept() override;

    // The editor a test types into.
    QDoubleSpinBox* editor(host::LimitField field) const;

private:
    ConsoleSession& m_session;
    LimitTarget m_target;
    std::array<QDoubleSpinBox*, host::kLimitFieldCount> m_editors{};
    std::array<std::optional<double>, host::kLimitFieldCount> m_initial{};
    QCheckBox* m_everyKey = nullptr;
};

}  // namespace sluice::ui
