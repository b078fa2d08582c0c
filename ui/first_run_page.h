// FirstRunPage: what `sluice` shows when there is no workspace to reopen:
// try the demo (the built-in mock provider, nothing to set up), or connect
// a provider (a new workspace with one provider and one key, whose value
// goes to the keychain or stays in an environment variable).
//
// Thread-safety: GUI thread only.
#pragma once

#include "host/workspace.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QRadioButton;

namespace sluice::ui {

class KeyVault;

class FirstRunPage : public QWidget {
    Q_OBJECT

public:
    // `dataHome`: where workspaces live, so an existing name is refused
    // before anything (the keychain included) is written.
    FirstRunPage(KeyVault& vault, QString dataHome, QWidget* parent = nullptr);

Q_SIGNALS:
    void demoRequested();
    // A new workspace to create and open.
    void connectRequested(const QString& name, const sluice::host::WorkspaceConfig& workspace);

private:
    void connectProvider();
    void updateSource();

    KeyVault& m_vault;
    QString m_dataHome;
    QLineEdit* m_workspace = nullptr;
    QLineEdit* m_provider = nullptr;
    QComboBox* m_flavor = nullptr;
    QLineEdit* m_baseUrl = nullptr;
    QLineEdit* m_keyName = nullptr;
    QRadioButton* m_useKeychain = nullptr;
    QRadioButton* m_useEnv = nullptr;
    QLineEdit* m_secret = nullptr;
    QLineEdit* m_envVar = nullptr;
    QLabel* m_note = nullptr;
    QLabel* m_error = nullptr;
};

}  // namespace sluice::ui
