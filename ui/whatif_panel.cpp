#include "whatif_panel.h"

#include "console_session.h"
#include "format.h"
#include "time_chart.h"

#include "core/json_source.h"
#include "host/engine_host.h"
#include "simulate/provider_model.h"
#include "simulate/recorded_traffic.h"
#include "simulate/replay.h"

#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace sluice::ui {

namespace {

using namespace std::chrono_literals;

struct Row {
    const char* key;
    const char* label;
};
constexpr Row kRows[] = {
    {"requests", "Requests"},
    {"completed", "Completed"},
    {"failed", "Failed"},
    {"throughput", "Throughput (per minute)"},
    {"wait_p50", "Wait p50"},
    {"wait_p95", "Wait p95"},
    {"latency_p50", "Latency p50"},
    {"latency_p95", "Latency p95"},
    {"rate_limited", "429s"},
    {"provider_limited", "of which provider-wide limit"},
    {"server_errors", "5xx answers"},
    {"timeouts", "Timeouts"},
    {"missed_deadlines", "Missed deadlines"},
    {"spend", "Spend"},
    {"span", "First arrival → end"},
};

QString seconds(const std::optional<Duration>& d)
{
    return d ? formatSeconds(std::chrono::duration<double>(*d).count()) : QStringLiteral("–");
}

QString value(const simulate::RunFigures& f, const QString& key)
{
    if (key == QLatin1String("requests")) {
        return formatCount(f.requests);
    }
    if (key == QLatin1String("completed")) {
        return formatCount(f.completed);
    }
    if (key == QLatin1String("failed")) {
        return formatCount(f.failed);
    }
    if (key == QLatin1String("throughput")) {
        return formatRate(f.throughputPerMinute());
    }
    if (key == QLatin1String("wait_p50")) {
        return seconds(f.waitP50);
    }
    if (key == QLatin1String("wait_p95")) {
        return seconds(f.waitP95);
    }
    if (key == QLatin1String("latency_p50")) {
        return seconds(f.latencyP50);
    }
    if (key == QLatin1String("latency_p95")) {
        return seconds(f.latencyP95);
    }
    if (key == QLatin1String("rate_limited")) {
        return formatCount(f.rateLimited);
    }
    if (key == QLatin1String("provider_limited")) {
        return formatCount(f.providerLimited);
    }
    if (key == QLatin1String("server_errors")) {
        return formatCount(f.serverErrors);
    }
    if (key == QLatin1String("timeouts")) {
        return formatCount(f.timeouts);
    }
    if (key == QLatin1String("missed_deadlines")) {
        return f.missedDeadlines ? formatCount(*f.missedDeadlines) : QStringLiteral("–");
    }
    if (key == QLatin1String("spend")) {
        return formatUsd(f.spendMicroUsd);
    }
    return formatSeconds(std::chrono::duration<double>(f.span).count());
}

}  // namespace

WhatIfPanel::WhatIfPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(250ms, parent), m_session(session), m_shared(std::make_shared<Shared>())
{
    setObjectName(QStringLiteral("whatIfPanel"));
    auto* layout = new QVBoxLayout(this);

    auto* form = new QFormLayout;
    auto* sourceRow = new QHBoxLayout;
    m_source = new QComboBox(this);
    m_source->setObjectName(QStringLiteral("whatifSource"));
    m_source->addItem(tr("This workspace's record (its jobs, else its per-minute history)"));
    m_source->addItem(tr("A recorded-requests file (JSONL)"));
    m_input = new QLineEdit(this);
    m_input->setObjectName(QStringLiteral("whatifInput"));
    m_input->setPlaceholderText(tr("recorded.jsonl"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    browse->setObjectName(QStringLiteral("whatifBrowseInput"));
    sourceRow->addWidget(m_source);
    sourceRow->addWidget(m_input, 1);
    sourceRow->addWidget(browse);
    form->addRow(tr("Recorded traffic"), sourceRow);
    m_window = new QComboBox(this);
    m_window->setObjectName(QStringLiteral("whatifWindow"));
    m_window->addItem(tr("Last hour"), 1);
    m_window->addItem(tr("Last 6 hours"), 6);
    m_window->addItem(tr("Last day"), 24);
    form->addRow(tr("Window"), m_window);
    layout->addLayout(form);

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    auto* left = new QWidget(splitter);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(new QLabel(tr("Proposed configuration (the workspace's, edit it or load a file):"), left));
    m_config = new QPlainTextEdit(left);
    m_config->setObjectName(QStringLiteral("whatifConfig"));
    m_config->setLineWrapMode(QPlainTextEdit::NoWrap);
    leftLayout->addWidget(m_config, 1);
    auto* configButtons = new QHBoxLayout;
    auto* load = new QPushButton(tr("Load file…"), left);
    load->setObjectName(QStringLiteral("whatifLoadConfig"));
    auto* reset = new QPushButton(tr("Reset to current"), left);
    reset->setObjectName(QStringLiteral("whatifResetConfig"));
    configButtons->addWidget(load);
    configButtons->addWidget(reset);
    configButtons->addStretch(1);
    leftLayout->addLayout(configButtons);

    auto* right = new QWidget(splitter);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    auto* runRow = new QHBoxLayout;
    m_run = new QPushButton(tr("Run"), right);
    m_run->setObjectName(QStringLiteral("whatifRun"));
    m_cancel = new QPushButton(tr("Cancel"), right);
    m_cancel->setObjectName(QStringLiteral("whatifCancel"));
    m_progress = new QProgressBar(right);
    m_progress->setObjectName(QStringLiteral("whatifProgress"));
    m_progress->setRange(0, 100);
    runRow->addWidget(m_run);
    runRow->addWidget(m_cancel);
    runRow->addWidget(m_progress, 1);
    rightLayout->addLayout(runRow);
    m_status = new QLabel(tr("Replays the recorded traffic under the proposed configuration, in simulated time, "
                             "against a provider that enforces the workspace's current limits."),
                          right);
    m_status->setObjectName(QStringLiteral("whatifStatus"));
    m_status->setWordWrap(true);
    rightLayout->addWidget(m_status);
    m_table = new QTableWidget(static_cast<int>(std::size(kRows)), 2, right);
    m_table->setObjectName(QStringLiteral("whatifTable"));
    m_table->setHorizontalHeaderLabels({tr("Recorded"), tr("Simulated")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    for (int i = 0; i < m_table->rowCount(); ++i) {
        auto* header = new QTableWidgetItem(tr(kRows[i].label));
        header->setData(Qt::UserRole, QString::fromLatin1(kRows[i].key));
        m_table->setVerticalHeaderItem(i, header);
    }
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    rightLayout->addWidget(m_table, 1);
    m_chart = new TimeChart(tr("Completed per minute"), tr("requests/min"), right);
    m_chart->setObjectName(QStringLiteral("whatifChart"));
    m_recordedSeries = m_chart->addSeries(tr("recorded"), QColor(0x55, 0x55, 0x55));
    m_simulatedSeries = m_chart->addSeries(tr("simulated"), QColor(0x1f, 0x77, 0xb4));
    m_chart->setRightAxis(tr("429s/min"));
    m_rateLimitedSeries = m_chart->addSeries(tr("simulated 429s"), QColor(0xd6, 0x27, 0x28), TimeChart::Axis::Right);
    m_chart->setMinimumHeight(220);
    rightLayout->addWidget(m_chart, 1);
    splitter->addWidget(left);
    splitter->addWidget(right);
    splitter->setStretchFactor(1, 2);
    layout->addWidget(splitter, 1);

    connect(m_run, &QPushButton::clicked, this, &WhatIfPanel::run);
    connect(m_cancel, &QPushButton::clicked, this, &WhatIfPanel::cancel);
    connect(load, &QPushButton::clicked, this, &WhatIfPanel::loadConfigFile);
    connect(reset, &QPushButton::clicked, this, &WhatIfPanel::resetConfig);
    connect(browse, &QPushButton::clicked, this, &WhatIfPanel::browseInput);
    connect(m_source, &QComboBox::currentIndexChanged, this, &WhatIfPanel::updateControls);
    connect(&m_watcher, &QFutureWatcher<Outcome>::finished, this, &WhatIfPanel::showOutcome);
    resetConfig();
    updateControls();
}

WhatIfPanel::~WhatIfPanel()
{
    // The replay checks its flag every 100 ms of real time at most.
    m_shared->cancel = true;
    m_watcher.waitForFinished();
}

void WhatIfPanel::setRecordedFile(const QString& path)
{
    m_source->setCurrentIndex(1);
    m_input->setText(path);
}

void WhatIfPanel::setProposedConfigText(const QString& json)
{
    m_config->setPlainText(json);
}

QString WhatIfPanel::proposedConfigText() const
{
    return m_config->toPlainText();
}

QString WhatIfPanel::cell(const QString& key, int column) const
{
    for (int i = 0; i < m_table->rowCount(); ++i) {
        if (m_table->verticalHeaderItem(i)->data(Qt::UserRole).toString() == key) {
            const QTableWidgetItem* item = m_table->item(i, column);
            return item != nullptr ? item->text() : QString();
        }
    }
    return {};
}

void WhatIfPanel::resetConfig()
{
    m_config->setPlainText(QString::fromStdString(m_session.workspace().config().dump(2)));
}

void WhatIfPanel::loadConfigFile()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Proposed configuration"), {}, tr("JSON (*.json)"));
    if (path.isEmpty()) {
        return;
    }
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        m_status->setText(tr("%1: cannot be read").arg(path));
        return;
    }
    m_config->setPlainText(QString::fromUtf8(f.readAll()));
}

void WhatIfPanel::browseInput()
{
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Recorded requests"), {}, tr("Recorded requests (*.jsonl);;All files (*)"));
    if (!path.isEmpty()) {
        setRecordedFile(path);
    }
}

void WhatIfPanel::run()
{
    if (running()) {
        return;
    }
    m_shared = std::make_shared<Shared>();
    const bool fromFile = m_source->currentIndex() == 1;
    const std::filesystem::path source =
        fromFile ? std::filesystem::path(m_input->text().toStdString()) : m_session.host().databasePath();
    const Duration window = std::chrono::hours(m_window->currentData().toInt());
    const std::string currentText = m_session.workspace().config().dump();
    const std::string proposedText = m_config->toPlainText().toStdString();
    if (fromFile && m_input->text().isEmpty()) {
        m_status->setText(tr("Choose a recorded-requests file first."));
        return;
    }
    // Everything that reads the disk or parses runs on the worker.
    m_watcher.setFuture(QtConcurrent::run([shared = m_shared, fromFile, source, window, currentText, proposedText] {
        Outcome out;
        try {
            const Config current = simulate::loadSimConfig(JsonSource("the workspace's configuration", currentText));
            const Config proposed = simulate::loadSimConfig(JsonSource("proposed configuration", proposedText));
            const simulate::RecordedTraffic traffic = fromFile ? simulate::readRecordedJsonl(source, window)
                                                               : simulate::readWorkspaceTraffic(source, window);
            if (traffic.requests.empty()) {
                out.error = QStringLiteral("%1: no requests were recorded in the window").arg(qs(traffic.source));
                return out;
            }
            simulate::ReplayOptions options;
            options.cancel = &shared->cancel;
            options.progress = [shared](double fraction, Duration) { shared->fraction = fraction; };
            out.comparison = simulate::replay(traffic, current, proposed, options);
        } catch (const std::exception& e) {
            out.error = QString::fromUtf8(e.what());
        }
        return out;
    }));
    m_progress->setValue(0);
    m_status->setText(tr("Replaying…"));
    updateControls();
}

void WhatIfPanel::cancel()
{
    m_shared->cancel = true;
}

void WhatIfPanel::refresh()
{
    if (running()) {
        m_progress->setValue(static_cast<int>(std::min(1.0, m_shared->fraction.load()) * 100));
    }
}

void WhatIfPanel::showOutcome()
{
    const Outcome out = m_watcher.result();
    updateControls();
    if (!out.comparison) {
        m_status->setText(out.error);
        Q_EMIT finished();
        return;
    }
    const simulate::Comparison& c = *out.comparison;
    m_progress->setValue(c.cancelled ? m_progress->value() : 100);
    m_status->setText(
        (c.cancelled ? tr("Cancelled: the figures cover only what was simulated. ") : QString()) +
        tr("%1: %2 of traffic simulated in %3.")
            .arg(qs(c.source), formatSeconds(std::chrono::duration<double>(c.simulatedTime).count()),
                 formatSeconds(std::chrono::duration<double>(c.wallTime).count())));
    showTable(c);
    showChart(c);
    m_result = c;
    Q_EMIT finished();
}

void WhatIfPanel::showTable(const simulate::Comparison& c)
{
    for (int i = 0; i < m_table->rowCount(); ++i) {
        const QString key = QString::fromLatin1(kRows[i].key);
        // A record does not say which limit answered its 429s.
        const bool unknown = key == QLatin1String("provider_limited");
        m_table->setItem(i, 0, new QTableWidgetItem(unknown ? QStringLiteral("–") : value(c.recorded, key)));
        m_table->setItem(i, 1, new QTableWidgetItem(value(c.simulated, key)));
    }
}

void WhatIfPanel::showChart(const simulate::Comparison& c)
{
    const qint64 start = epochMs(c.windowStart);
    const auto points = [start](const std::vector<simulate::MinuteFigures>& minutes, bool rateLimited) {
        QList<QPointF> out;
        for (std::size_t i = 0; i < minutes.size(); ++i) {
            const double y = static_cast<double>(rateLimited ? minutes[i].rateLimited : minutes[i].completed);
            out.append(QPointF(static_cast<double>(start + static_cast<qint64>(i) * 60'000), y));
        }
        return out;
    };
    const std::size_t minutes = std::max(c.recorded.minutes.size(), c.simulated.minutes.size());
    m_chart->setTimeRange(start, start + static_cast<qint64>(std::max<std::size_t>(minutes, 1)) * 60'000);
    m_chart->setPoints(m_recordedSeries, points(c.recorded.minutes, false));
    m_chart->setPoints(m_simulatedSeries, points(c.simulated.minutes, false));
    m_chart->setPoints(m_rateLimitedSeries, points(c.simulated.minutes, true));
    m_chart->setHeadline(tr("Recorded %1/min · simulated %2/min · simulated 429s %3")
                             .arg(formatRate(c.recorded.throughputPerMinute()),
                                  formatRate(c.simulated.throughputPerMinute()), formatCount(c.simulated.rateLimited)));
    m_chart->rescale();
}

void WhatIfPanel::updateControls()
{
    const bool busy = running();
    m_run->setEnabled(!busy);
    m_cancel->setEnabled(busy);
    m_input->setEnabled(m_source->currentIndex() == 1);
}

}  // namespace sluice::ui
