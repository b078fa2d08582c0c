// OpenWorkspaceDialog: Workspace → Open…, the workspaces in the data
// directory by name, the one open now marked; choosing one opens it.
//
// Thread-safety: GUI thread only.
#pragma once

#include <QDialog>
#include <QStringList>

class QListWidget;

namespace sluice::ui {

class OpenWorkspaceDialog : public QDialog {
    Q_OBJECT

public:
    OpenWorkspaceDialog(const QStringList& names, const QString& current, QWidget* parent = nullptr);
    // The chosen name; empty when none.
    QString chosen() const;

private:
    QListWidget* m_list = nullptr;
};

}  // namespace sluice::ui
