#include "attach_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace sluice::ui {

AttachDialog::AttachDialog(const QString& lastAddress, QWidget* parent) : QDialog(parent)
{
    setObjectName(QStringLiteral("attachDialog"));
    setWindowTitle(tr("Attach to instance"));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("The control endpoint of a running sluice-cli serve, batch or worker started with "
                                "--control HOST:PORT. The console then shows and operates that instance."),
                             this);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    auto* form = new QFormLayout;
    m_address = new QLineEdit(lastAddress.isEmpty() ? QStringLiteral("127.0.0.1:7070") : lastAddress, this);
    m_address->setObjectName(QStringLiteral("attachAddress"));
    form->addRow(tr("&Address:"), m_address);
    m_token = new QLineEdit(this);
    m_token->setObjectName(QStringLiteral("attachToken"));
    m_token->setEchoMode(QLineEdit::Password);
    m_token->setPlaceholderText(tr("only if started with --control-token-env"));
    form->addRow(tr("&Token:"), m_token);
    layout->addLayout(form);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Attach"));
    buttons->button(QDialogButtonBox::Ok)->setObjectName(QStringLiteral("attachOk"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

QString AttachDialog::address() const
{
    return m_address->text().trimmed();
}

RemoteTarget AttachDialog::target() const
{
    RemoteTarget t;
    t.address = address().toStdString();
    if (!m_token->text().isEmpty()) {
        t.token = Secret(m_token->text().toStdString());
    }
    return t;
}

}  // namespace sluice::ui
