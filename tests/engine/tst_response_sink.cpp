// The ResponseSink hook end to end: real HTTP over loopback against the
// in-process mock. A sink sees one 2xx head, the body bytes exactly as the
// provider sent them, then one end, before the listener hears of the job;
// attempts retried inside Sluice never reach it; cancelling mid-stream
// aborts the transfer. Tests wait on conditions, never on sleeps.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/response_sink.h"
#include "mock/mock_provider.h"

#include <QtTest>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// One order for everything the sinks and the listener hear, so a test can
// tell which came first.
struct Journal {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> entries;  // "head a", "body a", "end a", "finished a"
    std::map<std::string, JobOutcome> finished;

    void add(const std::string& entry)
    {
        std::lock_guard g(mutex);
        entries.push_back(entry);
        cv.notify_all();
    }
    template <typename Pred>
    bool waitUntil(Pred pred, Duration timeout = 30s)
    {
        std::unique_lock l(mutex);
        return cv.wait_for(l, timeout, pred);
    }
    std::vector<std::string> of(const std::string& id)
    {
        std::lock_guard g(mutex);
        std::vector<std::string> out;
        for (const std::string& e : entries) {
            if (e.substr(e.find(' ') + 1) == id) {
                out.push_back(e.substr(0, e.find(' ')));
            }
        }
        return out;
    }
};

class RecordingSink : public ResponseSink {
public:
    RecordingSink(std::string id, Journal& journal) : m_id(std::move(id)), m_journal(journal) {}

    void onHead(long answered, const http::HeaderMap& received) override
    {
        {
            std::lock_guard g(m_journal.mutex);
            ++heads;
            status = answered;
            headers.assign(received.begin(), received.end());
        }
        m_journal.add("head " + m_id);
    }
    void onBody(std::string_view bytes) override
    {
        bool first = false;
        {
            std::lock_guard g(m_journal.mutex);
            first = body.empty();
            body.append(bytes);
            m_journal.cv.notify_all();
        }
        // One journal entry for the run of chunks keeps the order readable.
        if (first) {
            m_journal.add("body " + m_id);
        }
    }
    void onEnd(const JobOutcome& outcome) override
    {
        {
            std::lock_guard g(m_journal.mutex);
            ++ends;
            end = outcome;
        }
        m_journal.add("end " + m_id);
    }

    // Guarded by the journal's mutex.
    int heads = 0;
    int ends = 0;
    long status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    JobOutcome end;

private:
    std::string m_id;
    Journal& m_journal;
};

class Listener : public DispatchListener {
public:
    explicit Listener(Journal& journal) : m_journal(journal) {}
    void onFinished(JobOutcome&& o) override
    {
        // The outcome and its journal entry in one step: a test that waits
        // for the outcome must also find the entry.
        const std::string id = o.customId;
        std::lock_guard g(m_journal.mutex);
        m_journal.finished[id] = std::move(o);
        m_journal.entries.push_back("finished " + id);
        m_journal.cv.notify_all();
    }

private:
    Journal& m_journal;
};

mock::MockConfig fastMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 0;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.limitsEnabled = false;
    return m;
}

Config sluiceConfig(const std::string& baseUrl, const std::string& flavor, json providerExtra = json::object(),
                    json top = json::object())
{
    json provider = {{"name", "mock"},
                     {"flavor", flavor},
                     {"base_url", baseUrl},
                     {"timeouts", {{"connect_s", 2}, {"total_s", 30}}},
                     {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    provider.merge_patch(providerExtra);
    json root = {{"providers", json::array({provider})}, {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
    root.merge_patch(top);
    return loadConfig(JsonSource("test-config.json", root.dump(2)), [](const std::string& name) {
        return name == "MOCK_KEY" ? std::optional<std::string>("sk-mock") : std::nullopt;
    });
}

JobSpec job(const std::string& id, ApiFlavor flavor, bool stream, int maxTokens = 50)
{
    JobSpec j;
    j.customId = id;
    j.flavor = flavor;
    j.body = {{"model", flavor == ApiFlavor::OpenAI ? "gpt-4o-mini" : "claude-haiku-4-5"},
              {"max_tokens", maxTokens},
              {"messages", json::array({{{"role", "user"}, {"content", "Say hello to " + id}}})}};
    if (stream) {
        j.body["stream"] = true;
    }
    return j;
}

struct Rig {
    SystemClock clock;
    mock::MockProvider provider;
    Admission admission{clock};
    Journal journal;
    Listener listener{journal};
    std::unique_ptr<Dispatcher> dispatcher;
    std::map<std::string, std::shared_ptr<RecordingSink>> sinks;

    explicit Rig(mock::MockConfig m) : provider(clock, std::move(m)) { provider.start(); }
    ~Rig()
    {
        if (dispatcher) {
            dispatcher->stop();
        }
        provider.stop();
    }
    void run(Config cfg)
    {
        DispatcherOptions opt;
        opt.seed = 7;
        dispatcher = std::make_unique<Dispatcher>(std::move(cfg), clock, admission, listener, opt);
        dispatcher->start();
    }
    void submit(JobSpec spec)
    {
        auto sink = std::make_shared<RecordingSink>(spec.customId, journal);
        sinks[spec.customId] = sink;
        spec.sink = sink;
        dispatcher->submit(std::move(spec));
    }
    bool waitFinished(std::size_t n, Duration timeout = 30s)
    {
        return journal.waitUntil([&] { return journal.finished.size() >= n; }, timeout);
    }
    JobOutcome outcome(const std::string& id)
    {
        std::lock_guard g(journal.mutex);
        return journal.finished[id];
    }
    std::int64_t used(Measure m)
    {
        const auto p = admission.findScope(Admission::root(), "mock");
        const auto k = admission.findScope(*p, "main");
        const auto s = admission.findScope(*k, "gpt-4o-mini");
        for (const auto& d : admission.snapshot(*s).dimensions) {
            if (d.spec.measure == m) {
                return d.used;
            }
        }
        return -1;
    }
};

std::string header(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& name)
{
    for (const auto& [n, v] : headers) {
        if (n == name) {
            return v;
        }
    }
    return {};
}

QString describe(const std::vector<std::string>& events)
{
    QStringList l;
    for (const auto& e : events) {
        l << QString::fromStdString(e);
    }
    return l.join(QStringLiteral(", "));
}

}  // namespace

class TestResponseSink : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void deliversHeadBodyEndInOrder_data();
    void deliversHeadBodyEndInOrder();
    void retriedAttemptsAreNeverShown_data();
    void retriedAttemptsAreNeverShown();
    void cancelMidStreamAbortsTheTransfer();
    void jobsWithoutASinkAreUnchanged();
};

void TestResponseSink::deliversHeadBodyEndInOrder_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::addColumn<bool>("stream");
    QTest::newRow("OpenAI chat completion") << false << false;
    QTest::newRow("OpenAI streamed chat completion") << false << true;
    QTest::newRow("Anthropic message") << true << false;
    QTest::newRow("Anthropic streamed message") << true << true;
}

void TestResponseSink::deliversHeadBodyEndInOrder()
{
    QFETCH(bool, anthropic);
    QFETCH(bool, stream);
    const ApiFlavor flavor = anthropic ? ApiFlavor::Anthropic : ApiFlavor::OpenAI;
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), anthropic ? "anthropic" : "openai"));
    rig.submit(job("a", flavor, stream));
    QVERIFY(rig.waitFinished(1));

    const std::vector<std::string> events = rig.journal.of("a");
    // head, body (one or more chunks), end, and only then the listener.
    QVERIFY2(events == (std::vector<std::string>{"head", "body", "end", "finished"}), qPrintable(describe(events)));
    const JobOutcome out = rig.outcome("a");
    QCOMPARE(out.result, JobResult::Completed);
    std::lock_guard g(rig.journal.mutex);
    const RecordingSink& sink = *rig.sinks["a"];
    QCOMPARE(sink.heads, 1);
    QCOMPARE(sink.ends, 1);
    QCOMPARE(sink.status, 200L);
    QCOMPARE(sink.end.result, JobResult::Completed);
    QCOMPARE(sink.end.body, out.body);
    QVERIFY(!sink.headers.empty());
    for (const auto& [name, value] : sink.headers) {
        QCOMPARE(QString::fromStdString(name), QString::fromStdString(name).toLower());
    }
    QCOMPARE(header(sink.headers, anthropic ? "request-id" : "x-request-id"), out.requestId);
    if (!stream) {
        // The body exactly as the provider sent it: what the outcome holds.
        QCOMPARE(header(sink.headers, "content-type").rfind("application/json", 0), std::size_t{0});
        QCOMPARE(sink.body, out.body);
        QVERIFY(json::parse(sink.body).contains("usage"));
        return;
    }
    // Raw SSE text, whole: read again, it assembles to the outcome's body.
    QCOMPARE(header(sink.headers, "content-type").rfind("text/event-stream", 0), std::size_t{0});
    QVERIFY2(sink.body.rfind(anthropic ? "event: " : "data: ", 0) == 0, sink.body.c_str());
    QVERIFY(sink.body.find(anthropic ? "message_stop" : "data: [DONE]") != std::string::npos);
    StreamAccumulator again(flavor);
    QVERIFY(again.feed(sink.body));
    QVERIFY(again.complete());
    QCOMPARE(again.assembledBody().dump(), out.body);
}

void TestResponseSink::retriedAttemptsAreNeverShown_data()
{
    QTest::addColumn<bool>("rateLimited");
    QTest::newRow("429s: the key cools and the job is sent again") << true;
    QTest::newRow("500s: retried with backoff") << false;
}

void TestResponseSink::retriedAttemptsAreNeverShown()
{
    QFETCH(bool, rateLimited);
    mock::MockConfig m = fastMock();
    if (rateLimited) {
        // 600 RPM enforced 10 per second, and Sluice told nothing: a burst
        // of 30 meets 429s.
        m.limitsEnabled = true;
        m.models["gpt-4o-mini"].limits = mock::RateLimits{};
        m.models["gpt-4o-mini"].limits.requestsPerMinute = 600;
        m.models["gpt-4o-mini"].limits.granularity = 1s;
    } else {
        m.faults[mock::Fault::Http500] = 0.5;
    }
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai", {{"learn_limits", false}},
                         {{"retry", {{"max_attempts", 30}}}}));
    const int n = rateLimited ? 30 : 16;
    for (int i = 0; i < n; ++i) {
        rig.submit(job("r" + std::to_string(i), ApiFlavor::OpenAI, i % 2 == 1));
    }
    QVERIFY(rig.waitFinished(static_cast<std::size_t>(n), 60s));
    int retried = 0;
    for (int i = 0; i < n; ++i) {
        const std::string id = "r" + std::to_string(i);
        const JobOutcome out = rig.outcome(id);
        QCOMPARE(out.result, JobResult::Completed);
        retried += out.attempts.size() > 1;
        const std::vector<std::string> events = rig.journal.of(id);
        QVERIFY2(events == (std::vector<std::string>{"head", "body", "end", "finished"}), qPrintable(describe(events)));
        std::lock_guard g(rig.journal.mutex);
        const RecordingSink& sink = *rig.sinks[id];
        QCOMPARE(sink.heads, 1);
        QCOMPARE(sink.status, 200L);
        // Only the delivered attempt's bytes: no error body before them.
        QVERIFY2(sink.body.find("error") == std::string::npos, sink.body.c_str());
        if (i % 2 == 0) {
            QCOMPARE(sink.body, out.body);
        }
    }
    // The case under test happened.
    QVERIFY(retried > 0);
}

void TestResponseSink::cancelMidStreamAbortsTheTransfer()
{
    mock::MockConfig m = fastMock();
    // 400 tokens at 50 ms each: twenty seconds of stream.
    m.latency.perOutputTokenMs = 50;
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 400;
    m.output.min = 400;
    m.output.max = 400;
    Rig rig(m);
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai",
                         {{"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 100000}, {"concurrency", 4}}}}}}}}));
    rig.submit(job("c", ApiFlavor::OpenAI, true, 1000));
    // Wait for the first token (the preamble may come alone).
    QVERIFY(rig.journal.waitUntil([&] { return rig.sinks["c"]->body.find("content") != std::string::npos; }));
    rig.dispatcher->cancel("c");
    QVERIFY(rig.waitFinished(1, 10s));
    QTRY_COMPARE(rig.dispatcher->stats().inFlight, std::uint64_t{0});

    const std::vector<std::string> events = rig.journal.of("c");
    QVERIFY2(events == (std::vector<std::string>{"head", "body", "end", "finished"}), qPrintable(describe(events)));
    QCOMPARE(rig.outcome("c").result, JobResult::Cancelled);
    std::lock_guard g(rig.journal.mutex);
    const RecordingSink& sink = *rig.sinks["c"];
    QCOMPARE(sink.ends, 1);
    QCOMPARE(sink.end.result, JobResult::Cancelled);
    QCOMPARE(sink.end.cls, FailureClass::Cancelled);
    // Aborted: the stream's end never arrived.
    QVERIFY(sink.body.find("[DONE]") == std::string::npos);
    // Settled, not refunded: the provider answered and counts the request;
    // the connection it held is free again.
    QCOMPARE(rig.used(Measure::Concurrency), 0);
    QVERIFY(rig.used(Measure::TotalTokens) > 0);
}

void TestResponseSink::jobsWithoutASinkAreUnchanged()
{
    Rig rig(fastMock());
    rig.run(sluiceConfig(rig.provider.baseUrl(), "openai"));
    JobSpec plain = job("p", ApiFlavor::OpenAI, false);
    rig.dispatcher->submit(plain);
    QVERIFY(rig.waitFinished(1));
    const JobOutcome out = rig.outcome("p");
    QCOMPARE(out.result, JobResult::Completed);
    QVERIFY(json::parse(out.body).contains("usage"));
    QVERIFY(rig.journal.of("p") == std::vector<std::string>{"finished"});
}

QTEST_APPLESS_MAIN(TestResponseSink)
#include "tst_response_sink.moc"
