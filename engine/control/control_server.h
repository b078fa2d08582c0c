// ControlServer: a headless instance's control endpoint (sluice-cli serve,
// batch and worker with --control HOST:PORT). It answers, as JSON over
// HTTP, the snapshots the console reads from its embedded engine (status,
// live series, configuration, dead letters) and performs the same commands
// (limits, pause, resume and drain, keys enabled or disabled, requeue) on the
// running Dispatcher and store, so the console can operate the instance
// as its own. The routes are in docs/control.md.
//
// It listens on loopback unless given a token: an address other than
// loopback without one is refused at construction, and with a token every
// request must carry "Authorization: Bearer TOKEN" (401 otherwise). The
// token is held as a Secret and never logged or echoed.
//
// Thread-safety: start(), stop() and port() from one controlling thread.
// Requests are answered on the server's io thread: dispatcher calls take
// short locks; store calls (counts, dead letters, requeue) wait on the
// disk there, never on the dispatcher's thread.
#pragma once

#include "admission/admission.h"
#include "control/dead_letter_book.h"
#include "control/event_log.h"
#include "core/secret.h"
#include "dispatch/dispatcher.h"
#include "metrics/metrics_recorder.h"
#include "net/http_server.h"
#include "store/job_store.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice::control {

// What the instance lets the endpoint see and change. Every pointer must
// outlive the server's stop(); the optional ones may be null.
struct ControlTarget {
    std::string kind;  // "serve", "batch", "worker"
    Clock* clock = nullptr;
    Dispatcher* dispatcher = nullptr;
    const Admission* admission = nullptr;
    metrics::MetricsRecorder* metrics = nullptr;  // live series; null: none
    store::JobStore* store = nullptr;             // queue counts, dead letters; null: none
    // Where the dead letters are when not in `store` (worker: the shared
    // queue; serve: its failed requests); null: none, or `store`'s.
    DeadLetterBook* deadLetters = nullptr;
    std::function<void()> poke;                   // wakes the store's runner after a requeue
    // Closes the instance's intake, as the console's Drain does on its own
    // engine: nothing new is taken in, what is queued runs until the queue
    // is empty. Null: the instance has no intake to close (drain refused).
    std::function<void()> drain;
    const EventLog* events = nullptr;
    // The per-minute rollups in [from, to) a usage report is built from
    // (the state file's, or this run's in memory); null: none (501).
    std::function<RollupPage(WallTime from, WallTime to)> rollups;
};

struct ControlOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    // Required for an address other than loopback.
    std::optional<Secret> token;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool isLoopback(const std::string& host);

class ControlServer {
public:
    // Throws InputError when the address is not loopback and there is no
    // token, or the token is empty.
    ControlServer(ControlOptions options, ControlTarget target);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Binds and serves; returns the bound port. Throws std::runtime_error
    // naming the address when it cannot listen.
    std::uint16_t start();
    void stop();
    std::uint16_t port() const noexcept;
    // "http://127.0.0.1:PORT"
    std::string url() const;

private:
    void handle(net::InboundRequest&& request, net::HttpResponder responder);
    bool authorized(const net::InboundRequest& request) const;
    // One reply per route; a Refusal (or a ProtocolError, an InputError)
    // thrown on the way becomes handle()'s error reply.
    net::HttpReply route(const net::InboundRequest& request);
    net::HttpReply statusReply() const;
    net::HttpReply seriesReply(const net::InboundRequest& request) const;
    net::HttpReply rollupsReply(const net::InboundRequest& request) const;
    net::HttpReply setLimits(const net::InboundRequest& request);
    net::HttpReply drain();
    net::HttpReply setKeyEnabled(const net::InboundRequest& request);
    net::HttpReply deadLettersReply(const net::InboundRequest& request) const;
    net::HttpReply jobReply(const std::string& path) const;
    net::HttpReply requeue(const net::InboundRequest& request);
    net::HttpReply editAndRequeue(const net::InboundRequest& request);
    DeadLetterBook& requireBook() const;
    DeadLetterBook& requireRequeue() const;
    void poke() const;

    ControlOptions m_options;
    ControlTarget m_target;
    std::unique_ptr<DeadLetterBook> m_storeBook;  // over `store`, when given
    DeadLetterBook* m_book = nullptr;
    std::unique_ptr<net::HttpServer> m_server;
    std::atomic<bool> m_draining{false};  // a drain was asked for (io thread writes)
};

}  // namespace sluice::control
