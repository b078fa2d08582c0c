// Stored responses through the gateway, over real HTTP on loopback: a real
// Dispatcher with two keys of one provider in front of the mock, whose keys
// stand for two projects (a response is known only to the key that made
// it, as at OpenAI). A continuation (previous_response_id) and GET, DELETE,
// cancel and input_items of a response go on the key that made it, even
// when the dispatcher would choose the other; another tenant's response is
// answered 404; nothing read back is counted as usage again. Two gateways
// sharing a Redis namespace (a real redis-server) find each other's
// responses.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/response_owners.h"
#include "mock/mock_provider.h"
#include "shared/shared_directory.h"
#include "support/http_client.h"
#include "support/redis_server.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Outcomes : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard guard(m_mutex);
        m_keys.push_back(o.key);
        if (o.usage) {
            m_tokens += o.usage->inputTokens + o.usage->outputTokens;
        }
    }
    std::vector<std::string> keys()
    {
        std::lock_guard guard(m_mutex);
        return m_keys;
    }
    std::int64_t tokens()
    {
        std::lock_guard guard(m_mutex);
        return m_tokens;
    }

private:
    std::mutex m_mutex;
    std::vector<std::string> m_keys;
    std::int64_t m_tokens = 0;
};

mock::MockConfig twoProjects()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 0;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.limitsEnabled = false;
    m.keys.clear();
    m.keys["sk-project-1"] = mock::MockKey{};
    m.keys["sk-project-2"] = mock::MockKey{};
    return m;
}

// Key one has room for few requests a minute, key two for many: with both
// usable, a request that may go anywhere goes on two (the most headroom).
Config sluiceConfig(const std::string& baseUrl)
{
    const json provider = {
        {"name", "openai"},
        {"flavor", "openai"},
        {"base_url", baseUrl},
        {"learn_limits", false},
        {"models", {{"gpt-4o-mini", json::object()}}},
        {"keys", json::array({{{"name", "one"}, {"env", "KEY_ONE"}, {"limits", {{"rpm", 600}, {"rpd", 100000}}}},
                              {{"name", "two"}, {"env", "KEY_TWO"}, {"limits", {{"rpm", 60000}, {"rpd", 100000}}}}})}};
    const json root = {{"providers", json::array({provider})},
                       {"retry", {{"max_attempts", 2}, {"base_delay_s", 0.01}, {"max_delay_s", 0.02}}}};
    return loadConfig(JsonSource("responses.json", root.dump(2)), [](const std::string& name) -> std::optional<std::string> {
        if (name == "KEY_ONE") {
            return "sk-project-1";
        }
        if (name == "KEY_TWO") {
            return "sk-project-2";
        }
        return std::nullopt;
    });
}

gateway::GatewayToken token(const std::string& name)
{
    gateway::GatewayToken t;
    t.name = name;
    t.tenant = "team-" + name;
    t.digest = gateway::sha256("secret-" + name);
    return t;
}

test::Headers as(const std::string& who)
{
    return {{"content-type", "application/json"}, {"authorization", "Bearer secret-" + who}};
}

std::string create(const std::optional<std::string>& previous = std::nullopt, bool stream = false)
{
    json body = {{"model", "gpt-4o-mini"}, {"input", "Hello"}, {"max_output_tokens", 16}, {"stream", stream}};
    if (previous) {
        body["previous_response_id"] = *previous;
    }
    return body.dump();
}

std::string idOf(const test::HttpResponse& r)
{
    const json doc = json::parse(r.body, nullptr, false);
    return doc.is_object() ? doc.value("id", std::string()) : std::string();
}

// The response id a streamed answer names in its response.created event.
std::string streamedId(const test::HttpResponse& r)
{
    for (const test::SseEvent& e : test::parseSse(r.body)) {
        const json doc = json::parse(e.data, nullptr, false);
        if (doc.is_object() && doc.value("type", std::string()) == "response.created") {
            return doc["response"].value("id", std::string());
        }
    }
    return {};
}

// A "Redis" that accepts connections, reads what it is sent and answers
// nothing until released (then it closes them): a lookup held for as long
// as the test says, with no timing involved.
class SilentServer {
public:
    SilentServer()
    {
        m_listener = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(m_listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(m_listener, 8) != 0 ||
            ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            return;
        }
        port = ntohs(addr.sin_port);
        m_accepting = std::thread([this] { acceptLoop(); });
    }
    ~SilentServer()
    {
        release();
        ::shutdown(m_listener, SHUT_RDWR);
        if (m_accepting.joinable()) {
            m_accepting.join();
        }
        for (std::thread& t : m_readers) {
            t.join();
        }
        ::close(m_listener);
    }
    bool heardSomething() const { return m_heard.load(); }
    void release()
    {
        std::lock_guard guard(m_mutex);
        m_released = true;
        for (const int fd : m_connections) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }

    int port = 0;

private:
    void acceptLoop()
    {
        for (;;) {
            const int fd = ::accept(m_listener, nullptr, nullptr);
            if (fd < 0) {
                return;
            }
            std::lock_guard guard(m_mutex);
            if (m_released) {
                ::shutdown(fd, SHUT_RDWR);
            }
            m_connections.push_back(fd);
            m_readers.emplace_back([this, fd] {
                char buffer[512];
                while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
                    m_heard = true;
                }
                ::close(fd);
            });
        }
    }

    int m_listener = -1;
    std::mutex m_mutex;
    bool m_released = false;
    std::vector<int> m_connections;
    std::vector<std::thread> m_readers;
    std::atomic<bool> m_heard{false};
    std::thread m_accepting;
};

// One gateway with a dispatcher of its own, in front of the shared mock,
// keeping which key made each response in `directory` when given.
struct Instance {
    Instance(Clock& clock, const std::string& mockUrl, std::shared_ptr<shared::SharedDirectory> directory)
        : admission(clock), dispatcher(sluiceConfig(mockUrl), clock, admission, outcomes)
    {
        dispatcher.start();
        gateway::GatewayConfig gc;
        gc.port = 0;
        gc.hold = 10s;
        gc.tokens = {token("a"), token("b")};
        gw.emplace(gc, dispatcher, clock, 1);
        if (directory) {
            gateway::SharedOwnerStore store;
            store.put = [directory](const std::string& id, std::string text) { directory->put(id, std::move(text)); };
            store.erase = [directory](const std::string& id) { directory->erase(id); };
            store.lookup = [directory](const std::string& id, RemoteStore::Answer done) {
                directory->lookup(id, std::move(done));
            };
            store.close = [directory] { directory->closeLookups(); };
            gw->shareResponseOwners(std::move(store));
        }
        url = "http://127.0.0.1:" + std::to_string(gw->start());
    }
    ~Instance() { gw.reset(); }

    Admission admission;
    Outcomes outcomes;
    Dispatcher dispatcher;
    std::optional<gateway::Gateway> gw;
    std::string url;
};

}  // namespace

class TestGatewayResponses : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void continuationGoesOnTheKeyThatMadeIt_data();
    void continuationGoesOnTheKeyThatMadeIt();
    void storedResponseIsReadOnItsKey();
    void compactionAndInputCountGoOnTheKeyThatMadeIt();
    void compactionAndInputCountRefuseWhatCannotBeSent();
    void anotherTenantsResponseIsNotFound();
    void unknownResponseIsNotFound();
    void ownersAreBounded();
    void ownersTravelWithTheConversationSize();
    void continuationReservesTheConversationItCarries_data();
    void continuationReservesTheConversationItCarries();
    void aBackgroundResponseIsSizedWhenReadBackFinished();
    void gatewaysOfANamespaceShareWhichKeyMadeAResponse();
    void aSlowNamespaceHoldsUpNoOtherRequest();

private:
    // Makes a response on `key`: the other is disabled meanwhile.
    std::string createOn(const std::string& key, bool stream);
    // What `key`'s requests-per-day budget holds now (a day's count does
    // not drain while the test runs).
    std::int64_t keyRequests(const std::string& key);

    SystemClock m_clock;
    std::optional<mock::MockProvider> m_mock;
    std::optional<Admission> m_admission;
    Outcomes m_outcomes;
    std::optional<Dispatcher> m_dispatcher;
    std::optional<gateway::Gateway> m_gateway;
    std::string m_url;
};

void TestGatewayResponses::initTestCase()
{
    m_mock.emplace(m_clock, twoProjects());
    m_mock->start();
    m_admission.emplace(m_clock);
    m_dispatcher.emplace(sluiceConfig(m_mock->baseUrl()), m_clock, *m_admission, m_outcomes);
    m_dispatcher->start();
    gateway::GatewayConfig gc;
    gc.port = 0;
    gc.hold = 10s;
    gc.tokens = {token("a"), token("b")};
    m_gateway.emplace(gc, *m_dispatcher, m_clock, 1);
    m_url = "http://127.0.0.1:" + std::to_string(m_gateway->start());
}

void TestGatewayResponses::cleanupTestCase()
{
    m_gateway.reset();
    m_dispatcher.reset();
    m_mock.reset();
}

std::string TestGatewayResponses::createOn(const std::string& key, bool stream)
{
    const std::string other = key == "one" ? "two" : "one";
    m_dispatcher->setKeyEnabled("openai", other, false);
    test::HttpClient http(m_url);
    const std::size_t finished = m_outcomes.keys().size();
    const test::HttpResponse r = http.post("/v1/responses", create(std::nullopt, stream), as("a"));
    // The client has its answer before the listener hears of the job's end:
    // later counts must not take this job's outcome for theirs.
    const bool heard = QTest::qWaitFor([&] { return m_outcomes.keys().size() > finished; }, 10'000);
    m_dispatcher->setKeyEnabled("openai", other, true);
    if (!heard) {
        qWarning("create: the job's outcome never reached the listener");
        return {};
    }
    if (r.status != 200) {
        qWarning("create: %ld %s", r.status, r.body.c_str());
        return {};
    }
    return stream ? streamedId(r) : idOf(r);
}

std::int64_t TestGatewayResponses::keyRequests(const std::string& name)
{
    const auto provider = m_admission->findScope(Admission::root(), "openai");
    const auto key = provider ? m_admission->findScope(*provider, name) : std::nullopt;
    if (!key) {
        return -1;
    }
    for (const DimensionState& d : m_admission->snapshot(*key).dimensions) {
        if (d.spec.measure == Measure::Requests && d.spec.period >= std::chrono::hours(24)) {
            return d.used;
        }
    }
    return -1;
}

void TestGatewayResponses::continuationGoesOnTheKeyThatMadeIt_data()
{
    QTest::addColumn<bool>("stream");
    QTest::newRow("made by a plain answer") << false;
    QTest::newRow("made by a stream") << true;
}

void TestGatewayResponses::continuationGoesOnTheKeyThatMadeIt()
{
    QFETCH(bool, stream);
    const std::string first = createOn("one", stream);
    QVERIFY(first.rfind("resp_", 0) == 0);
    test::HttpClient http(m_url);
    // A request that may go anywhere goes on key two now…
    const std::size_t before = m_outcomes.keys().size();
    QCOMPARE(http.post("/v1/responses", create(), as("a")).status, 200L);
    QTRY_COMPARE(m_outcomes.keys().size(), before + 1);
    QCOMPARE(m_outcomes.keys().back(), std::string("two"));
    // …and the continuations of a response made on key one go on key one,
    // which alone knows it (key two would be answered 400).
    std::string previous = first;
    for (int i = 0; i < 3; ++i) {
        const test::HttpResponse r = http.post("/v1/responses", create(previous), as("a"));
        QVERIFY2(r.status == 200, r.body.c_str());
        const json doc = json::parse(r.body);
        QCOMPARE(doc.value("previous_response_id", std::string()), previous);
        previous = doc.value("id", std::string());
        QTRY_COMPARE(m_outcomes.keys().size(), before + 2 + static_cast<std::size_t>(i));
        QCOMPARE(m_outcomes.keys().back(), std::string("one"));
    }
}

// Made on key two: a read that spends nothing would go on key one (the
// first of two with equal room) if it were not pinned.
void TestGatewayResponses::storedResponseIsReadOnItsKey()
{
    const std::string id = createOn("two", false);
    QVERIFY(!id.empty());
    test::HttpClient http(m_url);
    const std::int64_t tokensBefore = m_outcomes.tokens();
    const std::size_t finishedBefore = m_outcomes.keys().size();
    const std::int64_t requestsBefore = keyRequests("two");
    QVERIFY(requestsBefore > 0);
    const test::HttpResponse got = http.get("/v1/responses/" + id, as("a"));
    QVERIFY2(got.status == 200, got.body.c_str());
    QCOMPARE(idOf(got), id);
    const test::HttpResponse items = http.get("/v1/responses/" + id + "/input_items?limit=5", as("a"));
    QVERIFY2(items.status == 200, items.body.c_str());
    QCOMPARE(json::parse(items.body).value("object", std::string()), std::string("list"));
    // The mock answers at once, so there is nothing left to cancel: its 400
    // is the provider's, passed on as it came.
    const test::HttpResponse cancel = http.request("POST", "/v1/responses/" + id + "/cancel", "", as("a"));
    QCOMPARE(cancel.status, 400L);
    QVERIFY2(cancel.body.find("not in progress") != std::string::npos, cancel.body.c_str());
    // Reading it back counts no usage a second time, and spends none of the
    // key's requests, answered or refused (an rpm of 1 would otherwise
    // hold the next real request for a minute).
    QTRY_COMPARE(m_outcomes.keys().size(), finishedBefore + 3);
    for (std::size_t i = finishedBefore; i < finishedBefore + 3; ++i) {
        QCOMPARE(m_outcomes.keys()[i], std::string("two"));
    }
    QCOMPARE(m_outcomes.tokens(), tokensBefore);
    QCOMPARE(keyRequests("two"), requestsBefore);
    const test::HttpResponse deleted = http.request("DELETE", "/v1/responses/" + id, "", as("a"));
    QVERIFY2(deleted.status == 200, deleted.body.c_str());
    QCOMPARE(json::parse(deleted.body).value("deleted", false), true);
    // Deleted: the gateway forgets it too, and says so in OpenAI's shape.
    const test::HttpResponse gone = http.get("/v1/responses/" + id, as("a"));
    QCOMPARE(gone.status, 404L);
    QVERIFY2(json::parse(gone.body)["error"].value("message", std::string()).find(id) != std::string::npos,
             gone.body.c_str());
}

// POST /v1/responses/input_tokens and /v1/responses/compact (the openai
// SDK's responses.inputTokens.count and responses.compact) continuing a
// response go on the key that made it. Each is checked on the key it would
// not go to unpinned: a count (which spends nothing) would go on key one,
// a compaction (a model call) on key two, the one with more room.
// Counting spends no request and counts no usage; a compaction is charged
// as a request.
void TestGatewayResponses::compactionAndInputCountGoOnTheKeyThatMadeIt()
{
    const std::string onTwo = createOn("two", false);
    const std::string id = createOn("one", false);
    QVERIFY(!onTwo.empty() && !id.empty());
    test::HttpClient http(m_url);
    const std::int64_t tokensBefore = m_outcomes.tokens();
    const std::size_t finishedBefore = m_outcomes.keys().size();
    const std::int64_t requestsBefore = keyRequests("one");
    const std::int64_t requestsTwoBefore = keyRequests("two");

    // No model: the response it continues says where it goes.
    const test::HttpResponse counted = http.post(
        "/v1/responses/input_tokens", json{{"previous_response_id", onTwo}, {"input", "And then?"}}.dump(), as("a"));
    QVERIFY2(counted.status == 200, counted.body.c_str());
    const json count = json::parse(counted.body);
    QCOMPARE(count.value("object", std::string()), std::string("response.input_tokens"));
    QVERIFY(count.value("input_tokens", 0) > 0);
    QTRY_COMPARE(m_outcomes.keys().size(), finishedBefore + 1);
    QCOMPARE(m_outcomes.keys().back(), std::string("two"));
    QCOMPARE(keyRequests("two"), requestsTwoBefore);
    QCOMPARE(m_outcomes.tokens(), tokensBefore);

    const test::HttpResponse compacted = http.post(
        "/v1/responses/compact", json{{"model", "gpt-4o-mini"}, {"previous_response_id", id}}.dump(), as("a"));
    QVERIFY2(compacted.status == 200, compacted.body.c_str());
    const json doc = json::parse(compacted.body);
    QCOMPARE(doc.value("object", std::string()), std::string("response.compaction"));
    QCOMPARE(doc["output"][0].value("type", std::string()), std::string("compaction"));
    QTRY_COMPARE(m_outcomes.keys().size(), finishedBefore + 2);
    QCOMPARE(m_outcomes.keys().back(), std::string("one"));
    QCOMPARE(keyRequests("one"), requestsBefore + 1);
    const std::int64_t used = doc["usage"].value("total_tokens", std::int64_t(0));
    QVERIFY(used > 0);
    QCOMPARE(m_outcomes.tokens(), tokensBefore + used);

    // Nothing to continue: counted and compacted wherever there is room.
    const test::HttpResponse fresh = http.post(
        "/v1/responses/input_tokens", json{{"model", "gpt-4o-mini"}, {"input", "Hello there"}}.dump(), as("a"));
    QVERIFY2(fresh.status == 200, fresh.body.c_str());
    QVERIFY(json::parse(fresh.body).value("input_tokens", 0) > 0);
}

void TestGatewayResponses::compactionAndInputCountRefuseWhatCannotBeSent()
{
    test::HttpClient http(m_url);
    // A client has its answer before the dispatcher's listener hears the
    // job end: the last request of the test before may still be counting.
    QVERIFY(m_dispatcher->waitIdle(std::chrono::seconds(10)));
    const std::size_t finishedBefore = m_outcomes.keys().size();
    const test::HttpResponse empty = http.post("/v1/responses/compact", json{{"model", "gpt-4o-mini"}}.dump(), as("a"));
    QCOMPARE(empty.status, 400L);
    QVERIFY2(empty.body.find("body.input") != std::string::npos, empty.body.c_str());
    const test::HttpResponse streamed = http.post(
        "/v1/responses/compact", json{{"model", "gpt-4o-mini"}, {"input", "Hi"}, {"stream", true}}.dump(), as("a"));
    QCOMPARE(streamed.status, 400L);
    QVERIFY2(streamed.body.find("body.stream") != std::string::npos, streamed.body.c_str());
    // No model and nothing known to continue: nowhere to send it.
    const test::HttpResponse nowhere = http.post(
        "/v1/responses/input_tokens", json{{"previous_response_id", "resp_never_made"}, {"input", "Hi"}}.dump(), as("a"));
    QCOMPARE(nowhere.status, 400L);
    QVERIFY2(nowhere.body.find("body.model") != std::string::npos, nowhere.body.c_str());
    QCOMPARE(http.get("/v1/responses/compact", as("a")).status, 404L);
    QCOMPARE(http.post("/v1/responses/compact", json{{"model", "gpt-4o-mini"}, {"input", "Hi"}}.dump(), {}).status, 401L);
    QCOMPARE(m_outcomes.keys().size(), finishedBefore);
}

void TestGatewayResponses::anotherTenantsResponseIsNotFound()
{
    const std::string id = createOn("one", false);
    QVERIFY(!id.empty());
    test::HttpClient http(m_url);
    const test::HttpResponse other = http.get("/v1/responses/" + id, as("b"));
    QCOMPARE(other.status, 404L);
    QVERIFY(other.body.find("No response found") != std::string::npos);
    QCOMPARE(http.request("DELETE", "/v1/responses/" + id, "", as("b")).status, 404L);
    // Still there for its own tenant.
    QCOMPARE(http.get("/v1/responses/" + id, as("a")).status, 200L);
    // Tenant b's continuation of it is not pinned for b: it goes where the
    // dispatcher chooses (key two), whose project does not know it.
    const test::HttpResponse continued = http.post("/v1/responses", create(id), as("b"));
    QCOMPARE(continued.status, 400L);
    QVERIFY2(continued.body.find("previous_response_not_found") != std::string::npos, continued.body.c_str());
}

void TestGatewayResponses::unknownResponseIsNotFound()
{
    test::HttpClient http(m_url);
    const test::HttpResponse r = http.get("/v1/responses/resp_never_made", as("a"));
    QCOMPARE(r.status, 404L);
    QCOMPARE(json::parse(r.body)["error"].value("type", std::string()), std::string("invalid_request_error"));
    // Not a stored-response route: named as not served.
    QCOMPARE(http.request("PUT", "/v1/responses/resp_x", "", as("a")).status, 404L);
    QCOMPARE(http.get("/v1/responses/", as("a")).status, 404L);
    // Without a token, nothing is looked up.
    QCOMPARE(http.get("/v1/responses/resp_never_made", {}).status, 401L);
}

void TestGatewayResponses::ownersAreBounded()
{
    gateway::ResponseOwners owners(3);
    for (int i = 0; i < 5; ++i) {
        owners.remember("r" + std::to_string(i), gateway::ResponseOwner{"p", "k" + std::to_string(i), "m", "t"});
    }
    QCOMPARE(owners.size(), std::size_t(3));
    QVERIFY(!owners.find("r0") && !owners.find("r1"));
    QCOMPARE(owners.find("r4")->key, std::string("k4"));
    owners.forget("r3");
    QVERIFY(!owners.find("r3"));
    // Remembered again, an id counts as new: the oldest other goes first.
    owners.remember("r2", gateway::ResponseOwner{"p", "again", "m", "t"});
    owners.remember("r5", gateway::ResponseOwner{"p", "k5", "m", "t"});
    owners.remember("r6", gateway::ResponseOwner{"p", "k6", "m", "t"});
    QVERIFY(!owners.find("r4"));
    QCOMPARE(owners.find("r2")->key, std::string("again"));
    QVERIFY(owners.find("r5") && owners.find("r6"));
    // Forgetting as fast as remembering keeps the bookkeeping bounded.
    for (int i = 0; i < 10'000; ++i) {
        owners.remember("x", gateway::ResponseOwner{});
        owners.forget("x");
    }
    QCOMPARE(owners.size(), std::size_t(2));
}

// What the namespace keeps for a response: a gateway that kept no
// conversation size wrote five fields, read as a size not known.
void TestGatewayResponses::ownersTravelWithTheConversationSize()
{
    const gateway::ResponseOwner owner{"openai", "one", "gpt-4o-mini", "team-a", 1234};
    const auto back = gateway::ResponseOwners::decode(gateway::ResponseOwners::encode(owner));
    QVERIFY(back.has_value());
    QCOMPARE(back->key, std::string("one"));
    QCOMPARE(back->tenant, std::string("team-a"));
    QCOMPARE(back->contextTokens, std::int64_t{1234});
    const auto older = gateway::ResponseOwners::decode("v1\nopenai\none\ngpt-4o-mini\nteam-a");
    QVERIFY(older.has_value());
    QCOMPARE(older->key, std::string("one"));
    QCOMPARE(older->contextTokens, std::int64_t{0});
    QVERIFY(!gateway::ResponseOwners::decode("v1\nopenai\none\ngpt-4o-mini\nteam-a\nmany"));
    QVERIFY(!gateway::ResponseOwners::decode("v1\nopenai\none\ngpt-4o-mini\nteam-a\n-5"));
}

void TestGatewayResponses::continuationReservesTheConversationItCarries_data()
{
    QTest::addColumn<bool>("stream");
    QTest::newRow("made by plain answers") << false;
    QTest::newRow("made by streams") << true;
}

// OpenAI counts a continuation's input with the conversation it continues
// (the mock too). The gateway knows that size from the answer it passed
// on, and reserves it: what each continuation reserved for its input is
// what the provider then reported, within the few tokens by which the
// estimate of the new text and the mock's count of it differ. Without it the
// reservation stays at the new text's ~10 tokens while the conversation
// grows by each answer's 16 and more.
void TestGatewayResponses::continuationReservesTheConversationItCarries()
{
    QFETCH(bool, stream);
    std::string previous = createOn("one", stream);
    QVERIFY(previous.rfind("resp_", 0) == 0);
    test::HttpClient http(m_url);
    // The figures of a job are in the stats once its outcome is heard.
    const auto settled = [&] { return m_dispatcher->stats().finished() == m_outcomes.keys().size(); };
    for (int turn = 1; turn <= 3; ++turn) {
        QTRY_VERIFY(settled());
        const DispatcherStats before = m_dispatcher->stats();
        const std::size_t heard = m_outcomes.keys().size();
        const test::HttpResponse r = http.post("/v1/responses", create(previous, stream), as("a"));
        QVERIFY2(r.status == 200, r.body.c_str());
        previous = stream ? streamedId(r) : idOf(r);
        QTRY_COMPARE(m_outcomes.keys().size(), heard + 1);
        QTRY_VERIFY(settled());
        const DispatcherStats after = m_dispatcher->stats();
        const std::int64_t reported = after.inputTokens - before.inputTokens;
        const std::int64_t reserved = after.estimatedInputTokens - before.estimatedInputTokens;
        QVERIFY2(reported > 16 * turn, std::to_string(reported).c_str());
        QVERIFY2(std::abs(reserved - reported) <= 4,
                 ("turn " + std::to_string(turn) + ": reserved " + std::to_string(reserved) + ", reported " +
                  std::to_string(reported))
                     .c_str());
    }
}

// A response run in the background is answered queued, with no usage: the
// gateway cannot tell the conversation's size when it is made, and a
// continuation then reserves its new input alone (the settle corrects it).
// The client reads it back until it is finished; that read carries the
// usage, and the next continuation reserves the whole conversation.
void TestGatewayResponses::aBackgroundResponseIsSizedWhenReadBackFinished()
{
    test::HttpClient http(m_url);
    const auto settled = [&] { return m_dispatcher->stats().finished() == m_outcomes.keys().size(); };
    const auto background = [&] {
        json body = json::parse(create());
        body["background"] = true;
        const test::HttpResponse r = http.post("/v1/responses", body.dump(), as("a"));
        const json doc = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !doc.is_object() || doc.value("status", std::string()) != "queued" ||
            !doc["usage"].is_null()) {
            qWarning("background: %ld %s", r.status, r.body.c_str());
            return std::string();
        }
        return doc.value("id", std::string());
    };
    // What a continuation of `previous` reserved for its input, and what
    // the provider reported it counted.
    const auto continueIt = [&](const std::string& previous) {
        const DispatcherStats before = m_dispatcher->stats();
        const std::size_t heard = m_outcomes.keys().size();
        const test::HttpResponse r = http.post("/v1/responses", create(previous), as("a"));
        if (r.status != 200) {
            qWarning("continuation: %ld %s", r.status, r.body.c_str());
        }
        if (!QTest::qWaitFor([&] { return m_outcomes.keys().size() > heard && settled(); }, 10'000)) {
            qWarning("continuation: its outcome never settled");
        }
        const DispatcherStats after = m_dispatcher->stats();
        return std::pair{after.estimatedInputTokens - before.estimatedInputTokens, after.inputTokens - before.inputTokens};
    };

    const std::string unread = background();
    QVERIFY(!unread.empty());
    QTRY_VERIFY(settled());
    const auto [blindReserved, blindReported] = continueIt(unread);
    QVERIFY2(blindReported - blindReserved >= 16,
             ("reserved " + std::to_string(blindReserved) + ", reported " + std::to_string(blindReported)).c_str());

    const std::string read = background();
    QVERIFY(!read.empty());
    QTRY_VERIFY(settled());
    const test::HttpResponse finished = http.get("/v1/responses/" + read, as("a"));
    QCOMPARE(finished.status, 200L);
    const json doc = json::parse(finished.body);
    // Finished: "incomplete" when the answer reached max_output_tokens.
    QVERIFY2(doc["status"] == "completed" || doc["status"] == "incomplete", finished.body.c_str());
    QVERIFY(doc["usage"].is_object());
    QTRY_VERIFY(settled());
    const auto [reserved, reported] = continueIt(read);
    QVERIFY2(reported > 16 && std::abs(reserved - reported) <= 4,
             ("reserved " + std::to_string(reserved) + ", reported " + std::to_string(reported)).c_str());
}

// Behind a load balancer, a continuation or a read reaches another gateway
// than the one that passed the response on. Made on key one through A; B
// (whose dispatcher would send a request that may go anywhere on key two,
// the one with more room) sends both on key one, having asked the
// namespace.
void TestGatewayResponses::gatewaysOfANamespaceShareWhichKeyMadeAResponse()
{
    testing::RedisServerFixture redis;
    QVERIFY(redis.running());
    const auto directoryA = std::make_shared<shared::SharedDirectory>(m_clock, redis.endpoint(), "gw-test", "responses", 1h);
    const auto directoryB = std::make_shared<shared::SharedDirectory>(m_clock, redis.endpoint(), "gw-test", "responses", 1h);
    Instance a(m_clock, m_mock->baseUrl(), directoryA);
    Instance b(m_clock, m_mock->baseUrl(), directoryB);
    Instance alone(m_clock, m_mock->baseUrl(), nullptr);

    a.dispatcher.setKeyEnabled("openai", "two", false);
    test::HttpClient http(a.url);
    const test::HttpResponse made = http.post("/v1/responses", create(), as("a"));
    a.dispatcher.setKeyEnabled("openai", "two", true);
    QVERIFY2(made.status == 200, made.body.c_str());
    const std::string id = idOf(made);
    directoryA->flush();
    // The namespace holds the key's name, the tenant and the conversation's
    // size, never a key's value.
    const std::string sharedText = directoryB->get(id).value_or("");
    QVERIFY(sharedText.find("sk-project") == std::string::npos);
    const auto shared = gateway::ResponseOwners::decode(sharedText);
    QVERIFY2(shared.has_value(), sharedText.c_str());
    QCOMPARE(shared->provider, std::string("openai"));
    QCOMPARE(shared->key, std::string("one"));
    QCOMPARE(shared->model, std::string("gpt-4o-mini"));
    QCOMPARE(shared->tenant, std::string("team-a"));
    const json madeUsage = json::parse(made.body)["usage"];
    QCOMPARE(shared->contextTokens, madeUsage["input_tokens"].get<std::int64_t>() + madeUsage["output_tokens"].get<std::int64_t>());

    // Without the namespace, another gateway cannot tell where it is.
    test::HttpClient httpAlone(alone.url);
    QCOMPARE(httpAlone.get("/v1/responses/" + id, as("a")).status, 404L);
    QCOMPARE(httpAlone.post("/v1/responses", create(id), as("a")).status, 400L);

    test::HttpClient httpB(b.url);
    const test::HttpResponse read = httpB.get("/v1/responses/" + id, as("a"));
    QVERIFY2(read.status == 200, read.body.c_str());
    QCOMPARE(idOf(read), id);
    const test::HttpResponse continued = httpB.post("/v1/responses", create(id), as("a"));
    QVERIFY2(continued.status == 200, continued.body.c_str());
    QTRY_COMPARE(b.outcomes.keys().size(), std::size_t(2));
    QCOMPARE(b.outcomes.keys(), (std::vector<std::string>{"one", "one"}));
    // Another tenant does not find it through the namespace either.
    QCOMPARE(httpB.get("/v1/responses/" + id, as("b")).status, 404L);
    // Deleted through B: gone for A too, in Redis as here.
    QCOMPARE(httpB.request("DELETE", "/v1/responses/" + id, "", as("a")).status, 200L);
    directoryB->flush();
    QVERIFY(!directoryA->get(id));

    // Redis gone: a lookup answers "unknown" at once rather than holding
    // the gateway, and the gateway answers as a lone one would.
    redis.stop();
    QVERIFY(!directoryB->get("resp_other"));
    QCOMPARE(httpB.get("/v1/responses/resp_other", as("a")).status, 404L);
}

// The gateway asks Redis who made a response it does not know without
// waiting for the answer on the thread that serves everyone: with Redis
// silent (a lookup held by the test, the endpoint's timeout far away), a
// request that needs no lookup is answered by the same single io thread.
void TestGatewayResponses::aSlowNamespaceHoldsUpNoOtherRequest()
{
    SilentServer silent;
    QVERIFY(silent.port != 0);
    shared::RedisEndpoint endpoint;
    endpoint.port = silent.port;
    endpoint.timeout = std::chrono::milliseconds(60'000);
    const auto directory = std::make_shared<shared::SharedDirectory>(m_clock, endpoint, "gw-test", "responses", 1h);
    std::optional<Instance> gw;
    gw.emplace(m_clock, m_mock->baseUrl(), directory);
    const std::string url = gw->url;
    auto held = std::async(std::launch::async, [url] {
        test::HttpClient http(url);
        return http.get("/v1/responses/resp_made_elsewhere", as("a"));
    });
    QTRY_VERIFY_WITH_TIMEOUT(silent.heardSomething(), 10'000);
    test::HttpClient http(url);
    http.setTimeout(20s);
    const test::HttpResponse other = http.post("/v1/responses", create(), as("a"));
    QVERIFY2(other.status == 200, other.body.c_str());
    QVERIFY(held.wait_for(0s) != std::future_status::ready);
    // Redis breaks: the lookup answers "unknown", and so does the gateway.
    silent.release();
    const test::HttpResponse answer = held.get();
    QCOMPARE(answer.status, 404L);
    gw.reset();
}

QTEST_GUILESS_MAIN(TestGatewayResponses)
#include "tst_gateway_responses.moc"
