#include "open_workspace_dialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

namespace sluice::ui {

OpenWorkspaceDialog::OpenWorkspaceDialog(const QStringList& names, const QString& current, QWidget* parent)
    : QDialog(parent)
{
    setObjectName(QStringLiteral("openWorkspaceDialog"));
    setWindowTitle(tr("Open a workspace"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(names.isEmpty() ? tr("There are no workspaces yet.") : tr("Workspaces:"), this));
    m_list = new QListWidget(this);
    m_list->setObjectName(QStringLiteral("workspaceList"));
    for (const QString& name : names) {
        auto* item = new QListWidgetItem(name == current ? tr("%1 (open now)").arg(name) : name, m_list);
        item->setData(Qt::UserRole, name);
        if (name == current) {
            m_list->setCurrentItem(item);
        }
    }
    layout->addWidget(m_list);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
    buttons->setObjectName(QStringLiteral("buttons"));
    QPushButton* open = buttons->button(QDialogButtonBox::Open);
    open->setObjectName(QStringLiteral("open"));
    open->setEnabled(m_list->currentItem() != nullptr);
    connect(m_list, &QListWidget::currentItemChanged, open,
            [open](QListWidgetItem* item) { open->setEnabled(item != nullptr); });
    connect(m_list, &QListWidget::itemDoubleClicked, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

QString OpenWorkspaceDialog::chosen() const
{
    const QListWidgetItem* item = m_list->currentItem();
    return item != nullptr ? item->data(Qt::UserRole).toString() : QString();
}

}  // namespace sluice::ui
