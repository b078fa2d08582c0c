#include "mock/clock_timers.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace sluice::mock {

ClockTimers::ClockTimers(Clock& clock) : m_clock(clock), m_subscription(clock.subscribe([this] { runDue(); })) {}

ClockTimers::~ClockTimers()
{
    // Unsubscribing waits for a running advance, so nothing fires after.
    m_subscription = ClockSubscription();
    clear();
}

void ClockTimers::at(TimePoint due, std::function<void()> fire)
{
    {
        std::lock_guard guard(m_mutex);
        m_due.emplace(due, std::move(fire));
    }
    // Already due (or the clock moved while it was being planned): run
    // now rather than wait for an advance that may never come.
    if (due <= m_clock.now()) {
        runDue();
    }
}

void ClockTimers::clear()
{
    std::multimap<TimePoint, std::function<void()>> dropped;
    {
        std::lock_guard guard(m_mutex);
        dropped.swap(m_due);
    }
    // Destroyed outside the lock: what the callbacks hold may take locks.
}

std::size_t ClockTimers::pending() const
{
    std::lock_guard guard(m_mutex);
    return m_due.size();
}

void ClockTimers::runDue()
{
    // One at a time, unlocked while it runs: a callback may add another,
    // due already, which this loop then runs in its turn.
    while (true) {
        std::function<void()> fire;
        {
            std::lock_guard guard(m_mutex);
            if (m_due.empty() || m_due.begin()->first > m_clock.now()) {
                return;
            }
            fire = std::move(m_due.begin()->second);
            m_due.erase(m_due.begin());
        }
        fire();
    }
}

namespace {

// The reply's onFinished, called once whoever gets there first: the server
// (the reply was handed over) or the pacer (the peer left, or the mock
// stopped, while the reply was held).
class FinishOnce {
public:
    explicit FinishOnce(std::function<void(bool)> fn) : m_fn(std::move(fn)) {}
    void operator()(bool delivered)
    {
        std::function<void(bool)> fn;
        {
            std::lock_guard guard(m_mutex);
            fn = std::exchange(m_fn, nullptr);
        }
        if (fn) {
            fn(delivered);
        }
    }

private:
    std::mutex m_mutex;
    std::function<void(bool)> m_fn;
};

}  // namespace

struct ClockPacedReplies::Play {
    std::mutex mutex;
    net::HttpResponder responder;  // until the reply (or its head) is handed over
    net::HttpReply reply;          // the plan; parts before `next` are sent
    std::shared_ptr<net::HttpStream> stream;
    std::shared_ptr<FinishOnce> finished;
    std::shared_ptr<std::atomic<std::size_t>> heldCount;
    std::size_t next = 0;
    TimePoint due{};  // when parts[next] goes
    bool handedOver = false;
    bool gone = false;
    bool counted = false;

    void uncount()
    {
        if (std::exchange(counted, false)) {
            heldCount->fetch_sub(1);
        }
    }

    // The peer left while the reply was held or streaming.
    void abandon()
    {
        {
            std::lock_guard guard(mutex);
            if (gone) {
                return;
            }
            gone = true;
            uncount();
        }
        (*finished)(false);
    }

    ~Play()
    {
        if (counted) {
            heldCount->fetch_sub(1);
        }
        if (!handedOver && finished) {
            (*finished)(false);  // dropped unsent: the mock stopped
        }
    }
};

ClockPacedReplies::ClockPacedReplies(Clock& clock)
    : m_clock(clock), m_held(std::make_shared<std::atomic<std::size_t>>(0)), m_timers(clock)
{
}

void ClockPacedReplies::play(net::HttpResponder responder, net::HttpReply reply)
{
    auto& parts = reply.parts;
    if (std::none_of(parts.begin(), parts.end(), [](const net::HttpPart& p) { return p.delay > Duration::zero(); })) {
        responder.send(std::move(reply));
        return;
    }
    auto p = std::make_shared<Play>();
    p->due = m_clock.now() + parts.front().delay;
    if (!reply.chunked) {
        // Content-Length framing goes in one piece: when its last part is due.
        for (std::size_t i = 1; i < parts.size(); ++i) {
            p->due += parts[i].delay;
        }
        for (auto& part : parts) {
            part.delay = Duration::zero();
        }
    }
    p->finished = std::make_shared<FinishOnce>(std::move(reply.onFinished));
    reply.onFinished = [finished = p->finished](bool delivered) { (*finished)(delivered); };
    p->heldCount = m_held;
    p->counted = true;
    m_held->fetch_add(1);
    p->reply = std::move(reply);
    p->responder = std::move(responder);
    p->responder.onPeerGone([weak = std::weak_ptr<Play>(p)] {
        if (const auto alive = weak.lock()) {
            alive->abandon();
        }
    });
    schedule(p);
}

void ClockPacedReplies::schedule(const std::shared_ptr<Play>& play)
{
    const TimePoint due = play->due;
    m_timers.at(due, [this, play] { release(play); });
}

void ClockPacedReplies::release(const std::shared_ptr<Play>& play)
{
    net::HttpResponder responder;
    net::HttpReply whole;
    net::HttpReply head;
    std::vector<std::string> chunks;
    std::shared_ptr<net::HttpStream> stream;
    bool last = false;
    bool chunked = false;
    net::HttpEnding ending = net::HttpEnding::Complete;
    {
        std::lock_guard guard(play->mutex);
        if (play->gone) {
            return;
        }
        chunked = play->reply.chunked;
        ending = play->reply.ending;
        auto& parts = play->reply.parts;
        std::size_t end = play->next + 1;
        while (end < parts.size() && parts[end].delay <= Duration::zero()) {
            ++end;
        }
        last = end >= parts.size();
        if (!chunked) {
            whole = std::move(play->reply);
            responder = std::move(play->responder);
            last = true;
        } else if (!play->stream) {
            head.status = play->reply.status;
            head.headers = play->reply.headers;
            head.onFinished = std::exchange(play->reply.onFinished, nullptr);
            for (std::size_t i = play->next; i < end; ++i) {
                head.parts.push_back(net::HttpPart{Duration::zero(), std::move(parts[i].data)});
            }
            responder = std::move(play->responder);
        } else {
            for (std::size_t i = play->next; i < end; ++i) {
                chunks.push_back(std::move(parts[i].data));
            }
            stream = play->stream;
        }
        play->handedOver = true;
        play->next = end;
        if (last) {
            play->uncount();
        } else {
            play->due += parts[end].delay;
        }
    }
    if (!chunked) {
        responder.send(std::move(whole));
        return;
    }
    if (responder.valid()) {
        stream = responder.stream(std::move(head));
        std::lock_guard guard(play->mutex);
        play->stream = stream;
    }
    for (auto& chunk : chunks) {
        stream->write(std::move(chunk));
    }
    if (!last) {
        schedule(play);
        return;
    }
    switch (ending) {
    case net::HttpEnding::Complete: stream->end(); break;
    case net::HttpEnding::Close:
    case net::HttpEnding::Reset: stream->abort(); break;
    case net::HttpEnding::Hang: break;
    }
}

std::size_t ClockPacedReplies::held() const
{
    return m_held->load();
}

void ClockPacedReplies::stop()
{
    m_timers.clear();
}

}  // namespace sluice::mock
