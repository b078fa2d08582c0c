// What the console's GUI tests share: a real MainWindow, shown offscreen,
// over a real workspace in its own temporary data directory (a real SQLite
// file, the embedded mock over loopback HTTP, the demo workload queueing
// jobs), settings in a file of its own, and small readers of what the
// engine reports.
//
// The test workspace: provider "openai" on the embedded mock with keys
// team-a and team-b, model gpt-4o-mini limited per key to 600 rpm and a
// daily request count (a counter that only grows within a day, so a reset
// shows). The mock answers fast, has no faults and enforces no limits, so
// everything that happens is Sluice's doing.
//
// Thread-safety: GUI thread only.
#pragma once

#include "console_session.h"
#include "key_vault.h"
#include "main_window.h"

#include <nlohmann/json.hpp>

#include <QAbstractItemView>
#include <QSettings>
#include <QTabWidget>
#include <QTemporaryDir>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace sluice::uitest {

inline constexpr std::int64_t kModelRpm = 600;
inline constexpr std::int64_t kModelRpd = 1'000'000;

host::WorkspaceConfig testWorkspace();
// Answers in about 20 ms, 20 output tokens, no faults, no limits; knows
// the demo keys (team-a, team-b) and "sk-test-added".
mock::MockConfig fastMock();
// A steady stream of valid gpt-4o-mini requests.
host::DemoWorkloadOptions steadyWorkload(double perSecond);

// Test mode for QStandardPaths (no real settings), and no keychain
// service. Call it first, in initTestCase.
void enableTestMode();

class Console {
public:
    Console();
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Empty when the temporary directory could not be made.
    QString setupError() const;

    // Opens `request` (its name defaults to "test", its settings to
    // testWorkspace(), its mock to fastMock()) and waits until the session
    // is open. Returns what went wrong, or an empty string.
    QString open(ui::OpenRequest request);
    // The test workspace with steadyWorkload(perSecond) queueing; what went
    // wrong (setting up or opening), or an empty string.
    QString openSteady(double perSecond);
    // Opens a workspace that exists (its name defaults to "test", its mock
    // to fastMock()), as a restart of the console would; the one open now
    // is closed first.
    QString reopen(ui::OpenRequest request);

    ui::MainWindow& window() { return *m_window; }
    ui::ConsoleSession& session() { return *m_window->session(); }
    host::EngineHost& host() { return session().host(); }
    QString dataHome() const { return m_dir.path(); }
    std::filesystem::path workspaceFile() const;

    // Makes the tab holding `objectName` current (so it is shown and
    // refreshes) and returns the panel.
    template <typename Panel>
    Panel* showPanel(const QString& objectName)
    {
        QTabWidget* tabs = m_window->tabs();
        auto* panel = tabs->findChild<Panel*>(objectName);
        if (panel != nullptr) {
            tabs->setCurrentWidget(panel);
        }
        return panel;
    }

private:
    QTemporaryDir m_dir;
    std::unique_ptr<QSettings> m_settings;
    std::unique_ptr<ui::KeyVault> m_vault;
    std::unique_ptr<ui::MainWindow> m_window;
};

// One limit dimension of a scope as the engine's admission reports it.
std::optional<DimensionState> dimension(const host::EngineHost& host, const LimitTarget& target,
                                        host::LimitField field);
// Requests sent on a key, and in flight on it, as the metrics recorder
// counts them.
std::uint64_t keySent(host::EngineHost& host, const std::string& provider, const std::string& key);
std::int64_t keyInFlight(host::EngineHost& host, const std::string& provider, const std::string& key);
std::optional<KeyStatus> keyStatus(const host::HostStatus& status, const std::string& provider,
                                   const std::string& key);
// Paused, and nothing left in flight: from here on nothing may be sent.
bool pausedAndIdle(const host::EngineHost& host);

// GET /mock/stats and POST /mock/config over loopback HTTP.
nlohmann::json mockStats(const std::string& mockUrl);
bool patchMock(const std::string& mockUrl, const std::string& patch);

// The file's text, empty when it cannot be read.
std::string readFile(const std::filesystem::path& file);

// Clicks (or double-clicks) the middle of a cell, as a user would.
void clickCell(QAbstractItemView* view, const QModelIndex& index);
void doubleClickCell(QAbstractItemView* view, const QModelIndex& index);

}  // namespace sluice::uitest
