#include "first_run_page.h"

#include "key_vault.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QVBoxLayout>

#include <filesystem>

namespace sluice::ui {

FirstRunPage::FirstRunPage(KeyVault& vault, QString dataHome, QWidget* parent)
    : QWidget(parent), m_vault(vault), m_dataHome(std::move(dataHome))
{
    setObjectName(QStringLiteral("firstRunPage"));
    auto* outer = new QHBoxLayout(this);
    outer->addStretch(1);
    auto* column = new QVBoxLayout;
    outer->addLayout(column, 3);
    outer->addStretch(1);

    auto* title = new QLabel(tr("Welcome to Sluice"), this);
    QFont tf = title->font();
    tf.setPointSizeF(tf.pointSizeF() * 1.8);
    tf.setBold(true);
    title->setFont(tf);
    column->addStretch(1);
    column->addWidget(title);
    auto* intro = new QLabel(tr("Sluice keeps your LLM API traffic just under every provider limit: it admits each "
                                "request only when every limit has room, and shows you the queue, the limits and "
                                "every 429 as they happen."),
                             this);
    intro->setWordWrap(true);
    column->addWidget(intro);

    auto* demo = new QPushButton(tr("Try the demo (built-in mock provider)"), this);
    demo->setObjectName(QStringLiteral("tryDemo"));
    demo->setMinimumHeight(48);
    QFont bf = demo->font();
    bf.setPointSizeF(bf.pointSizeF() * 1.2);
    demo->setFont(bf);
    column->addWidget(demo);
    auto* demoNote = new QLabel(tr("No account or network needed: a local mock plays OpenAI and Anthropic with real "
                                   "limits, and a workload pushes against them."),
                                this);
    demoNote->setWordWrap(true);
    column->addWidget(demoNote);
    connect(demo, &QPushButton::clicked, this, &FirstRunPage::demoRequested);

    auto* box = new QGroupBox(tr("Connect a provider"), this);
    box->setObjectName(QStringLiteral("connectBox"));
    auto* form = new QFormLayout(box);
    m_workspace = new QLineEdit(QStringLiteral("default"), box);
    m_workspace->setObjectName(QStringLiteral("workspaceName"));
    form->addRow(tr("Workspace name:"), m_workspace);
    m_provider = new QLineEdit(QStringLiteral("openai"), box);
    m_provider->setObjectName(QStringLiteral("providerName"));
    form->addRow(tr("Provider name:"), m_provider);
    m_flavor = new QComboBox(box);
    m_flavor->addItem(tr("OpenAI Chat Completions (OpenAI, Azure, Groq, vLLM, …)"), static_cast<int>(ApiFlavor::OpenAI));
    m_flavor->addItem(tr("Anthropic Messages"), static_cast<int>(ApiFlavor::Anthropic));
    form->addRow(tr("Speaks:"), m_flavor);
    m_baseUrl = new QLineEdit(QStringLiteral("https://api.openai.com"), box);
    m_baseUrl->setObjectName(QStringLiteral("baseUrl"));
    form->addRow(tr("Base URL:"), m_baseUrl);
    connect(m_flavor, &QComboBox::currentIndexChanged, this, [this] {
        const bool anthropic = m_flavor->currentData().toInt() == static_cast<int>(ApiFlavor::Anthropic);
        m_baseUrl->setText(anthropic ? QStringLiteral("https://api.anthropic.com") : QStringLiteral("https://api.openai.com"));
        m_provider->setText(anthropic ? QStringLiteral("anthropic") : QStringLiteral("openai"));
        m_envVar->setText(anthropic ? QStringLiteral("ANTHROPIC_API_KEY") : QStringLiteral("OPENAI_API_KEY"));
    });
    m_keyName = new QLineEdit(QStringLiteral("main"), box);
    m_keyName->setObjectName(QStringLiteral("keyName"));
    form->addRow(tr("Key name:"), m_keyName);
    m_useKeychain = new QRadioButton(tr("Store the key in the system keychain"), box);
    m_useKeychain->setObjectName(QStringLiteral("useKeychain"));
    m_secret = new QLineEdit(box);
    m_secret->setEchoMode(QLineEdit::Password);
    m_secret->setObjectName(QStringLiteral("secret"));
    m_useEnv = new QRadioButton(tr("Read the key from an environment variable"), box);
    m_useEnv->setObjectName(QStringLiteral("useEnv"));
    m_envVar = new QLineEdit(QStringLiteral("OPENAI_API_KEY"), box);
    m_envVar->setObjectName(QStringLiteral("envVar"));
    form->addRow(m_useKeychain);
    form->addRow(tr("Key:"), m_secret);
    form->addRow(m_useEnv);
    form->addRow(tr("Variable:"), m_envVar);
    m_note = new QLabel(box);
    m_note->setWordWrap(true);
    form->addRow(m_note);
    m_error = new QLabel(box);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    QPalette pal = m_error->palette();
    pal.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_error->setPalette(pal);
    form->addRow(m_error);
    auto* connectButton = new QPushButton(tr("Connect"), box);
    connectButton->setObjectName(QStringLiteral("connect"));
    form->addRow(connectButton);
    column->addWidget(box);
    column->addStretch(2);

    connect(connectButton, &QPushButton::clicked, this, &FirstRunPage::connectProvider);
    connect(m_useKeychain, &QRadioButton::toggled, this, &FirstRunPage::updateSource);
    connect(&m_vault, &KeyVault::availabilityKnown, this, &FirstRunPage::updateSource);
    m_vault.probe();
    updateSource();
}

void FirstRunPage::updateSource()
{
    const bool available = m_vault.availability() == KeyVault::Availability::Available;
    m_useKeychain->setEnabled(available);
    if (!available) {
        m_useEnv->setChecked(true);
    } else if (!m_useEnv->isChecked()) {
        m_useKeychain->setChecked(true);
    }
    m_secret->setEnabled(m_useKeychain->isChecked());
    m_envVar->setEnabled(m_useEnv->isChecked());
    switch (m_vault.availability()) {
    case KeyVault::Availability::Unknown: m_note->setText(tr("Looking for a keychain service…")); break;
    case KeyVault::Availability::Available:
        m_note->setText(tr("Keys never go into Sluice's settings or workspace files."));
        break;
    case KeyVault::Availability::Unavailable:
        m_note->setText(tr("%1 Set the key in an environment variable before starting Sluice and name it here; "
                           "Sluice keeps no copy.")
                            .arg(m_vault.unavailableReason()));
        break;
    }
}

void FirstRunPage::connectProvider()
{
    m_error->clear();
    const QString name = m_workspace->text().trimmed();
    static const QRegularExpression validName(QStringLiteral("^[A-Za-z0-9_-][A-Za-z0-9._-]*$"));
    if (!validName.match(name).hasMatch()) {
        m_error->setText(tr("Name the workspace with letters, digits, '-', '_' and '.'."));
        return;
    }
    // Never over an existing workspace: its settings, its queued jobs and
    // its keys stay as they are.
    if (host::workspaceExists(name.toStdString(), std::filesystem::path(m_dataHome.toStdString()))) {
        m_error->setText(tr("A workspace named \"%1\" exists already; it was not changed. Choose another name, or "
                            "open it with Workspace → Open…")
                             .arg(name));
        return;
    }
    const QString provider = m_provider->text().trimmed();
    const QString key = m_keyName->text().trimmed();
    const auto flavor = static_cast<ApiFlavor>(m_flavor->currentData().toInt());
    const QString url = m_baseUrl->text().trimmed();
    if (provider.isEmpty() || key.isEmpty() || !(url.startsWith(QStringLiteral("http://")) || url.startsWith(QStringLiteral("https://")))) {
        m_error->setText(tr("Give the provider a name, a base URL (http:// or https://) and the key a name."));
        return;
    }
    const auto make = [=](const QString& env) {
        return host::WorkspaceConfig::connect(provider.toStdString(), flavor, url.toStdString(), key.toStdString(),
                                              env.toStdString());
    };
    if (m_useEnv->isChecked()) {
        const QString var = m_envVar->text().trimmed();
        if (var.isEmpty() || qEnvironmentVariable(var.toUtf8().constData()).isEmpty()) {
            m_error->setText(tr("Environment variable %1 is not set in Sluice's environment.").arg(var));
            return;
        }
        Q_EMIT connectRequested(name, make(var));
        return;
    }
    const QString entry = name + QLatin1Char('/') + provider + QLatin1Char('/') + key;
    m_vault.write(entry, m_secret->text(), this, [this, name, entry, make](bool ok, const QString& error) {
        if (!ok) {
            m_error->setText(tr("The keychain did not store the key: %1").arg(error));
            return;
        }
        m_secret->clear();
        Q_EMIT connectRequested(name, make(QString::fromUtf8(host::kKeychainPrefix.data(),
                                                             static_cast<qsizetype>(host::kKeychainPrefix.size())) +
                                           entry));
    });
}

}  // namespace sluice::ui
