#include "loadtest_panel.h"

#include "builtin_workloads.h"
#include "console_session.h"
#include "format.h"
#include "loadtest/mock_setup.h"
#include "loadtest_summary_rows.h"
#include "time_chart.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

namespace sluice::ui {

namespace {

using loadtest::LoadTestSnapshot;
using loadtest::SecondSample;

constexpr std::chrono::milliseconds kRefresh(250);
constexpr int kProgressSteps = 1000;
// Rates are averaged over this many trailing seconds: per-second counts of
// a few requests are too jagged to read.
constexpr int kSmoothSeconds = 5;

enum CompareChoice : int { CompareNone = 0, CompareNaive = 1, CompareConfig = 2 };

// One colour per run, and a lighter one for its limit line.
const QColor kRunColors[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c)};
const QColor kLimitColors[] = {QColor(0xa0, 0x10, 0x10), QColor(0xc0, 0x60, 0x20), QColor(0x20, 0x80, 0x20)};

QColor runColor(int i, bool limit)
{
    const auto n = static_cast<int>(std::size(kRunColors));
    return limit ? kLimitColors[i % n] : kRunColors[i % n];
}

// Per-minute rate of a per-second figure, over the trailing window ending
// at each second; x is the end of that second, in ms since the run's start:
// runs are compared aligned at zero, not one after another on the clock.
template <typename Value>
QList<QPointF> ratePoints(const std::vector<SecondSample>& seconds, Value value)
{
    QList<QPointF> out;
    out.reserve(static_cast<qsizetype>(seconds.size()));
    for (std::size_t i = 0; i < seconds.size(); ++i) {
        // Seconds that saw nothing are absent from the list: they add zero.
        double sum = 0;
        for (std::size_t j = i + 1; j-- > 0;) {
            if (seconds[j].second <= seconds[i].second - kSmoothSeconds) {
                break;
            }
            sum += static_cast<double>(value(seconds[j]));
        }
        const auto window = static_cast<double>(std::min<std::int64_t>(kSmoothSeconds, seconds[i].second + 1));
        out.append(QPointF(static_cast<double>((seconds[i].second + 1) * 1000), sum * 60 / window));
    }
    return out;
}

QList<QPointF> latencyPoints(const std::vector<SecondSample>& seconds)
{
    QList<QPointF> out;
    for (const SecondSample& s : seconds) {
        if (s.completed > 0) {
            const double mean = std::chrono::duration<double>(s.latencySum).count() / static_cast<double>(s.completed);
            out.append(QPointF(static_cast<double>((s.second + 1) * 1000), mean));
        }
    }
    return out;
}

std::optional<double> limitValue(const std::optional<std::int64_t>& v)
{
    return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}

QString phaseText(RunnerPhase p)
{
    switch (p) {
    case RunnerPhase::Idle: return LoadTestPanel::tr("Ready.");
    case RunnerPhase::Preparing: return LoadTestPanel::tr("Loading and checking the workload and configs…");
    case RunnerPhase::Running: return LoadTestPanel::tr("Running");
    case RunnerPhase::Finished: return LoadTestPanel::tr("Finished.");
    case RunnerPhase::Stopped: return LoadTestPanel::tr("Stopped early; the summary covers what ran.");
    case RunnerPhase::Failed: return LoadTestPanel::tr("Could not run");
    }
    return {};
}

}  // namespace

LoadTestPanel::LoadTestPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(kRefresh, parent), m_session(session), m_runner(m_clock)
{
    setObjectName(QStringLiteral("loadTestPanel"));
    auto* layout = new QVBoxLayout(this);

    auto* form = new QFormLayout;
    auto* workloadRow = new QHBoxLayout;
    m_workload = new QComboBox(this);
    m_workload->setObjectName(QStringLiteral("workload"));
    for (const BuiltInWorkload& w : builtInWorkloads()) {
        m_workload->addItem(tr("%1 (built in: %2)").arg(w.name, w.file), w.file);
        m_workload->setItemData(m_workload->count() - 1, true, Qt::UserRole + 1);
        m_workload->setItemData(m_workload->count() - 1, w.comment, Qt::ToolTipRole);
    }
    auto* browse = new QPushButton(tr("Open file…"), this);
    browse->setObjectName(QStringLiteral("browseWorkload"));
    workloadRow->addWidget(m_workload, 1);
    workloadRow->addWidget(browse);
    form->addRow(tr("Workload"), workloadRow);

    auto* shapeRow = new QHBoxLayout;
    m_scale = new QDoubleSpinBox(this);
    m_scale->setObjectName(QStringLiteral("scale"));
    m_scale->setRange(0.01, 1000);
    m_scale->setDecimals(2);
    m_scale->setValue(1);
    m_scale->setPrefix(QStringLiteral("× "));
    m_scale->setToolTip(tr("Multiplies every arrival rate and burst (and a recorded replay's speed)."));
    m_duration = new QSpinBox(this);
    m_duration->setObjectName(QStringLiteral("duration"));
    m_duration->setRange(0, 24 * 3600);
    m_duration->setSuffix(tr(" s"));
    m_duration->setSpecialValueText(tr("as the workload says"));
    shapeRow->addWidget(new QLabel(tr("Scale"), this));
    shapeRow->addWidget(m_scale);
    shapeRow->addSpacing(16);
    shapeRow->addWidget(new QLabel(tr("Duration"), this));
    shapeRow->addWidget(m_duration);
    shapeRow->addStretch(1);
    form->addRow(tr("Traffic"), shapeRow);

    auto* compareRow = new QHBoxLayout;
    m_compare = new QComboBox(this);
    m_compare->setObjectName(QStringLiteral("compare"));
    m_compare->addItem(tr("No comparison"));
    m_compare->addItem(tr("A naive client with N in flight"));
    m_compare->addItem(tr("Another limits configuration"));
    m_naive = new QSpinBox(this);
    m_naive->setObjectName(QStringLiteral("naiveConcurrency"));
    m_naive->setRange(1, 10000);
    m_naive->setValue(5);
    m_naive->setPrefix(tr("N = "));
    m_naive->setToolTip(tr("The code teams write before Sluice: a semaphore of N requests and the SDKs' retry rule."));
    m_compareConfig = new QLineEdit(this);
    m_compareConfig->setObjectName(QStringLiteral("compareConfig"));
    m_compareConfig->setPlaceholderText(tr("configuration file (docs/configuration.md)"));
    m_browseCompare = new QPushButton(tr("Choose…"), this);
    m_browseCompare->setObjectName(QStringLiteral("browseCompare"));
    m_naive->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    m_compare->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    compareRow->addWidget(m_compare);
    compareRow->addWidget(m_naive);
    compareRow->addWidget(m_compareConfig, 3);
    compareRow->addWidget(m_browseCompare);
    // Takes the room the hidden fields leave, so nothing stretches oddly.
    compareRow->addStretch(1);
    form->addRow(tr("Compare with"), compareRow);
    layout->addLayout(form);

    auto* note = new QLabel(tr("Runs under this workspace's limits against a built-in mock provider set up as its "
                               "providers: nothing leaves this machine, and the workspace's own traffic is not "
                               "touched. Runs in a comparison go one after the other, each on a fresh mock."),
                            this);
    note->setWordWrap(true);
    note->setObjectName(QStringLiteral("note"));
    layout->addWidget(note);

    auto* runRow = new QHBoxLayout;
    m_start = new QPushButton(tr("Start"), this);
    m_start->setObjectName(QStringLiteral("start"));
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setObjectName(QStringLiteral("stop"));
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("progress"));
    m_progress->setRange(0, kProgressSteps);
    m_progress->setValue(0);
    m_progress->setTextVisible(true);
    runRow->addWidget(m_start);
    runRow->addWidget(m_stop);
    runRow->addWidget(m_progress, 1);
    layout->addLayout(runRow);
    m_status = new QLabel(phaseText(RunnerPhase::Idle), this);
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);

    // The charts and the summary scroll inside the tab: together they need
    // more height than a small screen has, and a minimum size that large
    // made the main window grow past the screen (and stay that tall after
    // leaving the tab). Only they scroll: the wrapped labels above would make
    // a scrolled page as tall as its preferred size (height-for-width).
    auto* scroll = new QScrollArea(this);
    scroll->setObjectName(QStringLiteral("loadTestScroll"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* split = new QSplitter(Qt::Vertical, scroll);
    m_chartArea = new QWidget(split);
    m_chartGrid = new QGridLayout(m_chartArea);
    m_chartGrid->setContentsMargins(0, 0, 0, 0);
    m_chartGrid->setSpacing(6);
    m_summary = new QTableWidget(split);
    m_summary->setObjectName(QStringLiteral("summary"));
    m_summary->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_summary->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_summary->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    split->addWidget(m_chartArea);
    split->addWidget(m_summary);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    scroll->setWidget(split);
    layout->addWidget(scroll, 1);
    buildCharts({});

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Workload file"), QString(),
                                                          tr("Workloads (*.json);;All files (*)"));
        if (!path.isEmpty()) {
            setWorkloadFile(path);
        }
    });
    connect(m_browseCompare, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Second limits configuration"), QString(),
                                                          tr("Configurations (*.json);;All files (*)"));
        if (!path.isEmpty()) {
            setCompareConfigFile(path);
        }
    });
    connect(m_compare, &QComboBox::currentIndexChanged, this, &LoadTestPanel::updateControls);
    connect(m_start, &QPushButton::clicked, this, &LoadTestPanel::start);
    connect(m_stop, &QPushButton::clicked, this, &LoadTestPanel::stop);
    updateControls();
}

LoadTestPanel::~LoadTestPanel() = default;

void LoadTestPanel::setWorkloadFile(const QString& path)
{
    int index = m_workload->findData(path);
    if (index < 0) {
        m_workload->addItem(QFileInfo(path).fileName() + QStringLiteral(" (") + path + QLatin1Char(')'), path);
        index = m_workload->count() - 1;
        m_workload->setItemData(index, false, Qt::UserRole + 1);
    }
    m_workload->setCurrentIndex(index);
}

void LoadTestPanel::setCompareConfigFile(const QString& path)
{
    m_compareConfig->setText(path);
    m_compare->setCurrentIndex(CompareConfig);
}

QString LoadTestPanel::summaryCell(const QString& key, int run) const
{
    for (int r = 0; r < m_summary->rowCount(); ++r) {
        const QTableWidgetItem* header = m_summary->verticalHeaderItem(r);
        if (header != nullptr && header->data(Qt::UserRole).toString() == key) {
            const QTableWidgetItem* cell = m_summary->item(r, run);
            return cell != nullptr ? cell->text() : QString();
        }
    }
    return {};
}

void LoadTestPanel::updateControls()
{
    const bool busy = m_runner.busy();
    const int compare = m_compare->currentIndex();
    m_start->setEnabled(!busy && m_workload->count() > 0);
    m_stop->setEnabled(busy);
    for (QWidget* w : std::initializer_list<QWidget*>{m_workload, m_scale, m_duration, m_compare}) {
        w->setEnabled(!busy);
    }
    m_naive->setVisible(compare == CompareNaive);
    m_compareConfig->setVisible(compare == CompareConfig);
    m_browseCompare->setVisible(compare == CompareConfig);
    m_naive->setEnabled(!busy);
    m_compareConfig->setEnabled(!busy);
    m_browseCompare->setEnabled(!busy);
}

void LoadTestPanel::start()
{
    if (m_runner.busy() || m_workload->currentIndex() < 0) {
        return;
    }
    const int compare = m_compare->currentIndex();
    if (compare == CompareConfig && m_compareConfig->text().trimmed().isEmpty()) {
        m_status->setText(tr("Choose the second limits configuration to compare with."));
        return;
    }
    LoadTestRequest request;
    const QString workload = m_workload->currentData().toString();
    if (m_workload->currentData(Qt::UserRole + 1).toBool()) {
        request.workload = builtInLoader(workload);
    } else {
        request.workload = [path = workload.toStdString()] { return loadtest::loadWorkloadFile(path); };
    }
    // The workspace's settings as they are now; keys resolve to the mock's,
    // so no real key is read or sent.
    request.config = [workspace = m_session.workspace()] {
        std::vector<host::MissingKey> missing;
        return workspace.toConfig(loadtest::mockKeyLookup(), missing);
    };
    request.configLabel = m_session.name().toStdString();
    if (m_duration->value() > 0) {
        request.duration = std::chrono::seconds(m_duration->value());
    }
    request.scale = m_scale->value();
    if (compare == CompareNaive) {
        request.compareNaive = m_naive->value();
    } else if (compare == CompareConfig) {
        request.compareConfigPath = m_compareConfig->text().trimmed().toStdString();
    }
    request.mockBase = m_mockBase;

    m_series.clear();
    m_results.clear();
    m_summary->clear();
    m_summary->setRowCount(0);
    m_summary->setColumnCount(0);
    buildCharts({});
    m_progress->setValue(0);
    m_sawSession = m_runner.start(std::move(request));
    m_status->setText(phaseText(RunnerPhase::Preparing));
    updateControls();
    // The first figures at once, not a timer tick later.
    refresh();
}

void LoadTestPanel::stop()
{
    m_runner.stop();
    m_status->setText(tr("Stopping: requests in flight finish, nothing new is sent…"));
}

void LoadTestPanel::buildCharts(const QStringList& labels)
{
    for (TimeChart* c : {m_throughput, m_tokens, m_rateLimited, m_latency}) {
        delete c;
    }
    m_chartLabels = labels;
    const auto make = [&](const char* name, const QString& title, const QString& unit, int row, int column) {
        auto* c = new TimeChart(title, unit, m_chartArea);
        c->setObjectName(QString::fromLatin1(name));
        c->setElapsedAxis(tr("seconds since each run's start"));
        m_chartGrid->addWidget(c, row, column);
        return c;
    };
    m_throughput = make("throughputChart", tr("Completed requests per minute"), tr("requests/min"), 0, 0);
    m_tokens = make("tokensChart", tr("Tokens per minute (completed requests)"), tr("tokens/min"), 0, 1);
    m_rateLimited = make("rateLimitedChart", tr("429 answers per minute"), tr("429s/min"), 1, 0);
    m_latency = make("latencyChart", tr("Mean latency (submitted → done)"), tr("seconds"), 1, 1);
    m_latency->setDecimals(1);
    for (int i = 0; i < labels.size(); ++i) {
        const QString& label = labels[i];
        m_throughput->addSeries(label, runColor(i, false));
        m_throughput->addLimit(tr("RPM limit (%1)").arg(label), runColor(i, true));
        m_tokens->addSeries(label, runColor(i, false));
        m_tokens->addLimit(tr("TPM limit (%1)").arg(label), runColor(i, true));
        m_rateLimited->addSeries(label, runColor(i, false));
        m_latency->addSeries(label, runColor(i, false));
    }
}

void LoadTestPanel::refresh()
{
    // Ask for the live run's seconds from the last one seen (it may have
    // grown since), or all of them for a run not seen yet.
    std::int64_t from = 0;
    const RunnerProgress peek = m_runner.progress(std::numeric_limits<std::int64_t>::max());
    if (peek.run < m_series.size() && !m_series[peek.run].seconds.empty()) {
        from = m_series[peek.run].seconds.back().second;
    }
    const RunnerProgress p = m_runner.progress(from);
    if (!m_sawSession) {
        updateControls();
        return;
    }
    if (!p.labels.empty()) {
        QStringList labels;
        for (const std::string& l : p.labels) {
            labels << qs(l);
        }
        if (labels != m_chartLabels) {
            buildCharts(labels);
        }
        m_series.resize(p.labels.size());
    }
    if (p.snapshot && p.run < m_series.size()) {
        RunSeries& r = m_series[p.run];
        r.startedAt = p.runStartedAt;
        r.limits = p.snapshot->limits;
        const auto& fresh = p.snapshot->series;
        if (!fresh.empty()) {
            const std::int64_t first = fresh.front().second;
            while (!r.seconds.empty() && r.seconds.back().second >= first) {
                r.seconds.pop_back();
            }
            r.seconds.insert(r.seconds.end(), fresh.begin(), fresh.end());
        }
    }
    if (p.finishedRuns != m_results.size()) {
        m_results = m_runner.results();
        // A finished run's own series is complete; the live one may have
        // missed its last second.
        for (std::size_t i = 0; i < m_results.size() && i < m_series.size(); ++i) {
            m_series[i].startedAt = m_results[i].startedAt;
            m_series[i].seconds = m_results[i].summary.series;
            m_series[i].limits = m_results[i].summary.limits;
        }
        updateSummary();
    }
    updateCharts(p);
    updateStatus(p);
    updateControls();
}

void LoadTestPanel::updateCharts(const RunnerProgress& p)
{
    if (m_series.empty()) {
        return;
    }
    // Every run from its own zero: the axis spans the longest run so far
    // (the live one up to now).
    bool started = false;
    qint64 to = 1000;
    for (std::size_t i = 0; i < m_series.size(); ++i) {
        const RunSeries& r = m_series[i];
        if (r.startedAt == WallTime{}) {
            continue;
        }
        started = true;
        if (!r.seconds.empty()) {
            to = std::max(to, static_cast<qint64>((r.seconds.back().second + 1) * 1000));
        }
        if (p.phase == RunnerPhase::Running && i == p.run) {
            to = std::max(to, epochMs(m_clock.wallNow()) - epochMs(r.startedAt));
        }
    }
    if (!started) {
        return;
    }
    double total429 = 0;
    for (int i = 0; i < static_cast<int>(m_series.size()) && i < m_chartLabels.size(); ++i) {
        const RunSeries& r = m_series[static_cast<std::size_t>(i)];
        m_throughput->setPoints(i, ratePoints(r.seconds, [](const SecondSample& s) { return s.completed; }));
        m_throughput->setLimit(i, limitValue(r.limits.rpm));
        m_tokens->setPoints(i, ratePoints(r.seconds, [](const SecondSample& s) { return s.tokens; }));
        m_tokens->setLimit(i, limitValue(r.limits.tpm));
        m_rateLimited->setPoints(i, ratePoints(r.seconds, [](const SecondSample& s) { return s.rateLimited; }));
        m_latency->setPoints(i, latencyPoints(r.seconds));
        for (const SecondSample& s : r.seconds) {
            total429 += static_cast<double>(s.rateLimited);
        }
    }
    if (p.snapshot) {
        const LoadTestSnapshot& s = *p.snapshot;
        m_throughput->setHeadline(tr("now %1 requests/min (last 10 s)%2")
                                      .arg(formatRate(s.requestsPerMinute),
                                           s.limits.rpm ? tr(" · limit %1/min").arg(formatCount(*s.limits.rpm)) : QString()));
        m_tokens->setHeadline(tr("now %1 tokens/min%2")
                                  .arg(formatRate(s.tokensPerMinute),
                                       s.limits.tpm ? tr(" of %1").arg(formatCount(*s.limits.tpm)) : QString()));
        m_latency->setHeadline(s.recentLatencyP50 > Duration::zero()
                                   ? tr("recent p50 %1 · p95 %2 · queue p95 %3")
                                         .arg(formatSeconds(std::chrono::duration<double>(s.recentLatencyP50).count()),
                                              formatSeconds(std::chrono::duration<double>(s.recentLatencyP95).count()),
                                              formatSeconds(std::chrono::duration<double>(s.recentQueueP95).count()))
                                   : tr("no responses yet"));
    }
    m_rateLimited->setHeadline(tr("%1 in all runs so far").arg(formatCount(static_cast<std::int64_t>(total429))));
    for (TimeChart* c : {m_throughput, m_tokens, m_rateLimited, m_latency}) {
        c->setTimeRange(0, to);
        c->rescale();
    }
}

void LoadTestPanel::updateSummary()
{
    std::vector<loadtest::LoadTestSummary> summaries;
    QStringList headers;
    for (const RunResult& r : m_results) {
        summaries.push_back(r.summary);
        headers << qs(r.summary.label);
    }
    const std::vector<SummaryRow> rows = summaryRows(summaries);
    m_summary->clear();
    m_summary->setColumnCount(static_cast<int>(m_results.size()));
    m_summary->setRowCount(static_cast<int>(rows.size()));
    m_summary->setHorizontalHeaderLabels(headers);
    for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
        const SummaryRow& row = rows[static_cast<std::size_t>(r)];
        auto* header = new QTableWidgetItem(row.label);
        header->setData(Qt::UserRole, row.key);
        m_summary->setVerticalHeaderItem(r, header);
        for (int c = 0; c < row.cells.size(); ++c) {
            m_summary->setItem(r, c, new QTableWidgetItem(row.cells[c]));
        }
    }
}

void LoadTestPanel::updateStatus(const RunnerProgress& p)
{
    const std::size_t runs = std::max<std::size_t>(p.labels.size(), 1);
    double done = static_cast<double>(p.finishedRuns);
    QString text = phaseText(p.phase);
    if (p.phase == RunnerPhase::Running && p.snapshot) {
        const LoadTestSnapshot& s = *p.snapshot;
        done += std::clamp(s.progress, 0.0, 1.0);
        text = tr("Run %1 of %2 (%3): %4 of %5 · %6 done · %7 failed · %8 in flight · %9 queued")
                   .arg(p.run + 1)
                   .arg(p.labels.size())
                   .arg(qs(p.labels[p.run]),
                        formatSeconds(std::chrono::duration<double>(s.elapsed).count()),
                        formatSeconds(std::chrono::duration<double>(s.planned).count()),
                        formatCount(static_cast<std::int64_t>(s.completed)),
                        formatCount(static_cast<std::int64_t>(s.failed)),
                        formatCount(static_cast<std::int64_t>(s.inFlight)),
                        formatCount(static_cast<std::int64_t>(s.queued)));
        text += tr(" · %1 429s · %2").arg(formatCount(static_cast<std::int64_t>(s.rateLimited)), formatUsd(s.spendMicroUsd));
        if (s.state == loadtest::LoadTestState::Ending) {
            text += tr(" · finishing what is in flight");
        }
    } else if (p.phase == RunnerPhase::Failed) {
        text += QStringLiteral(": ") + qs(p.error);
    } else if (p.phase == RunnerPhase::Finished) {
        done = static_cast<double>(runs);
    }
    if (p.phase == RunnerPhase::Finished || p.phase == RunnerPhase::Stopped) {
        for (const RunResult& r : m_results) {
            for (const std::string& k : r.keyProblems) {
                text += tr(" Run %1: key %2 quarantined.").arg(qs(r.summary.label), qs(k));
            }
        }
    }
    m_progress->setValue(static_cast<int>(std::lround(done / static_cast<double>(runs) * kProgressSteps)));
    m_status->setText(text);
}

}  // namespace sluice::ui
