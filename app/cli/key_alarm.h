// The listener that says quarantined keys and provider outages out loud on
// stderr, for the commands that run unattended (batch, serve), and what was
// found out about how a provider counts (its refunds). Called on the
// dispatcher's thread; stateless.
#pragma once

#include "dispatch/dispatch_types.h"

#include <cstdio>
#include <string>
#include <utility>

namespace sluice::cli {

class KeyAlarm : public DispatchListener {
public:
    // prefix starts each line ("\nsluice-cli:" to break a progress line).
    explicit KeyAlarm(std::string prefix) : m_prefix(std::move(prefix)) {}
    void onFinished(JobOutcome&&) override {}
    bool readsOutcomes() const noexcept override { return false; }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override
    {
        std::fprintf(stderr, "%s key %s/%s quarantined: %s\n", m_prefix.c_str(), provider.c_str(), key.c_str(),
                     reason.c_str());
    }
    // Once per outage: the jobs wait for the provider, nothing is lost.
    void onProviderProblem(const std::string& provider, const std::string& reason) override
    {
        std::fprintf(stderr, "%s provider %s: %s\n", m_prefix.c_str(), provider.c_str(), reason.c_str());
    }
    void onProviderLearned(const std::string& provider, const std::string& what) override
    {
        std::fprintf(stderr, "%s provider %s: %s\n", m_prefix.c_str(), provider.c_str(), what.c_str());
    }

private:
    std::string m_prefix;
};

}  // namespace sluice::cli
