// ControlClient: the console's side of a headless instance's control
// endpoint (ControlServer): each call is one HTTP request over libcurl
// (http::HttpClient), waited for, its JSON read back into the same values
// the embedded engine gives. A bearer token, when given, is sent as a
// Secret header and never logged.
//
// Thread-safety: none; one thread uses a client (each call blocks until its
// answer or timeout, so never the GUI thread).
#pragma once

#include "control/control_protocol.h"
#include "core/secret.h"
#include "http/http_client.h"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace sluice::control {

// The instance refused (status ≥ 400, with its message) or could not be
// reached (status 0).
class ControlError : public std::runtime_error {
public:
    ControlError(long status, const std::string& what) : std::runtime_error(what), m_status(status) {}
    long status() const noexcept { return m_status; }

private:
    long m_status;
};

// "HOST:PORT" or "http://HOST:PORT[/]" → "http://HOST:PORT". Throws
// InputError naming the address when it is neither.
std::string controlBaseUrl(const std::string& address);

class ControlClient {
public:
    ControlClient(std::string address, std::optional<Secret> token, const Clock& clock,
                  Duration timeout = std::chrono::seconds(10));
    ~ControlClient();
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;

    const std::string& baseUrl() const noexcept { return m_base; }

    ControlStatus status();
    SeriesPage series(const metrics::ScopeKey& scope, Duration width, std::optional<TimePoint> since);
    Config config();
    // The per-minute rows of [from, to) for a usage report; ControlError
    // (501) when the instance keeps none.
    RollupPage rollups(WallTime from, WallTime to);
    void setLimits(const LimitTarget& target, const std::vector<LimitSpec>& limits);
    void pause();
    void resume();
    // Closes the intake and resumes dispatch; ControlError (501) when the
    // instance has no intake to close.
    void drain();
    void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled);
    std::vector<store::DeadLetter> deadLetters(const store::DeadLetterFilter& filter, std::size_t limit);
    JobDetail job(store::JobId id);
    // How many were requeued (0 or 1 for one job).
    std::size_t requeue(store::JobId id);
    std::size_t requeueDead(const store::DeadLetterFilter& filter);
    bool editAndRequeue(store::JobId id, const std::string& body);

private:
    nlohmann::json call(const char* method, const std::string& target, const nlohmann::json* body);

    std::string m_base;
    std::optional<Secret> m_token;
    const Clock& m_clock;
    Duration m_timeout;
    std::unique_ptr<http::HttpClient> m_http;
};

}  // namespace sluice::control
