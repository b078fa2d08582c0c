#include "report_dialog.h"

#include "console_session.h"

#include <QComboBox>
#include <QDateTime>
#include <QDateTimeEdit>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace sluice::ui {

namespace {

using metrics::ReportFormat;
using metrics::ReportGrouping;

QDateTime toQt(WallTime t)
{
    return QDateTime::fromMSecsSinceEpoch(
        static_cast<qint64>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()));
}

WallTime fromQt(const QDateTime& t)
{
    return WallTime(std::chrono::duration_cast<Duration>(std::chrono::milliseconds(t.toMSecsSinceEpoch())));
}

QString suffixOf(ReportFormat f)
{
    switch (f) {
    case ReportFormat::Csv: return QStringLiteral("csv");
    case ReportFormat::Json: return QStringLiteral("json");
    case ReportFormat::Html: return QStringLiteral("html");
    }
    return QStringLiteral("csv");
}

}  // namespace

ReportDialog::ReportDialog(ConsoleSession& session, QWidget* parent) : QDialog(parent), m_session(session)
{
    setObjectName(QStringLiteral("reportDialog"));
    setWindowTitle(tr("Export usage report — %1").arg(session.name()));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("Requests, 429s by class, tokens, latency percentiles and spend from this workspace's "
                                "per-minute metrics, the same report as <tt>sluice-cli report</tt>."),
                             this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto* form = new QFormLayout;
    const auto dateEdit = [this](const char* name) {
        auto* e = new QDateTimeEdit(this);
        e->setObjectName(QString::fromLatin1(name));
        e->setCalendarPopup(true);
        e->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm"));
        return e;
    };
    m_from = dateEdit("from");
    m_to = dateEdit("to");
    form->addRow(tr("From (local time)"), m_from);
    form->addRow(tr("To, excluded"), m_to);

    m_by = new QComboBox(this);
    m_by->setObjectName(QStringLiteral("groupBy"));
    m_by->addItem(tr("Model"), static_cast<int>(ReportGrouping::Model));
    m_by->addItem(tr("API key"), static_cast<int>(ReportGrouping::Key));
    m_by->addItem(tr("Provider"), static_cast<int>(ReportGrouping::Provider));
    m_by->addItem(tr("Hour (UTC)"), static_cast<int>(ReportGrouping::Hour));
    m_by->addItem(tr("Day (UTC)"), static_cast<int>(ReportGrouping::Day));
    form->addRow(tr("Group by"), m_by);

    m_format = new QComboBox(this);
    m_format->setObjectName(QStringLiteral("format"));
    m_format->addItem(tr("CSV (RFC 4180)"), static_cast<int>(ReportFormat::Csv));
    m_format->addItem(tr("JSON"), static_cast<int>(ReportFormat::Json));
    m_format->addItem(tr("HTML (one file with charts, opens offline)"), static_cast<int>(ReportFormat::Html));
    form->addRow(tr("Format"), m_format);

    auto* outputRow = new QHBoxLayout;
    m_output = new QLineEdit(this);
    m_output->setObjectName(QStringLiteral("output"));
    m_output->setPlaceholderText(tr("the file to write"));
    auto* browseButton = new QPushButton(tr("Choose…"), this);
    browseButton->setObjectName(QStringLiteral("browseOutput"));
    outputRow->addWidget(m_output, 1);
    outputRow->addWidget(browseButton);
    form->addRow(tr("Save as"), outputRow);
    layout->addLayout(form);

    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_export = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    m_export->setObjectName(QStringLiteral("export"));
    m_export->setDefault(true);
    layout->addWidget(buttons);

    // The last day up to the end of this minute: the minute in progress is
    // in the report (the export flushes it first).
    const QDateTime now = QDateTime::currentDateTime();
    const QDateTime to = QDateTime::fromSecsSinceEpoch((now.toSecsSinceEpoch() / 60 + 1) * 60);
    m_to->setDateTime(to);
    m_from->setDateTime(to.addDays(-1));

    connect(browseButton, &QPushButton::clicked, this, &ReportDialog::browse);
    // Export must not close the dialog: its outcome is shown here.
    connect(buttons, &QDialogButtonBox::accepted, this, &ReportDialog::exportReport);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&m_session.store(), &StoreClient::reportExported, this, &ReportDialog::showOutcome);
    connect(m_format, &QComboBox::currentIndexChanged, this, [this] {
        // A path typed for another format follows the format chosen.
        const QString path = m_output->text();
        const QFileInfo info(path);
        const QString suffix = info.suffix().toLower();
        if (!path.isEmpty() && (suffix == QLatin1String("csv") || suffix == QLatin1String("json") ||
                                suffix == QLatin1String("html"))) {
            m_output->setText(path.left(path.size() - suffix.size()) + suffixOf(request().format));
        }
    });
}

void ReportDialog::setOutputPath(const QString& path)
{
    m_output->setText(path);
}

void ReportDialog::setRange(WallTime from, WallTime to)
{
    m_from->setDateTime(toQt(from));
    m_to->setDateTime(toQt(to));
}

void ReportDialog::setGrouping(ReportGrouping by)
{
    m_by->setCurrentIndex(m_by->findData(static_cast<int>(by)));
}

void ReportDialog::setFormat(ReportFormat format)
{
    m_format->setCurrentIndex(m_format->findData(static_cast<int>(format)));
}

ReportRequest ReportDialog::request() const
{
    ReportRequest r;
    r.from = fromQt(m_from->dateTime());
    r.to = fromQt(m_to->dateTime());
    r.by = static_cast<ReportGrouping>(m_by->currentData().toInt());
    r.format = static_cast<ReportFormat>(m_format->currentData().toInt());
    r.output = m_output->text().trimmed();
    return r;
}

void ReportDialog::browse()
{
    const ReportFormat format = request().format;
    const QString suffix = suffixOf(format);
    QString start = m_output->text().trimmed();
    if (start.isEmpty()) {
        start = tr("sluice-usage-%1.%2").arg(m_session.name(), suffix);
    }
    const QString path = QFileDialog::getSaveFileName(this, tr("Save the usage report"), start,
                                                      tr("%1 files (*.%2);;All files (*)").arg(suffix.toUpper(), suffix));
    if (!path.isEmpty()) {
        m_output->setText(path);
    }
}

void ReportDialog::exportReport()
{
    if (m_busy) {
        return;
    }
    const ReportRequest r = request();
    // Checked here too, so a plain mistake is answered at once.
    if (r.output.isEmpty()) {
        m_status->setText(tr("Choose the file to write the report to."));
        Q_EMIT exported(false, m_status->text());
        return;
    }
    if (r.from >= r.to) {
        m_status->setText(tr("The start of the range must be before its end."));
        Q_EMIT exported(false, m_status->text());
        return;
    }
    m_busy = true;
    m_export->setEnabled(false);
    m_status->setText(tr("Exporting…"));
    m_session.store().exportReport(r);
}

void ReportDialog::showOutcome(const ReportOutcome& outcome)
{
    if (!m_busy) {
        return;  // not ours
    }
    m_busy = false;
    m_export->setEnabled(true);
    m_status->setText(outcome.message);
    QPalette pal = m_status->palette();
    pal.setColor(QPalette::WindowText, outcome.ok ? palette().color(QPalette::WindowText) : QColor(0xb0, 0x20, 0x20));
    m_status->setPalette(pal);
    Q_EMIT exported(outcome.ok, outcome.message);
}

}  // namespace sluice::ui
