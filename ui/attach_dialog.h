// AttachDialog: Workspace → Attach to instance…, the address of a headless
// instance's control endpoint (sluice-cli serve, batch or worker
// --control HOST:PORT) and, when it asks for one, its bearer token. The
// token field echoes nothing and the token is never stored.
//
// Thread-safety: GUI thread only.
#pragma once

#include "remote_backend.h"

#include <QDialog>

class QLineEdit;

namespace sluice::ui {

class AttachDialog : public QDialog {
    Q_OBJECT

public:
    explicit AttachDialog(const QString& lastAddress, QWidget* parent = nullptr);
    RemoteTarget target() const;
    QString address() const;

private:
    QLineEdit* m_address = nullptr;
    QLineEdit* m_token = nullptr;
};

}  // namespace sluice::ui
