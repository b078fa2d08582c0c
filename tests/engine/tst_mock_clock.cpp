// The mock's delays on the injected clock (Delays::OnClock): over real HTTP
// on loopback, a reply with latency is held until a ManualClock reaches its
// time, and a stream releases its tokens one clock step at a time. Nothing
// here waits on real time: the tests wait for what the clock released (the
// waits' limits only stop a broken build from hanging).
#include "mock/mock_provider.h"
#include "support/http_client.h"
#include "support/mock_fixture.h"

#include <QtTest>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace sluice;
using namespace sluice::test;
using namespace std::chrono_literals;

namespace {

// A POST whose body arrives piece by piece, read on its own thread, so the
// test sees each chunk as the server writes it.
class StreamReader {
public:
    StreamReader(std::string url, std::string body) : m_url(std::move(url)), m_body(std::move(body))
    {
        m_thread = std::thread([this] { run(); });
    }
    ~StreamReader() { m_thread.join(); }
    StreamReader(const StreamReader&) = delete;
    StreamReader& operator=(const StreamReader&) = delete;

    // Waits until at least `frames` server-sent events have arrived (or the
    // exchange ended); returns how many have.
    std::size_t waitForFrames(std::size_t frames)
    {
        std::unique_lock lock(m_mutex);
        m_cv.wait_for(lock, 20s, [&] { return m_done || parseSse(m_received).size() >= frames; });
        return parseSse(m_received).size();
    }
    bool waitForEnd()
    {
        std::unique_lock lock(m_mutex);
        return m_cv.wait_for(lock, 20s, [&] { return m_done; });
    }
    std::string received() const
    {
        std::lock_guard guard(m_mutex);
        return m_received;
    }
    CURLcode result() const
    {
        std::lock_guard guard(m_mutex);
        return m_result;
    }

private:
    static std::size_t onData(char* data, std::size_t size, std::size_t count, void* user)
    {
        auto& self = *static_cast<StreamReader*>(user);
        {
            std::lock_guard guard(self.m_mutex);
            self.m_received.append(data, size * count);
        }
        self.m_cv.notify_all();
        return size * count;
    }

    void run()
    {
        http::EasyHandle easy = http::makeEasy();
        http::HeaderList headers;
        for (const auto& [name, value] : openAiHeaders()) {
            headers.append(name + ": " + value);
        }
        CURL* e = easy.get();
        curl_easy_setopt(e, CURLOPT_URL, m_url.c_str());
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, m_body.c_str());
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &StreamReader::onData);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30'000L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        const CURLcode rc = curl_easy_perform(e);
        {
            std::lock_guard guard(m_mutex);
            m_result = rc;
            m_done = true;
        }
        m_cv.notify_all();
    }

    std::string m_url;
    std::string m_body;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::string m_received;
    CURLcode m_result = CURLE_OK;
    bool m_done = false;
    std::thread m_thread;
};

mock::MockConfig fixedOutput(int tokens)
{
    mock::MockConfig c = quietConfig();
    c.output.distribution = mock::DistributionKind::Fixed;
    c.output.mean = tokens;
    return c;
}

}  // namespace

class TestMockClock : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void latencyWaitsForTheClock();
    void streamReleasesTokensStepByStep();
    void realTimeDelaysIgnoreTheManualClock();
};

void TestMockClock::latencyWaitsForTheClock()
{
    // A minute of latency: on the server's real-time timers this test would
    // see no answer at all.
    mock::MockConfig c = fixedOutput(4);
    c.latency.baseMs = 60'000;
    ManualClock clock;
    mock::MockProvider provider(clock, c, mock::Delays::OnClock);
    provider.start();
    const std::string url = provider.baseUrl();
    auto answer = std::async(std::launch::async, [url] {
        HttpClient http(url);
        http.setTimeout(30s);
        return http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", 4), openAiHeaders());
    });
    QTRY_COMPARE_WITH_TIMEOUT(provider.heldReplies(), std::size_t{1}, 20'000);

    clock.advance(59'999ms);
    // Released synchronously by the advance: still held, so nothing is sent.
    QCOMPARE(provider.heldReplies(), std::size_t{1});
    QVERIFY(answer.wait_for(0s) != std::future_status::ready);

    clock.advance(1ms);
    QCOMPARE(provider.heldReplies(), std::size_t{0});
    QVERIFY(answer.wait_for(20s) == std::future_status::ready);
    const HttpResponse r = answer.get();
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    const auto body = parseJson(r.body);
    QCOMPARE(body["usage"]["completion_tokens"].get<int>(), 4);
    // The books closed when the reply went: its output is counted.
    QCOMPARE(provider.stats().outputTokens, std::int64_t{4});
}

void TestMockClock::streamReleasesTokensStepByStep()
{
    constexpr int kTokens = 4;
    mock::MockConfig c = fixedOutput(kTokens);
    c.latency.firstTokenMs = 1'000;
    c.latency.perOutputTokenMs = 100;
    ManualClock clock;
    mock::MockProvider provider(clock, c, mock::Delays::OnClock);
    provider.start();
    StreamReader reader(provider.baseUrl() + "/v1/chat/completions",
                        openAiBody("gpt-4o-mini", kTokens, R"(,"stream":true)"));
    QTRY_COMPARE_WITH_TIMEOUT(provider.heldReplies(), std::size_t{1}, 20'000);
    // The head and the opening frame go at once, as on the server's timers.
    const std::size_t opening = reader.waitForFrames(1);
    QVERIFY(opening >= 1);

    clock.advance(999ms);
    QCOMPARE(provider.heldReplies(), std::size_t{1});
    QCOMPARE(parseSse(reader.received()).size(), opening);
    clock.advance(1ms);
    QCOMPARE(reader.waitForFrames(opening + 1), opening + 1);
    for (int i = 2; i < kTokens; ++i) {
        clock.advance(99ms);
        QCOMPARE(parseSse(reader.received()).size(), opening + static_cast<std::size_t>(i) - 1);
        clock.advance(1ms);
        QCOMPARE(reader.waitForFrames(opening + static_cast<std::size_t>(i)), opening + static_cast<std::size_t>(i));
        QCOMPARE(provider.heldReplies(), std::size_t{1});
    }
    // The last token brings the ending with it (usage, [DONE]).
    clock.advance(100ms);
    QVERIFY(reader.waitForEnd());
    QCOMPARE(reader.result(), CURLE_OK);
    QCOMPARE(provider.heldReplies(), std::size_t{0});
    const auto frames = parseSse(reader.received());
    QVERIFY(frames.size() > opening + kTokens - 1);
    QCOMPARE(frames.back().data, std::string("[DONE]"));
}

void TestMockClock::realTimeDelaysIgnoreTheManualClock()
{
    // The default: delays run on the server's timers, so a reply without
    // latency answers with the ManualClock standing still, and none is held.
    MockFixture f(fixedOutput(4));
    const HttpResponse r = f.http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", 4), openAiHeaders());
    QCOMPARE(r.status, 200L);
    QCOMPARE(f.mock.heldReplies(), std::size_t{0});
}

QTEST_GUILESS_MAIN(TestMockClock)
#include "tst_mock_clock.moc"
