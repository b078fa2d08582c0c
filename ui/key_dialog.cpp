#include "key_dialog.h"

#include "console_session.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>

namespace sluice::ui {

KeyDialog::KeyDialog(ConsoleSession& session, Mode mode, const QString& provider, QWidget* parent)
    : QDialog(parent), m_session(session), m_mode(mode)
{
    setObjectName(QStringLiteral("keyDialog"));
    setWindowTitle(mode == Mode::NewKey ? tr("Add a key to %1").arg(provider) : tr("Add a provider"));
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    layout->addLayout(form);

    m_provider = new QLineEdit(provider, this);
    m_provider->setObjectName(QStringLiteral("providerName"));
    m_provider->setPlaceholderText(tr("openai"));
    m_provider->setReadOnly(mode == Mode::NewKey);
    form->addRow(tr("Provider:"), m_provider);
    if (mode == Mode::NewProvider) {
        m_flavor = new QComboBox(this);
        m_flavor->setObjectName(QStringLiteral("flavor"));
        m_flavor->addItem(tr("OpenAI Chat Completions (OpenAI, Azure, Groq, vLLM, …)"), static_cast<int>(ApiFlavor::OpenAI));
        m_flavor->addItem(tr("Anthropic Messages"), static_cast<int>(ApiFlavor::Anthropic));
        form->addRow(tr("Speaks:"), m_flavor);
        m_baseUrl = new QLineEdit(QStringLiteral("https://api.openai.com"), this);
        m_baseUrl->setObjectName(QStringLiteral("baseUrl"));
        form->addRow(tr("Base URL:"), m_baseUrl);
        connect(m_flavor, &QComboBox::currentIndexChanged, this, [this] {
            m_baseUrl->setText(m_flavor->currentData().toInt() == static_cast<int>(ApiFlavor::Anthropic)
                                   ? QStringLiteral("https://api.anthropic.com")
                                   : QStringLiteral("https://api.openai.com"));
        });
    }
    m_keyName = new QLineEdit(this);
    m_keyName->setObjectName(QStringLiteral("keyName"));
    m_keyName->setPlaceholderText(tr("a label, such as prod-1"));
    form->addRow(tr("Key name:"), m_keyName);

    m_useKeychain = new QRadioButton(tr("Store the key in the system keychain"), this);
    m_useKeychain->setObjectName(QStringLiteral("useKeychain"));
    m_secret = new QLineEdit(this);
    m_secret->setObjectName(QStringLiteral("secret"));
    m_secret->setEchoMode(QLineEdit::Password);
    m_secret->setPlaceholderText(tr("paste the key; it goes to the keychain only"));
    m_useEnv = new QRadioButton(tr("Read the key from an environment variable"), this);
    m_useEnv->setObjectName(QStringLiteral("useEnv"));
    m_envVar = new QLineEdit(this);
    m_envVar->setObjectName(QStringLiteral("envVar"));
    m_envVar->setPlaceholderText(tr("OPENAI_API_KEY"));
    m_keychainNote = new QLabel(this);
    m_keychainNote->setObjectName(QStringLiteral("keychainNote"));
    m_keychainNote->setWordWrap(true);
    form->addRow(m_useKeychain);
    form->addRow(tr("Key:"), m_secret);
    form->addRow(m_useEnv);
    form->addRow(tr("Variable:"), m_envVar);
    form->addRow(m_keychainNote);

    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    QPalette pal = m_error->palette();
    pal.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    m_error->setPalette(pal);
    layout->addWidget(m_error);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(mode == Mode::NewKey ? tr("Add key") : tr("Add provider"));
    connect(buttons, &QDialogButtonBox::accepted, this, &KeyDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &KeyDialog::reject);
    layout->addWidget(buttons);

    connect(m_useKeychain, &QRadioButton::toggled, this, &KeyDialog::updateSource);
    connect(&m_session.vault(), &KeyVault::availabilityKnown, this, &KeyDialog::updateSource);
    m_session.vault().probe();
    updateSource();
    resize(520, sizeHint().height());
}

void KeyDialog::updateSource()
{
    const KeyVault& vault = m_session.vault();
    const bool available = vault.availability() == KeyVault::Availability::Available;
    m_useKeychain->setEnabled(available);
    if (!available && m_useKeychain->isChecked()) {
        m_useEnv->setChecked(true);
    }
    if (!m_useKeychain->isChecked() && !m_useEnv->isChecked()) {
        (available ? m_useKeychain : m_useEnv)->setChecked(true);
    }
    m_secret->setEnabled(m_useKeychain->isChecked());
    m_envVar->setEnabled(m_useEnv->isChecked());
    switch (vault.availability()) {
    case KeyVault::Availability::Unknown: m_keychainNote->setText(tr("Looking for a keychain service…")); break;
    case KeyVault::Availability::Available:
        m_keychainNote->setText(tr("Keys are never written to Sluice's settings or files, only to the keychain."));
        break;
    case KeyVault::Availability::Unavailable:
        m_keychainNote->setText(tr("%1 Sluice will not keep keys anywhere else: set the key in an environment "
                                   "variable before starting Sluice and name the variable here.")
                                    .arg(vault.unavailableReason()));
        break;
    }
}

void KeyDialog::accept()
{
    if (m_busy) {
        return;
    }
    m_error->clear();
    const QString provider = m_provider->text().trimmed();
    const QString key = m_keyName->text().trimmed();
    if (provider.isEmpty()) {
        m_error->setText(tr("Name the provider."));
        return;
    }
    const bool keychain = m_useKeychain->isChecked();
    m_busy = true;
    m_session.resolveKey(
        provider, key, keychain ? ConsoleSession::KeySource::Keychain : ConsoleSession::KeySource::Environment,
        keychain ? m_secret->text() : m_envVar->text().trimmed(),
        [self = QPointer<KeyDialog>(this), provider](const ConsoleSession::ResolvedKey& resolved, const QString& error) {
            // The keychain may answer after the dialog was cancelled.
            if (!self.isNull()) {
                self->keyResolved(provider, resolved, error);
            }
        });
}

void KeyDialog::keyResolved(const QString& provider, const ConsoleSession::ResolvedKey& key, const QString& error)
{
    if (!error.isEmpty()) {
        finished(error);
    } else if (m_mode == Mode::NewKey) {
        finished(m_session.addKey(provider, key));
    } else {
        finished(m_session.addProvider(provider, static_cast<ApiFlavor>(m_flavor->currentData().toInt()),
                                       m_baseUrl->text().trimmed(), key));
    }
}

void KeyDialog::finished(const QString& error)
{
    m_busy = false;
    if (!error.isEmpty()) {
        m_error->setText(error);
        return;
    }
    m_secret->clear();
    QDialog::accept();
}

}  // namespace sluice::ui
