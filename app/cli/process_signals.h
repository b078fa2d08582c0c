// What the long-running commands (batch, demo, loadtest, serve, worker) need
// of the process itself: a stop flag set by Ctrl-C or SIGTERM, and enough
// file descriptors for thousands of connections.
//
// A signal handler may only set a lock-free atomic, so the flag is the one
// piece of process-wide state here; each command installs the handlers when
// it starts and polls stopRequested() from its own loop. Thread-safe.
#pragma once

namespace sluice::cli {

// SIGINT and SIGTERM set the stop flag instead of killing the process.
void watchStopSignals();
bool stopRequested() noexcept;

// Raises the soft limit on open descriptors to the hard limit (often 1,024
// against far more).
void raiseDescriptorLimit();

}  // namespace sluice::cli
