// Each sluice-cli subcommand registers itself on the CLI11 app. The handler
// it installs returns the process exit status through `exitCode`.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace sluice::cli {

// Exit statuses shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // the work ran and something failed
inline constexpr int kExitBadInput = 2;    // bad flags, config or input: nothing started

void addDemoCommand(CLI::App& app, int& exitCode);
void addBatchCommand(CLI::App& app, int& exitCode);
void addMockCommand(CLI::App& app, int& exitCode);
void addReportCommand(CLI::App& app, int& exitCode);
void addLoadtestCommand(CLI::App& app, int& exitCode);
void addTokensCommand(CLI::App& app, int& exitCode);
void addServeCommand(CLI::App& app, int& exitCode);
void addWorkerCommand(CLI::App& app, int& exitCode);
void addWhatIfCommand(CLI::App& app, int& exitCode);
void addLimitsCommand(CLI::App& app, int& exitCode);

// `batch --queue shared` (worker_command.cpp): enqueue into the namespace's
// shared queue, work on it, collect the results in input order.
struct SharedQueueBatch {
    std::string config;
    std::string input;
    std::string output;
    std::string rejects;
    std::uint64_t seed = 0;
};
int runSharedQueueBatch(const SharedQueueBatch& options);

}  // namespace sluice::cli
