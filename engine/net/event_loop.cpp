#include "net/event_loop.h"

#include "net/asio_loop.h"
#include "net/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>

namespace sluice::net {

namespace asio = boost::asio;
using boost::system::error_code;

EventLoop::EventLoop(std::size_t batch) : m_impl(std::make_unique<Impl>()), m_batch(std::max<std::size_t>(batch, 1)) {}

EventLoop::~EventLoop()
{
    m_impl->work.reset();
}

DirectReplies::DirectReplies(EventLoop& loop) noexcept : m_loop(loop)
{
    m_loop.enterDirectReplies();
}

DirectReplies::~DirectReplies()
{
    m_loop.leaveDirectReplies();
}

void EventLoop::leaveDirectReplies() noexcept
{
    // Work carried out here may hold more (a write that finished at once
    // begins the next): that is carried out too, before the scope is gone.
    while (m_directReplies == 1 && !m_held.empty()) {
        m_carrying.swap(m_held);
        for (auto& work : m_carrying) {
            try {
                work();
            } catch (const std::exception& e) {
                // As in run(): one reply's failure must not drop the others.
                std::fprintf(stderr, "event loop: %s\n", e.what());
            } catch (...) {
                std::fprintf(stderr, "event loop: unknown exception\n");
            }
        }
        m_carrying.clear();
    }
    --m_directReplies;
}

void EventLoop::runFor(Duration timeout)
{
    run(timeout, nullptr);
}

void EventLoop::runFor(Duration timeout, const std::function<void()>& between)
{
    run(timeout, &between);
}

void EventLoop::run(Duration timeout, const std::function<void()>* between)
{
    m_driver.store(std::this_thread::get_id());
    asio::io_context& io = m_impl->io;
    try {
        // A wakeup from this thread (work it queued outside runFor) means
        // "do not wait": run what is ready and return.
        const bool wokenBefore = m_woken.exchange(false);
        std::size_t ran = io.poll_one();
        if (ran == 0 && !wokenBefore && !m_woken.load() && timeout > Duration::zero()) {
            ran = io.run_one_for(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
        }
        // At most a batch: what these handlers start elsewhere (a request
        // handed to the dispatcher, a transfer started) waits until the
        // owner takes it up, so each handler run before that adds to that
        // request's latency, and under load an unbounded poll() would read
        // every waiting request before sending the first one upstream.
        // Without `between` the batch ends after a handler that called
        // wakeup(), and the owner's next turn comes at once. With it the
        // owner takes the work up between two handlers: ending the batch
        // instead would run the owner's whole loop once per request (~14%
        // more CPU per request at saturation, docs/benchmarks.md), and
        // batching past it held a request read early in a burst until the
        // batch ended (~180 us at half load, docs/benchmarks.md).
        for (;;) {
            if (between == nullptr) {
                if (m_woken.load()) {
                    break;
                }
            } else if (m_woken.exchange(false)) {
                (*between)();
            }
            if (ran >= m_batch || io.poll_one() == 0) {
                break;
            }
            ++ran;
        }
    } catch (const std::exception& e) {
        // A handler's exception must not end the driver's loop.
        std::fprintf(stderr, "event loop: %s\n", e.what());
    }
    if (io.stopped()) {
        io.restart();
    }
    m_woken.store(false);
}

void EventLoop::wakeup()
{
    m_woken.store(true);
    if (!inDriverThread()) {
        // Interrupts a driver waiting in the reactor.
        asio::post(m_impl->io, [] {});
    }
}

void EventLoop::call(const std::function<void()>& fn)
{
    if (inDriverThread()) {
        fn();
        return;
    }
    // Whoever starts the work first does it: the driver when it runs the
    // posted task, or the caller when no driver took it in time (no thread
    // drives the loop, so running it here races with nothing).
    struct Task {
        std::mutex mutex;
        std::condition_variable cv;
        enum { Pending, Taken, Done } state = Pending;
    };
    auto task = std::make_shared<Task>();
    asio::post(m_impl->io, [task, &fn] {
        {
            std::lock_guard guard(task->mutex);
            if (task->state != Task::Pending) {
                return;
            }
            task->state = Task::Taken;
        }
        fn();
        std::lock_guard guard(task->mutex);
        task->state = Task::Done;
        task->cv.notify_all();
    });
    std::unique_lock lock(task->mutex);
    if (task->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return task->state == Task::Done; })) {
        return;
    }
    if (task->state == Task::Pending) {
        task->state = Task::Taken;
        lock.unlock();
        fn();
        return;
    }
    task->cv.wait(lock, [&] { return task->state == Task::Done; });
}

// ------------------------------------------------------------------ FdWatch

struct FdWatch::State : std::enable_shared_from_this<FdWatch::State> {
    State(asio::io_context& io, int fd, std::function<void(bool, bool)> cb) : descriptor(io, fd), onReady(std::move(cb))
    {
    }

    asio::posix::stream_descriptor descriptor;
    std::function<void(bool, bool)> onReady;
    unsigned interest = 0;
    bool waiting[2] = {false, false};
    bool closed = false;

    void arm()
    {
        for (int i = 0; i < 2; ++i) {
            const unsigned bit = i == 0 ? kReadable : kWritable;
            if ((interest & bit) == 0 || waiting[i] || closed) {
                continue;
            }
            waiting[i] = true;
            const auto kind = i == 0 ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
            descriptor.async_wait(kind, [self = shared_from_this(), i, bit](error_code ec) {
                self->waiting[i] = false;
                if (ec || self->closed || (self->interest & bit) == 0) {
                    return;
                }
                // The callback may stop the watch (or change it): `self`
                // keeps this state alive, and a copy the callback itself.
                const auto callback = self->onReady;
                callback(i == 0, i == 1);
                self->arm();
            });
        }
    }
};

FdWatch::FdWatch(EventLoop& loop, int fd, std::function<void(bool readable, bool writable)> onReady)
    : m_state(std::make_shared<State>(loop.impl().io, fd, std::move(onReady)))
{
}

FdWatch::~FdWatch()
{
    m_state->closed = true;
    m_state->onReady = nullptr;
    // Stops watching (pending waits end as aborted) and gives the
    // descriptor back: its owner closes it.
    (void)m_state->descriptor.release();
}

void FdWatch::set(unsigned interest)
{
    m_state->interest = interest;
    m_state->arm();
}

// ---------------------------------------------------------------- LoopTimer

struct LoopTimer::State : std::enable_shared_from_this<LoopTimer::State> {
    State(asio::io_context& io, std::function<void()> cb) : timer(io), onFire(std::move(cb)) {}
    asio::steady_timer timer;
    std::function<void()> onFire;
    std::uint64_t generation = 0;
};

LoopTimer::LoopTimer(EventLoop& loop, std::function<void()> onFire)
    : m_state(std::make_shared<State>(loop.impl().io, std::move(onFire)))
{
}

LoopTimer::~LoopTimer()
{
    cancel();
    m_state->onFire = nullptr;
}

void LoopTimer::arm(Duration after)
{
    const std::uint64_t generation = ++m_state->generation;
    m_state->timer.expires_after(after);
    m_state->timer.async_wait([self = m_state, generation](error_code ec) {
        if (!ec && self->generation == generation && self->onFire) {
            self->onFire();
        }
    });
}

void LoopTimer::cancel()
{
    ++m_state->generation;
    m_state->timer.cancel();
}

}  // namespace sluice::net
