// EventLoop: one Asio event loop that a thread of someone else's drives
// (runFor), so several parts can share that thread: the gateway's HttpServer
// (its connections) and the dispatcher's libcurl transfers (their sockets,
// watched through FdWatch, their timeouts through LoopTimer). A request
// that arrives on a connection and is sent upstream, and its answer written
// back, then never cross threads: two wake-ups per request instead of four.
// Boost stays inside the .cpp files of engine/net.
//
// Thread-safety: runFor() from one thread at a time (the driver); wakeup(),
// inDriverThread() and call() from any thread. FdWatch and LoopTimer are
// created, changed and destroyed on the driver thread only, and call back
// there. The loop must outlive everything that uses it.
#pragma once

#include "core/clock.h"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace sluice::net {

class EventLoop {
public:
    // Handlers one runFor() runs at most, unless told otherwise.
    static constexpr std::size_t kDefaultBatch = 16;

    explicit EventLoop(std::size_t batch = kDefaultBatch);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Runs the work that is ready, at most `batch` handlers of it, and
    // returns after a handler that called wakeup() (it queued work for the
    // driver's owner, who runs it when runFor returns); when none is ready,
    // waits up to `timeout` for some (or for wakeup()) and runs it. Work
    // left ready runs in the next call, which then does not wait. The
    // calling thread becomes the driver.
    void runFor(Duration timeout);
    // The same for an owner that takes up handed-over work inside the
    // batch: after a handler that called wakeup() (or when another thread's
    // wakeup() is seen), `between` runs before the next handler, and the
    // batch goes on. A request a handler hands to the dispatcher then goes
    // upstream before the next one is read, and the owner's own loop turns
    // once per batch, not once per request.
    void runFor(Duration timeout, const std::function<void()>& between);
    // Makes a runFor() in progress return promptly, or the next one not wait.
    void wakeup();
    bool inDriverThread() const noexcept { return m_driver.load() == std::this_thread::get_id(); }
    // Runs `fn` on the driver thread (inside runFor) and waits for it; when
    // no thread drives the loop within a short while, runs it on the caller.
    void call(const std::function<void()>& fn);
    // The net::DirectReplies scopes open on the driver thread (http_server.h
    // says what they allow). Driver thread only.
    void enterDirectReplies() noexcept { ++m_directReplies; }
    // Closing the outermost scope carries out the work held in it, in the
    // order it was held, before it returns.
    void leaveDirectReplies() noexcept;
    bool inDirectReplies() const noexcept { return m_directReplies > 0; }
    // Work (a reply's write) held until the outermost DirectReplies scope
    // closes. Driver thread, inside a scope, only.
    void holdUntilScopeCloses(std::function<void()> work) { m_held.push_back(std::move(work)); }

    struct Impl;
    Impl& impl() noexcept { return *m_impl; }

private:
    void run(Duration timeout, const std::function<void()>* between);

    std::unique_ptr<Impl> m_impl;
    std::size_t m_batch;
    int m_directReplies = 0;  // driver thread only
    // Driver thread only: what the open scopes hold, and the list being
    // carried out while more is held (kept to reuse their storage).
    std::vector<std::function<void()>> m_held;
    std::vector<std::function<void()>> m_carrying;
    std::atomic<std::thread::id> m_driver{};
    std::atomic<bool> m_woken{false};
};

// Watches a descriptor it does not own: `onReady(readable, writable)` runs on
// the driver thread whenever the descriptor is ready for what set() asked,
// until set(0) or destruction, which never closes the descriptor.
class FdWatch {
public:
    static constexpr unsigned kReadable = 1;
    static constexpr unsigned kWritable = 2;

    FdWatch(EventLoop& loop, int fd, std::function<void(bool readable, bool writable)> onReady);
    ~FdWatch();
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;

    void set(unsigned interest);

    struct State;

private:
    std::shared_ptr<State> m_state;
};

// A one-shot timer on the loop: `onFire` runs on the driver thread once
// the time armed last has come, unless cancelled or re-armed first.
class LoopTimer {
public:
    LoopTimer(EventLoop& loop, std::function<void()> onFire);
    ~LoopTimer();
    LoopTimer(const LoopTimer&) = delete;
    LoopTimer& operator=(const LoopTimer&) = delete;

    void arm(Duration after);
    void cancel();

    struct State;

private:
    std::shared_ptr<State> m_state;
};

}  // namespace sluice::net
