#include "limits_dialog.h"

#include "console_session.h"
#include "format.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace sluice::ui {

namespace {

QString fieldLabel(host::LimitField f)
{
    switch (f) {
    case host::LimitField::Concurrency: return LimitsDialog::tr("In flight at once:");
    case host::LimitField::Rpm: return LimitsDialog::tr("Requests per minute:");
    case host::LimitField::Tpm: return LimitsDialog::tr("Tokens per minute:");
    case host::LimitField::Itpm: return LimitsDialog::tr("Input tokens per minute:");
    case host::LimitField::Otpm: return LimitsDialog::tr("Output tokens per minute:");
    case host::LimitField::Rpd: return LimitsDialog::tr("Requests per day:");
    case host::LimitField::Tpd: return LimitsDialog::tr("Tokens per day:");
    case host::LimitField::SpendPerDayUsd: return LimitsDialog::tr("Spend per day (USD):");
    }
    return {};
}

QString targetName(const LimitTarget& t)
{
    if (t.provider.empty()) {
        return LimitsDialog::tr("all traffic");
    }
    QString name = qs(t.provider);
    if (!t.key.empty()) {
        name += QLatin1Char('/') + qs(t.key);
    }
    if (!t.model.empty()) {
        name += QLatin1Char('/') + qs(t.model);
    }
    return name;
}

}  // namespace

LimitsDialog::LimitsDialog(ConsoleSession& session, LimitTarget target, QWidget* parent)
    : QDialog(parent), m_session(session), m_target(std::move(target))
{
    setObjectName(QStringLiteral("limitsDialog"));
    setWindowTitle(tr("Limits of %1").arg(targetName(m_target)));
    auto* layout = new QVBoxLayout(this);
    auto* note = new QLabel(tr("Changes apply to the running engine at once and keep what was already used. "
                               "\"no limit\" removes a limit."),
                            this);
    note->setWordWrap(true);
    layout->addWidget(note);
    auto* form = new QFormLayout;
    layout->addLayout(form);
    const std::vector<LimitSpec> current = m_session.currentLimits(m_target);
    for (int i = 0; i < host::kLimitFieldCount; ++i) {
        const auto field = static_cast<host::LimitField>(i);
        auto* spin = new QDoubleSpinBox(this);
        spin->setObjectName(qs(host::limitFieldName(field)));
        spin->setDecimals(field == host::LimitField::SpendPerDayUsd ? 2 : 0);
        spin->setRange(kNoLimit, 1e12);
        spin->setSpecialValueText(tr("no limit"));
        spin->setGroupSeparatorShown(true);
        spin->setValue(kNoLimit);
        for (const LimitSpec& s : current) {
            if (host::limitFieldOf(s) == field) {
                m_initial[static_cast<std::size_t>(i)] = host::limitFieldValue(s);
                spin->setValue(host::limitFieldValue(s));
            }
        }
        m_editors[static_cast<std::size_t>(i)] = spin;
        form->addRow(fieldLabel(field), spin);
    }
    if (!m_target.model.empty() && !m_target.key.empty()) {
        m_everyKey = new QCheckBox(tr("Apply to %1 on every key of %2 (and keys added later)")
                                       .arg(qs(m_target.model), qs(m_target.provider)),
                                   this);
        m_everyKey->setObjectName(QStringLiteral("everyKey"));
        layout->addWidget(m_everyKey);
    }
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &LimitsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &LimitsDialog::reject);
    layout->addWidget(buttons);
}

QDoubleSpinBox* LimitsDialog::editor(host::LimitField field) const
{
    return m_editors[static_cast<std::size_t>(field)];
}

void LimitsDialog::accept()
{
    LimitTarget target = m_target;
    const bool everyKey = m_everyKey != nullptr && m_everyKey->isChecked();
    if (everyKey) {
        target.key.clear();
    }
    for (int i = 0; i < host::kLimitFieldCount; ++i) {
        const double v = m_editors[static_cast<std::size_t>(i)]->value();
        const std::optional<double> now = v <= kNoLimit ? std::nullopt : std::optional<double>(v);
        // Only what changed is pushed; for every key, the whole form is the
        // model's new setting.
        if (everyKey || now != m_initial[static_cast<std::size_t>(i)]) {
            if (everyKey && !now) {
                continue;
            }
            m_session.editLimit(target, static_cast<host::LimitField>(i), now);
        }
    }
    QDialog::accept();
}

}  // namespace sluice::ui
