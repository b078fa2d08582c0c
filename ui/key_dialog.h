// KeyDialog: adds an API key to a provider, or a provider with its first
// key. The key's value goes to the system keychain, or stays in an
// environment variable the dialog names; where no keychain service runs,
// the dialog says so and offers only the environment variable.
//
// It asks; ConsoleSession does. accept() is refused (with the reason in the
// dialog) until the session has applied the change.
//
// Thread-safety: GUI thread only.
#pragma once

#include "console_session.h"
#include "providers/protocol.h"

#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;
class QRadioButton;

namespace sluice::ui {

class KeyDialog : public QDialog {
    Q_OBJECT

public:
    enum class Mode : std::uint8_t { NewKey, NewProvider };

    KeyDialog(ConsoleSession& session, Mode mode, const QString& provider, QWidget* parent = nullptr);

    void accept() override;

private:
    void updateSource();
    void keyResolved(const QString& provider, const ConsoleSession::ResolvedKey& key, const QString& error);
    void finished(const QString& error);

    ConsoleSession& m_session;
    Mode m_mode;
    QLineEdit* m_provider = nullptr;
    QComboBox* m_flavor = nullptr;
    QLineEdit* m_baseUrl = nullptr;
    QLineEdit* m_keyName = nullptr;
    QRadioButton* m_useKeychain = nullptr;
    QRadioButton* m_useEnv = nullptr;
    QLineEdit* m_secret = nullptr;
    QLineEdit* m_envVar = nullptr;
    QLabel* m_keychainNote = nullptr;
    QLabel* m_error = nullptr;
    bool m_busy = false;
};

}  // namespace sluice::ui
