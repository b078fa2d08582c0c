// bench_gui_responsiveness: does the console stay responsive while its
// engine dispatches ~2,000 requests/s against the embedded mock? (Issue 7:
// GUI event-loop latency p99 under 50 ms, memory flat over 10 minutes.)
//
// It opens the real MainWindow on a demo workspace tuned for throughput
// (limits far above the load, a mock answering in ~20 ms, a steady workload
// of --rate requests/s through the job store), keeps the dashboard tab on
// screen, and measures the GUI thread's event loop with a 10 ms single-shot
// timer re-armed on every firing: how late each firing runs is how long any
// event (a click, a repaint) would have waited. Each --report-every seconds
// it prints the achieved rate (from the host's own counters), the lateness
// percentiles over that interval and the process's resident memory; at the
// end, the same over the whole run. Run offscreen:
//
//   QT_QPA_PLATFORM=offscreen build/release/bench/bench_gui_responsiveness --seconds 600
//
// As a soak (issue 13): --seconds 3600 --rate 500 --faults, with open file
// descriptors, threads and the workspace database's size each interval.
//
// Figures: docs/benchmarks.md, "Console responsiveness (issue 7)".
#include "host/demo.h"
#include "host/workspace.h"
#include "key_vault.h"
#include "main_window.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QSettings>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr auto kTick = 10ms;

// Lateness in 0.1 ms buckets up to 5 s, preallocated: recording must not
// allocate, or the benchmark's own memory would grow with the run.
class LatenessHistogram {
public:
    void record(Steady::duration late)
    {
        const auto tenths = std::chrono::duration_cast<std::chrono::microseconds>(late).count() / 100;
        const auto bucket = static_cast<std::size_t>(std::clamp<std::int64_t>(tenths, 0, kBuckets - 1));
        ++m_counts[bucket];
        ++m_total;
        m_max = std::max(m_max, late);
    }

    // The smallest lateness with at least q of the samples at or below
    // it, to the bucket's upper edge (ms).
    double quantileMs(double q) const
    {
        if (m_total == 0) {
            return 0;
        }
        const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(m_total)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += m_counts[i];
            if (seen >= std::max<std::uint64_t>(rank, 1)) {
                return static_cast<double>(i + 1) / 10.0;
            }
        }
        return maxMs();
    }

    double maxMs() const { return std::chrono::duration<double, std::milli>(m_max).count(); }
    std::uint64_t total() const { return m_total; }
    void clear()
    {
        m_counts.fill(0);
        m_total = 0;
        m_max = {};
    }

private:
    static constexpr std::int64_t kBuckets = 50000;
    std::array<std::uint64_t, kBuckets> m_counts{};
    std::uint64_t m_total = 0;
    Steady::duration m_max{};
};

double rssMb()
{
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    statm >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// Open file descriptors and threads of this process, for the soak's
// flatness: a leak of either shows as a trend minute by minute.
int openFds()
{
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

int threadCount()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) {
            return std::atoi(line.c_str() + 8);
        }
    }
    return 0;
}

// The workspace databases' size (WAL included), in MB.
double databaseMb(const QString& dir)
{
    std::uintmax_t bytes = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.toStdString(), ec)) {
        if (e.is_regular_file(ec)) {
            bytes += e.file_size(ec);
        }
    }
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

std::string loadAverage()
{
    std::ifstream in("/proc/loadavg");
    std::string one;
    std::string five;
    std::string fifteen;
    in >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

// The demo's providers, keys and model names with limits far above the
// load: what is measured is the console under traffic, not admission
// holding traffic back.
sluice::host::WorkspaceConfig benchWorkspace()
{
    const char* text = R"({
  "sluice_workspace": 1,
  "demo": true,
  "config": {
    "global": {"limits": {"concurrency": 512, "spend_per_day_usd": 100000}},
    "providers": [
      {"name": "openai", "flavor": "openai", "base_url": "http://127.0.0.1:0",
       "models": {"gpt-4o-mini": {"limits": {"rpm": 300000, "tpm": 200000000, "granularity_s": 1},
                                  "default_max_tokens": 400}},
       "keys": [{"name": "team-a", "env": "SLUICE_DEMO_KEY_TEAM_A"},
                {"name": "team-b", "env": "SLUICE_DEMO_KEY_TEAM_B"}]},
      {"name": "anthropic", "flavor": "anthropic", "base_url": "http://127.0.0.1:0",
       "models": {"claude-haiku-4-5": {"limits": {"rpm": 120000, "itpm": 100000000, "otpm": 50000000,
                                                  "granularity_s": 1},
                                       "default_max_tokens": 400}},
       "keys": [{"name": "main", "env": "SLUICE_DEMO_KEY_ANTHROPIC"}]}
    ],
    "retry": {"max_attempts": 4, "base_delay_s": 0.2, "max_delay_s": 4}
  }
})";
    return sluice::host::WorkspaceConfig::parse("gui_responsiveness.json", text);
}

sluice::mock::MockConfig benchMock(bool faults)
{
    sluice::mock::MockConfig m = sluice::host::demoMockConfig();
    for (auto& [name, key] : m.keys) {
        key = sluice::mock::MockKey{};  // no lowered limit, no quota
    }
    // Ten times the workspace's limits: the mock still sends its rate-limit
    // headers (the dispatcher reads them), but never refuses.
    auto& mini = m.models.at("gpt-4o-mini").limits;
    mini.requestsPerMinute = 3000000;
    mini.tokensPerMinute = 2000000000;
    auto& haiku = m.models.at("claude-haiku-4-5").limits;
    haiku.requestsPerMinute = 1200000;
    haiku.inputTokensPerMinute = 1000000000;
    haiku.outputTokensPerMinute = 500000000;
    m.latency.baseMs = 20;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 20;
    m.latency.jitter = sluice::mock::DistributionKind::Fixed;
    m.latency.spread = 0;
    m.faults = {};
    if (faults) {
        // The soak's faults: server errors, resets and stalls the dispatcher
        // retries, so retries, timeouts and torn connections run for the
        // whole hour too.
        using sluice::mock::Fault;
        m.faults.rate[static_cast<std::size_t>(Fault::Http500)] = 0.01;
        m.faults.rate[static_cast<std::size_t>(Fault::Http503)] = 0.005;
        m.faults.rate[static_cast<std::size_t>(Fault::Http529)] = 0.005;
        m.faults.rate[static_cast<std::size_t>(Fault::ConnectionReset)] = 0.005;
        m.faults.rate[static_cast<std::size_t>(Fault::Stall)] = 0.001;
    }
    return m;
}

// Times every event the GUI thread delivers (outermost only: a paint
// inside a show counts once) and names those above a threshold, so a late
// probe can be traced to the event that held the loop, or to none (the
// thread was not scheduled).
class TimedApplication : public QApplication {
public:
    using QApplication::QApplication;

    void setSlowThreshold(std::chrono::milliseconds threshold) { m_threshold = threshold; }

    bool notify(QObject* receiver, QEvent* event) override
    {
        if (m_threshold <= std::chrono::milliseconds::zero() || m_depth > 0) {
            return QApplication::notify(receiver, event);
        }
        const Steady::time_point begin = Steady::now();
        const QEvent::Type type = event->type();
        // Copied first: the receiver may be gone when the event returns.
        const char* cls = receiver->metaObject()->className();
        const QString name = receiver->objectName();
        ++m_depth;
        const bool handled = QApplication::notify(receiver, event);
        --m_depth;
        const auto took = Steady::now() - begin;
        if (took >= m_threshold) {
            std::printf("  slow event: %.1f ms, type %d, to %s \"%s\"\n",
                        std::chrono::duration<double, std::milli>(took).count(), static_cast<int>(type), cls,
                        qPrintable(name));
        }
        return handled;
    }

private:
    std::chrono::milliseconds m_threshold{0};
    int m_depth = 0;
};

}  // namespace

int main(int argc, char** argv)
{
    TimedApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Sluice"));
    QApplication::setApplicationName(QStringLiteral("Sluice gui-responsiveness"));
    QStandardPaths::setTestModeEnabled(true);

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Console event-loop latency under 2,000 requests/s."));
    parser.addHelpOption();
    const QCommandLineOption secondsOption(QStringLiteral("seconds"), QStringLiteral("Run this long (default 600)."),
                                           QStringLiteral("N"), QStringLiteral("600"));
    const QCommandLineOption rateOption(QStringLiteral("rate"), QStringLiteral("Requests/s to queue (default 2000)."),
                                        QStringLiteral("R"), QStringLiteral("2000"));
    const QCommandLineOption everyOption(QStringLiteral("report-every"),
                                         QStringLiteral("Print figures every N seconds (default 60)."),
                                         QStringLiteral("N"), QStringLiteral("60"));
    parser.addOption(secondsOption);
    const QCommandLineOption faultsOption(QStringLiteral("faults"),
                                          QStringLiteral("The mock fails 2.6% of requests (5xx, resets, stalls)."));
    parser.addOption(rateOption);
    parser.addOption(faultsOption);
    const QCommandLineOption slowOption(QStringLiteral("slow-events"),
                                        QStringLiteral("Name each event that takes MS or more (default: off)."),
                                        QStringLiteral("MS"), QStringLiteral("0"));
    parser.addOption(everyOption);
    parser.addOption(slowOption);
    parser.process(app);
    const int seconds = parser.value(secondsOption).toInt();
    const double rate = parser.value(rateOption).toDouble();
    const int every = parser.value(everyOption).toInt();
    app.setSlowThreshold(std::chrono::milliseconds(parser.value(slowOption).toInt()));
    if (seconds <= 0 || rate <= 0 || every <= 0) {
        std::fprintf(stderr, "bench_gui_responsiveness: --seconds, --rate and --report-every must be positive\n");
        return 2;
    }

    QTemporaryDir dataHome;
    if (!dataHome.isValid()) {
        std::fprintf(stderr, "bench_gui_responsiveness: no temporary directory\n");
        return 1;
    }
    QSettings settings;
    settings.clear();  // the dashboard's default range (5 min) and tab

    sluice::ui::KeyVault vault;
    sluice::ui::MainWindow window(vault, settings, dataHome.path());
    window.resize(1400, 900);
    window.show();

    sluice::host::DemoWorkloadOptions workload;
    workload.rate = rate;
    workload.swing = 0;
    workload.invalidEvery = 0;
    // Two seconds' worth: enough to ride out a slow commit, bounded so the
    // store does not pile up if dispatch falls behind.
    workload.maxPending = static_cast<std::int64_t>(rate * 2);
    sluice::ui::OpenRequest request;
    request.name = QStringLiteral("bench");
    request.create = benchWorkspace();
    request.workload = workload;
    request.mock = benchMock(parser.isSet(faultsOption));

    bool opened = false;
    QString failure;
    QObject::connect(&window, &sluice::ui::MainWindow::sessionOpened, &window, [&] { opened = true; });
    QObject::connect(&window, &sluice::ui::MainWindow::openFailed, &window, [&](const QString& e) { failure = e; });
    window.openWorkspace(std::move(request));
    {
        QElapsedTimer waited;
        waited.start();
        while (!opened && failure.isEmpty() && waited.elapsed() < 30000) {
            QEventLoop loop;
            QTimer::singleShot(50, &loop, &QEventLoop::quit);
            loop.exec();
        }
    }
    if (!opened) {
        std::fprintf(stderr, "bench_gui_responsiveness: the workspace did not open: %s\n",
                     qPrintable(failure.isEmpty() ? QStringLiteral("timeout") : failure));
        return 1;
    }
    window.tabs()->setCurrentIndex(0);  // the dashboard, the busiest panel
    sluice::host::EngineHost& host = window.session()->host();

    std::printf("bench_gui_responsiveness: %d s, workload %.0f requests/s, dashboard on screen (%s), load %s\n",
                seconds, rate, qPrintable(window.tabs()->tabText(0)), loadAverage().c_str());
    std::printf("%6s %10s %8s %8s %8s %8s %8s %9s %11s %8s %6s %5s %7s %7s  %s\n", "t(s)", "done/s", "sent/s", "p50ms",
                "p95ms", "p99ms", "maxms", "RSS(MB)", "metrics(MB)", "queued", "429s", "fds", "threads", "db(MB)", "load");
    std::fflush(stdout);

    // On the heap: 400 KB each.
    auto intervalPtr = std::make_unique<LatenessHistogram>();
    auto wholePtr = std::make_unique<LatenessHistogram>();
    LatenessHistogram& interval = *intervalPtr;
    LatenessHistogram& whole = *wholePtr;
    const double rssStart = rssMb();
    double rssAfterFirst = 0;
    const Steady::time_point start = Steady::now();
    Steady::time_point due = start + kTick;

    QTimer probe;
    probe.setSingleShot(true);
    probe.setTimerType(Qt::PreciseTimer);
    QObject::connect(&probe, &QTimer::timeout, &probe, [&] {
        const Steady::time_point now = Steady::now();
        const auto late = std::max(Steady::duration::zero(), now - due);
        interval.record(late);
        whole.record(late);
        due = now + kTick;
        probe.start(kTick);
    });
    probe.start(kTick);

    sluice::host::HostStatus last = host.status();
    Steady::time_point lastAt = start;
    const std::uint64_t completedAtStart = last.dispatch.completed;
    int reports = 0;
    const auto printInterval = [&] {
        const Steady::time_point now = Steady::now();
        const sluice::host::HostStatus s = host.status();
        const double dt = std::chrono::duration<double>(now - lastAt).count();
        const double done = static_cast<double>(s.dispatch.completed - last.dispatch.completed) / dt;
        const double sent = static_cast<double>(s.dispatch.attempts - last.dispatch.attempts) / dt;
        const double rss = rssMb();
        if (++reports == 1) {
            rssAfterFirst = rss;
        }
        // The recorder's series fill their windows (10 min at 1 s) and then
        // stay: the part of the RSS that grows by design, shown apart.
        const double metricsMb = static_cast<double>(host.metrics().memoryBytes()) / (1024.0 * 1024.0);
        std::printf("%6.0f %10.0f %8.0f %8.1f %8.1f %8.1f %8.1f %9.1f %11.1f %8llu %6llu %5d %7d %7.1f  %s\n",
                    std::chrono::duration<double>(now - start).count(), done, sent, interval.quantileMs(0.5),
                    interval.quantileMs(0.95), interval.quantileMs(0.99), interval.maxMs(), rss, metricsMb,
                    static_cast<unsigned long long>(s.dispatch.queued),
                    static_cast<unsigned long long>(
                        s.dispatch.failures[static_cast<std::size_t>(sluice::FailureClass::RateLimited)] -
                        last.dispatch.failures[static_cast<std::size_t>(sluice::FailureClass::RateLimited)]),
                    openFds(), threadCount(), databaseMb(dataHome.path()), loadAverage().c_str());
        std::fflush(stdout);
        interval.clear();
        last = s;
        lastAt = now;
    };
    QTimer report;
    report.setInterval(std::chrono::seconds(every));
    QObject::connect(&report, &QTimer::timeout, &report, printInterval);
    report.start();

    QTimer::singleShot(std::chrono::seconds(seconds), &app, [&] {
        probe.stop();
        report.stop();
        if (interval.total() >= 100) {
            printInterval();  // the last, partial interval
        }
        const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
        const sluice::host::HostStatus s = host.status();
        const double rssEnd = rssMb();
        const double p99 = whole.quantileMs(0.99);
        std::printf("whole run: %.0f s, %.0f requests/s completed on average (%llu), loop latency p50 %.1f ms, "
                    "p95 %.1f ms, p99 %.1f ms, max %.1f ms over %llu firings\n",
                    elapsed, static_cast<double>(s.dispatch.completed - completedAtStart) / elapsed,
                    static_cast<unsigned long long>(s.dispatch.completed - completedAtStart), whole.quantileMs(0.5),
                    whole.quantileMs(0.95), p99, whole.maxMs(), static_cast<unsigned long long>(whole.total()));
        std::printf("RSS: %.1f MB when traffic started, %.1f MB after the first report, %.1f MB at the end\n",
                    rssStart, rssAfterFirst, rssEnd);
        std::printf("bar (p99 < 50 ms): %s\n", p99 < 50 ? "met" : "NOT met");
        std::fflush(stdout);
        QApplication::quit();
    });
    return QApplication::exec();
}
