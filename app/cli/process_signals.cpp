#include "cli/process_signals.h"

#include <sys/resource.h>

#include <atomic>
#include <csignal>

namespace sluice::cli {

namespace {

std::atomic<bool> g_stopRequested{false};

extern "C" void onStopSignal(int)
{
    g_stopRequested = true;
}

}  // namespace

void watchStopSignals()
{
    std::signal(SIGINT, onStopSignal);
    std::signal(SIGTERM, onStopSignal);
}

bool stopRequested() noexcept
{
    return g_stopRequested.load();
}

void raiseDescriptorLimit()
{
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace sluice::cli
