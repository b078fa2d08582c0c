#include "console_fixture.h"

#include "support/http_client.h"

#include <QSignalSpy>
#include <QStandardPaths>
#include <QtTest>

#include <fstream>
#include <sstream>

namespace sluice::uitest {

using nlohmann::json;

namespace {

constexpr const char* kNoBus = "unix:path=/nonexistent/sluice-tests";

}  // namespace

host::WorkspaceConfig testWorkspace()
{
    // No learned limits: the mock's headers must not add or change a limit
    // behind a test's back. Retries are quick, so a failure settles fast.
    const json doc = {
        {"sluice_workspace", 1},
        {"demo", true},
        {"config",
         {{"global", {{"limits", {{"concurrency", 16}}}}},
          {"providers",
           json::array({{{"name", "openai"},
                         {"flavor", "openai"},
                         {"base_url", "http://127.0.0.1:0"},
                         {"learn_limits", false},
                         {"timeouts", {{"connect_s", 5}, {"total_s", 20}}},
                         {"models",
                          {{"gpt-4o-mini",
                            {{"limits", {{"rpm", kModelRpm}, {"rpd", kModelRpd}}}, {"default_max_tokens", 400}}}}},
                         {"keys", json::array({{{"name", "team-a"}, {"env", "SLUICE_DEMO_KEY_TEAM_A"}},
                                               {{"name", "team-b"}, {"env", "SLUICE_DEMO_KEY_TEAM_B"}}})}}})},
          {"retry", {{"max_attempts", 2}, {"base_delay_s", 0.05}, {"max_delay_s", 0.2}}}}}};
    return host::WorkspaceConfig::parse("test.json", doc.dump(2));
}

mock::MockConfig fastMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.keys.clear();
    for (const char* key : {"sk-demo-team-a", "sk-demo-team-b", "sk-test-added"}) {
        m.keys[key] = mock::MockKey{};
    }
    m.limitsEnabled = false;
    m.latency.baseMs = 20;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 10;
    m.latency.jitter = mock::DistributionKind::Fixed;
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 20;
    m.faults = mock::FaultRates{};
    return m;
}

host::DemoWorkloadOptions steadyWorkload(double perSecond)
{
    host::DemoWorkloadOptions w;
    w.rate = perSecond;
    w.swing = 0;
    w.anthropicShare = 0;
    w.invalidEvery = 0;
    w.tick = std::chrono::milliseconds(50);
    return w;
}

void enableTestMode()
{
    QStandardPaths::setTestModeEnabled(true);
    // No keychain service may answer, whatever the machine runs: the tests
    // never touch a real keychain, and keys take the environment route.
    // (CTest sets this before the process starts; this covers direct runs.)
    qputenv("DBUS_SESSION_BUS_ADDRESS", kNoBus);
    QCoreApplication::setOrganizationName(QStringLiteral("SluiceTests"));
    QCoreApplication::setApplicationName(QStringLiteral("tst_console"));
}

Console::Console()
{
    if (!m_dir.isValid()) {
        return;
    }
    m_settings = std::make_unique<QSettings>(m_dir.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
    m_vault = std::make_unique<ui::KeyVault>();
    m_window = std::make_unique<ui::MainWindow>(*m_vault, *m_settings, m_dir.path());
    m_window->show();
    (void)QTest::qWaitForWindowExposed(m_window.get());
}

Console::~Console()
{
    // The window (and with it the session and engine) before the vault and
    // settings it refers to.
    m_window.reset();
}

QString Console::setupError() const
{
    return m_dir.isValid() ? QString() : QStringLiteral("no temporary directory: ") + m_dir.errorString();
}

QString Console::openSteady(double perSecond)
{
    if (const QString error = setupError(); !error.isEmpty()) {
        return error;
    }
    ui::OpenRequest request;
    request.workload = steadyWorkload(perSecond);
    return open(std::move(request));
}

QString Console::open(ui::OpenRequest request)
{
    if (!request.create) {
        request.create = testWorkspace();
    }
    return reopen(std::move(request));
}

QString Console::reopen(ui::OpenRequest request)
{
    if (request.name.isEmpty()) {
        request.name = QStringLiteral("test");
    }
    if (!request.mock) {
        request.mock = fastMock();
    }
    QSignalSpy opened(m_window.get(), &ui::MainWindow::sessionOpened);
    QSignalSpy failed(m_window.get(), &ui::MainWindow::openFailed);
    m_window->openWorkspace(std::move(request));
    if (!QTest::qWaitFor([&] { return opened.count() > 0 || failed.count() > 0; }, 30'000)) {
        return QStringLiteral("the workspace did not open within 30 s");
    }
    if (failed.count() > 0) {
        return failed.at(0).at(0).toString();
    }
    return m_window->session() != nullptr ? QString() : QStringLiteral("opened, but no session");
}

std::filesystem::path Console::workspaceFile() const
{
    return host::workspacePaths("test", std::filesystem::path(m_dir.path().toStdString())).settings;
}

std::optional<DimensionState> dimension(const host::EngineHost& host, const LimitTarget& target,
                                        host::LimitField field)
{
    const Admission& admission = host.admission();
    std::optional<ScopeId> scope = Admission::root();
    for (const std::string* part : {&target.provider, &target.key, &target.model}) {
        if (scope && !part->empty()) {
            scope = admission.findScope(*scope, *part);
        }
    }
    if (!scope) {
        return std::nullopt;
    }
    for (const DimensionState& d : admission.snapshot(*scope).dimensions) {
        if (host::limitFieldOf(d.spec) == field) {
            return d;
        }
    }
    return std::nullopt;
}

std::uint64_t keySent(host::EngineHost& host, const std::string& provider, const std::string& key)
{
    const metrics::MetricsSnapshot s = host.metrics().snapshot();
    const metrics::ScopeTotals* t = s.find(metrics::ScopeKey::ofKey(provider, key));
    return t != nullptr ? t->totals.sent : 0;
}

std::int64_t keyInFlight(host::EngineHost& host, const std::string& provider, const std::string& key)
{
    const metrics::MetricsSnapshot s = host.metrics().snapshot();
    const metrics::ScopeTotals* t = s.find(metrics::ScopeKey::ofKey(provider, key));
    return t != nullptr ? t->inFlight : 0;
}

std::optional<KeyStatus> keyStatus(const host::HostStatus& status, const std::string& provider, const std::string& key)
{
    for (const KeyStatus& k : status.dispatch.keys) {
        if (k.provider == provider && k.key == key) {
            return k;
        }
    }
    return std::nullopt;
}

bool pausedAndIdle(const host::EngineHost& host)
{
    const host::HostStatus s = host.status();
    return s.dispatch.paused && s.dispatch.inFlight == 0;
}

json mockStats(const std::string& mockUrl)
{
    test::HttpClient client(mockUrl);
    const test::HttpResponse r = client.get("/mock/stats");
    if (r.status != 200) {
        return json();
    }
    return json::parse(r.body, nullptr, false);
}

bool patchMock(const std::string& mockUrl, const std::string& patch)
{
    test::HttpClient client(mockUrl);
    return client.post("/mock/config", patch, {{"content-type", "application/json"}}).status == 200;
}

std::string readFile(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void clickCell(QAbstractItemView* view, const QModelIndex& index)
{
    view->scrollTo(index);
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->visualRect(index).center());
}

void doubleClickCell(QAbstractItemView* view, const QModelIndex& index)
{
    view->scrollTo(index);
    const QPoint at = view->visualRect(index).center();
    // What a double-click delivers: press, release, double-click, release.
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, at);
    QTest::mouseDClick(view->viewport(), Qt::LeftButton, {}, at);
    QTest::mouseRelease(view->viewport(), Qt::LeftButton, {}, at);
}

}  // namespace sluice::uitest
