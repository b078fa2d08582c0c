// OpenAI's Responses and Embeddings APIs through the engine: the request
// analysis (prompt estimate, output reserved, errors naming the field), the
// usage shapes they report (input_tokens/output_tokens; prompt_tokens
// alone), the Responses stream's typed events, the mock serving both with
// its limits, and jobs sent by the dispatcher to the per-job path whose
// reservations settle to the usage the provider reported. Real HTTP over
// loopback; tests wait on conditions, never on sleeps.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "dispatch/job_prep.h"
#include "providers/openai_endpoints.h"
#include "providers/prompt_estimator.h"
#include "support/mock_fixture.h"
#include "tokenize/encodings.h"

#include <QtTest>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace sluice::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Listener : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(mutex);
        finished[o.customId] = std::move(o);
        cv.notify_all();
    }
    bool waitFor(std::size_t n)
    {
        std::unique_lock l(mutex);
        return cv.wait_for(l, 30s, [&] { return finished.size() >= n; });
    }

    std::mutex mutex;
    std::condition_variable cv;
    std::map<std::string, JobOutcome> finished;
};

// `actual` token accounting: the budget settles to the reported usage
// (with OpenAI's default, estimate, only the prompt part would).
Config sluiceConfig(const std::string& baseUrl)
{
    json provider = {{"name", "mock"},
                     {"flavor", "openai"},
                     {"token_accounting", "actual"},
                     {"base_url", baseUrl},
                     {"models",
                      {{"gpt-4o-mini", {{"limits", {{"tpd", 1000000}}}}},
                       {"text-embedding-3-small", {{"limits", {{"tpd", 1000000}}}}}}},
                     {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    json root = {{"providers", json::array({provider})}, {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
    return loadConfig(JsonSource("test-config.json", root.dump(2)), [](const std::string& name) {
        return name == "MOCK_KEY" ? std::optional<std::string>("sk-mock") : std::nullopt;
    });
}

JobSpec responsesJob(const std::string& id, bool stream)
{
    JobSpec j;
    j.customId = id;
    j.endpoint = Endpoint::Responses;
    j.body = {{"model", "gpt-4o-mini"}, {"input", "Say hello to " + id}, {"max_output_tokens", 1000}};
    if (stream) {
        j.body["stream"] = true;
    }
    return j;
}

JobSpec embeddingsJob(const std::string& id)
{
    JobSpec j;
    j.customId = id;
    j.endpoint = Endpoint::Embeddings;
    j.body = {{"model", "text-embedding-3-small"},
              {"input", json::array({"the first text to embed", "and a second one"})},
              {"encoding_format", "float"},
              {"dimensions", 8}};
    return j;
}

std::string sse(const json& data)
{
    return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump() + "\n\n";
}

}  // namespace

class TestOpenAiEndpoints : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void responsesRequestIsEstimatedFromItsInput();
    void embeddingsRequestReservesNoOutput();
    void responsesAndEmbeddingsCountWithTheTokenizer();
    void badInputNamesTheField_data();
    void badInputNamesTheField();
    void usageShapesOfEachApi();
    void responsesStreamIsAccumulated();
    void responsesStreamErrorEvents();
    void jobPathFollowsTheEndpoint();
    void jobHeaderLinesReplaceCommonOnes();
    void clientBetasJoinTheConfiguredOnes();
    void mockServesResponsesAndEmbeddings();
    void mockEnforcesLimitsOnEmbeddings();
    void mockCompactsAndCountsInput();
    void mockCountsAContinuationWithItsConversation();
    void mockRunsAResponseInTheBackground();
    void dispatchedJobsSettleToReportedUsage();
    void preparedJobSurvivesAConfigChange();
};

void TestOpenAiEndpoints::responsesRequestIsEstimatedFromItsInput()
{
    // 3 to prime + instructions (3 + 12/4) + the string input (3 + 20/4).
    const json body = {{"model", "gpt-4o-mini"},
                       {"instructions", "Be brief. OK"},
                       {"input", "Twenty characters!!!"},
                       {"max_output_tokens", 64}};
    const RequestInfo info = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Responses, body, 4096);
    QCOMPARE(info.endpoint, Endpoint::Responses);
    QCOMPARE(info.model, std::string("gpt-4o-mini"));
    QCOMPARE(info.promptTokens, std::int64_t{3 + 6 + 8});
    QCOMPARE(info.maxOutputTokens, std::int64_t{64});
    QVERIFY(!info.stream);

    // Items: each 3 plus its role and text parts; the model's default output.
    const json items = {{"model", "gpt-4o-mini"},
                        {"stream", true},
                        {"input",
                         json::array({{{"role", "user"}, {"content", "12345678"}},
                                      {{"role", "user"},
                                       {"content", json::array({{{"type", "input_text"}, {"text", "1234"}}})}},
                                      {{"type", "function_call_output"}, {"call_id", "c1"}, {"output", "12345678"}}})}};
    const RequestInfo i2 = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Responses, items, 999);
    QCOMPARE(i2.promptTokens, std::int64_t{3 + (3 + 1 + 2) + (3 + 1 + 1) + (3 + 2)});
    QCOMPARE(i2.maxOutputTokens, std::int64_t{999});
    QVERIFY(i2.stream);
    QCOMPARE(estimateResponsesInputTokens(items), i2.promptTokens);
}

void TestOpenAiEndpoints::embeddingsRequestReservesNoOutput()
{
    const auto analyze = [](const json& input) {
        return analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Embeddings,
                                      json{{"model", "text-embedding-3-small"}, {"input", input}}, 4096);
    };
    const RequestInfo one = analyze("sixteen chars!!!");
    QCOMPARE(one.endpoint, Endpoint::Embeddings);
    QCOMPARE(one.promptTokens, std::int64_t{4});
    QCOMPARE(one.maxOutputTokens, std::int64_t{0});
    QCOMPARE(one.reservedOutputTokens(), std::int64_t{0});
    // Strings add up; an empty one still costs a token; token ids count one each.
    QCOMPARE(analyze(json::array({"12345678", "", "1234"})).promptTokens, std::int64_t{2 + 1 + 1});
    QCOMPARE(analyze(json::array({101, 102, 103})).promptTokens, std::int64_t{3});
    QCOMPARE(analyze(json::array({json::array({1, 2}), json::array({3, 4, 5})})).promptTokens, std::int64_t{5});
}

void TestOpenAiEndpoints::responsesAndEmbeddingsCountWithTheTokenizer()
{
    // Token counts from the o200k_base and cl100k_base rank files
    // (`sluice-cli tokens --model M --text -`): "hello world" is 2 tokens in
    // both; the Japanese line 8 in o200k_base, 12 in cl100k_base, where the
    // rule of thumb says 33 bytes / 4 = 9; forty digits 14 against 10.
    const std::string japanese = "東京都の天気は晴れです";
    const std::string digits = "0123456789012345678901234567890123456789";
    const tokenize::Encodings encodings(std::filesystem::path(SLUICE_SOURCE_DIR) / "resources/tokenizers");
    const PromptEstimator estimator(&encodings, nullptr);

    // Responses, gpt-4o-mini (o200k_base): 3 to prime + instructions
    // (3 + 2) + the string input (3 + 8).
    const json responses = {{"model", "gpt-4o-mini"}, {"instructions", "hello world"}, {"input", japanese}};
    const RequestInfo r = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Responses, responses, 100, &estimator);
    QCOMPARE(r.prompt.method, PromptCountMethod::Exact);
    QCOMPARE(r.promptTokens, std::int64_t{3 + 5 + 11});
    QCOMPARE(r.prompt.tokens, r.promptTokens);
    QCOMPARE(r.prompt.ruleOfThumb, std::int64_t{3 + (3 + 3) + (3 + 9)});
    // Items: every text field of each, counted exactly.
    const json items = {{"model", "gpt-4o-mini"},
                        {"input", json::array({{{"role", "user"}, {"content", digits}},
                                               {{"role", "user"},
                                                {"content", json::array({{{"type", "input_text"}, {"text", japanese}}})}}})}};
    const RequestInfo ri = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Responses, items, 100, &estimator);
    QCOMPARE(ri.promptTokens, std::int64_t{3 + (3 + 1 + 14) + (3 + 1 + 8)});

    // Embeddings, text-embedding-3-small (cl100k_base): the texts' tokens,
    // no overhead; token ids one each.
    const json embeddings = {{"model", "text-embedding-3-small"},
                             {"input", json::array({"hello world", japanese, digits})}};
    const RequestInfo e = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Embeddings, embeddings, 100, &estimator);
    QCOMPARE(e.prompt.method, PromptCountMethod::Exact);
    QCOMPARE(e.promptTokens, std::int64_t{2 + 12 + 14});
    QCOMPARE(e.prompt.ruleOfThumb, std::int64_t{3 + 9 + 10});
    QCOMPARE(e.maxOutputTokens, std::int64_t{0});

    // A model with no known encoding keeps the rule of thumb.
    const json unknown = {{"model", "my-deployment"}, {"input", japanese}};
    const RequestInfo u = analyzeEndpointRequest(ApiFlavor::OpenAI, Endpoint::Embeddings, unknown, 100, &estimator);
    QCOMPARE(u.prompt.method, PromptCountMethod::RuleOfThumb);
    QCOMPARE(u.promptTokens, std::int64_t{9});

    // The dispatcher prices the gateway's and the batch's jobs with its own
    // tokenizer: the same exact count.
    SystemClock clock;
    Admission admission(clock);
    Listener listener;
    Dispatcher dispatcher(sluiceConfig("http://127.0.0.1:1"), clock, admission, listener);
    JobSpec job = embeddingsJob("priced");
    job.body["input"] = embeddings["input"];
    const Dispatcher::Prepared prepared = dispatcher.prepare(std::move(job));
    QCOMPARE(prepared.job->info.prompt.method, PromptCountMethod::Exact);
    QCOMPARE(prepared.job->cost.inputTokens, std::int64_t{2 + 12 + 14});
}

void TestOpenAiEndpoints::badInputNamesTheField_data()
{
    QTest::addColumn<int>("endpoint");
    QTest::addColumn<QString>("body");
    QTest::addColumn<QString>("names");
    const int r = static_cast<int>(Endpoint::Responses);
    const int e = static_cast<int>(Endpoint::Embeddings);
    QTest::newRow("responses without model") << r << R"({"input":"hi"})" << "body.model";
    QTest::newRow("responses without input") << r << R"({"model":"gpt-4o-mini"})" << "body.input";
    QTest::newRow("responses empty input") << r << R"({"model":"gpt-4o-mini","input":[]})" << "body.input";
    QTest::newRow("responses bad max") << r << R"({"model":"gpt-4o-mini","input":"hi","max_output_tokens":0})"
                                       << "body.max_output_tokens";
    QTest::newRow("responses bad stream") << r << R"({"model":"gpt-4o-mini","input":"hi","stream":"yes"})"
                                          << "body.stream";
    QTest::newRow("embeddings without input") << e << R"({"model":"text-embedding-3-small"})" << "body.input";
    QTest::newRow("embeddings object input") << e << R"({"model":"text-embedding-3-small","input":{}})" << "body.input";
    QTest::newRow("embeddings bad item") << e << R"({"model":"text-embedding-3-small","input":["a",{}]})"
                                         << "body.input[1]";
    QTest::newRow("embeddings stream") << e << R"({"model":"text-embedding-3-small","input":"a","stream":true})"
                                       << "body.stream";
}

void TestOpenAiEndpoints::badInputNamesTheField()
{
    QFETCH(int, endpoint);
    QFETCH(QString, body);
    QFETCH(QString, names);
    try {
        analyzeEndpointRequest(ApiFlavor::OpenAI, static_cast<Endpoint>(endpoint), json::parse(body.toStdString()), 100);
        QFAIL("accepted");
    } catch (const InputError& err) {
        QVERIFY2(QString::fromUtf8(err.what()).startsWith(names + QLatin1Char(':')), err.what());
    }
    // Anthropic has neither API.
    QVERIFY_THROWS_EXCEPTION(InputError, analyzeEndpointRequest(ApiFlavor::Anthropic, Endpoint::Embeddings,
                                                                json{{"model", "m"}, {"input", "x"}}, 100));
}

void TestOpenAiEndpoints::usageShapesOfEachApi()
{
    const std::string responses =
        R"({"input_tokens":120,"input_tokens_details":{"cached_tokens":20},"output_tokens":30,)"
        R"("output_tokens_details":{"reasoning_tokens":4},"total_tokens":150})";
    for (const auto& u : {usageFromText(ApiFlavor::OpenAI, responses),
                          usageFromUsage(ApiFlavor::OpenAI, json::parse(responses))}) {
        QVERIFY(u.has_value());
        QCOMPARE(u->inputTokens, std::int64_t{120});
        QCOMPARE(u->outputTokens, std::int64_t{30});
        QCOMPARE(u->billed.inputTokens, std::int64_t{100});
        QCOMPARE(u->billed.cachedInputTokens, std::int64_t{20});
        QCOMPARE(u->billed.outputTokens, std::int64_t{30});
    }
    const std::string embeddings = R"({"prompt_tokens":42,"total_tokens":42})";
    for (const auto& u : {usageFromText(ApiFlavor::OpenAI, embeddings),
                          usageFromUsage(ApiFlavor::OpenAI, json::parse(embeddings))}) {
        QVERIFY(u.has_value());
        QCOMPARE(u->inputTokens, std::int64_t{42});
        QCOMPARE(u->outputTokens, std::int64_t{0});
        QCOMPARE(u->billed.inputTokens, std::int64_t{42});
    }
    // Chat Completions' shape is read as before.
    const std::string chat =
        R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}})";
    const auto c = usageFromText(ApiFlavor::OpenAI, chat);
    QCOMPARE(c->inputTokens, std::int64_t{10});
    QCOMPARE(c->outputTokens, std::int64_t{5});
    QCOMPARE(c->billed.cachedInputTokens, std::int64_t{4});
}

void TestOpenAiEndpoints::responsesStreamIsAccumulated()
{
    const json done = {{"id", "resp_1"},
                       {"object", "response"},
                       {"status", "completed"},
                       {"model", "gpt-4o-mini"},
                       {"output", json::array()},
                       {"usage", {{"input_tokens", 11}, {"output_tokens", 2}, {"total_tokens", 13}}}};
    std::string bytes = sse({{"type", "response.created"},
                             {"response", {{"id", "resp_1"}, {"model", "gpt-4o-mini"}, {"usage", nullptr}}}}) +
                        sse({{"type", "response.output_text.delta"}, {"delta", ""}});
    StreamAccumulator acc(ApiFlavor::OpenAI, Endpoint::Responses);
    QVERIFY(acc.feed(bytes));
    QVERIFY(!acc.sawFirstToken());
    QVERIFY(acc.feed(sse({{"type", "response.output_text.delta"}, {"delta", "Hello"}})));
    QVERIFY(acc.sawFirstToken());
    QVERIFY(acc.firstTokenInLastFeed());
    QVERIFY(!acc.complete());
    // Split mid-event: the parser joins it.
    const std::string last = sse({{"type", "response.output_text.delta"}, {"delta", " there"}}) +
                             sse({{"type", "response.completed"}, {"response", done}});
    QVERIFY(acc.feed(last.substr(0, 40)));
    QVERIFY(acc.feed(last.substr(40)));
    QVERIFY(acc.complete());
    QVERIFY(!acc.malformed());
    QVERIFY(acc.usage().has_value());
    QCOMPARE(acc.usage()->inputTokens, std::int64_t{11});
    QCOMPARE(acc.usage()->outputTokens, std::int64_t{2});
    QCOMPARE(acc.assembledBody(), done);

    // A chat accumulator would not know these events: the endpoint decides.
    StreamAccumulator chat(ApiFlavor::OpenAI);
    chat.feed(sse({{"type", "response.completed"}, {"response", done}}));
    QVERIFY(!chat.complete());
}

void TestOpenAiEndpoints::responsesStreamErrorEvents()
{
    StreamAccumulator a(ApiFlavor::OpenAI, Endpoint::Responses);
    QVERIFY(!a.feed(sse({{"type", "error"}, {"code", "server_error"}, {"message", "boom"}})));
    QVERIFY(a.error().has_value());
    QCOMPARE((*a.error())["message"], json("boom"));

    StreamAccumulator b(ApiFlavor::OpenAI, Endpoint::Responses);
    QVERIFY(!b.feed(sse({{"type", "response.failed"},
                         {"response", {{"status", "failed"}, {"error", {{"code", "server_error"}, {"message", "x"}}}}}})));
    QCOMPARE((*b.error())["error"]["message"], json("x"));
}

void TestOpenAiEndpoints::jobHeaderLinesReplaceCommonOnes()
{
    const std::vector<std::string> common{"Content-Type: application/json", "anthropic-version: 2023-06-01",
                                          "User-Agent: sluice/0.1"};
    const std::vector<std::string> replaced{"Content-Type: application/json", "User-Agent: sluice/0.1",
                                            "Anthropic-Version: 2026-10-21", "anthropic-beta: a-2025-01-01"};
    QCOMPARE(withHeaderLines(common, {"Anthropic-Version: 2026-10-21", "anthropic-beta: a-2025-01-01"}), replaced);
    QCOMPARE(withHeaderLines(common, {}), common);

    const Config cfg = sluiceConfig("http://127.0.0.1:1");
    JobSpec spec = responsesJob("h", false);
    spec.headerLines = {"openai-beta: responses=v9"};
    const PreparedJob p = prepareJob(cfg, spec);
    const ProviderConfig& pc = cfg.providers[p.provider];
    const auto provider = std::make_shared<const ProviderConfig>(pc);
    CommonHeaders shared;
    const auto base = shared.lines(provider, false);
    // A line that replaces no common one goes with the request's own
    // headers, on the shared list every request uses.
    std::vector<std::string> own;
    QCOMPARE(shared.lines(provider, false, p.job.headerLines, own), base);
    QCOMPARE(own, p.job.headerLines);
    const auto req = buildRequest(pc, pc.keys[0], p.info, p.bodyText, std::nullopt, TimePoint{}, base, own);
    QCOMPARE(req.sharedHeaders, base);
    QCOMPARE(req.headers, p.job.headerLines);
    // One that replaces a common line gets a variant of the shared list,
    // built once for the same lines and kept apart from the base.
    const std::vector<std::string> agent{"user-agent: their-sdk/1.0", "openai-beta: x"};
    std::vector<std::string> own1;
    std::vector<std::string> own2;
    const auto variant = shared.lines(provider, false, agent, own1);
    QVERIFY(variant != base);
    QCOMPARE(shared.lines(provider, false, agent, own2), variant);
    QCOMPARE(own1, std::vector<std::string>{"openai-beta: x"});
    std::vector<std::string> lines;
    for (const curl_slist* l = variant->get(); l != nullptr; l = l->next) {
        lines.emplace_back(l->data);
    }
    QCOMPARE(lines, withHeaderLines(commonHeaderLines(pc, false), {"user-agent: their-sdk/1.0"}));
    QCOMPARE(shared.lines(provider, false), base);
    // A client sending a new value each time cannot grow the cache.
    for (std::size_t i = 0; i < 3 * CommonHeaders::kMaxVariants; ++i) {
        std::vector<std::string> ignored;
        shared.lines(provider, false, {"user-agent: sdk/" + std::to_string(i)}, ignored);
    }
    std::vector<std::string> own3;
    QVERIFY(shared.lines(provider, false, agent, own3) != variant);
}

// A provider configured with betas of its own keeps them on a request that
// brings the client's: the client's join them (each once), rather than
// replace them.
void TestOpenAiEndpoints::clientBetasJoinTheConfiguredOnes()
{
    json provider = {{"name", "claude"},
                     {"flavor", "anthropic"},
                     {"base_url", "http://127.0.0.1:1"},
                     {"headers", {{"Anthropic-Beta", "context-1m-2025-08-07, files-api-2025-04-14"}}},
                     {"models", {{"claude-haiku-4-5", json::object()}}},
                     {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    const Config cfg = loadConfig(JsonSource("betas.json", json{{"providers", json::array({provider})}}.dump()),
                                  [](const std::string&) { return std::optional<std::string>("sk-mock"); });
    const auto prepared = [&](std::vector<std::string> lines) {
        JobSpec j;
        j.customId = "b";
        j.flavor = ApiFlavor::Anthropic;
        j.body = {{"model", "claude-haiku-4-5"}, {"max_tokens", 8}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
        j.headerLines = std::move(lines);
        return prepareJob(cfg, std::move(j)).job.headerLines;
    };
    QCOMPARE(prepared({"anthropic-beta: structured-outputs-2025-11-13,context-1m-2025-08-07", "anthropic-version: 2026-10-21"}),
             (std::vector<std::string>{
                 "anthropic-beta: context-1m-2025-08-07, files-api-2025-04-14,structured-outputs-2025-11-13",
                 "anthropic-version: 2026-10-21"}));
    // The client's betas already among the configured ones: those alone.
    QCOMPARE(prepared({"anthropic-beta: files-api-2025-04-14"}),
             std::vector<std::string>{"anthropic-beta: context-1m-2025-08-07, files-api-2025-04-14"});
    QCOMPARE(prepared({"anthropic-version: 2026-10-21"}), std::vector<std::string>{"anthropic-version: 2026-10-21"});
    QCOMPARE(prepared({"anthropic-beta: b-2025-01-01, ,b-2025-01-01"}),
             std::vector<std::string>{"anthropic-beta: context-1m-2025-08-07, files-api-2025-04-14,b-2025-01-01"});
    // Sent on, the merged line replaces the configured one.
    const PreparedJob p = [&] {
        JobSpec j;
        j.customId = "c";
        j.flavor = ApiFlavor::Anthropic;
        j.body = {{"model", "claude-haiku-4-5"}, {"max_tokens", 8}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
        j.headerLines = {"anthropic-beta: structured-outputs-2025-11-13"};
        return prepareJob(cfg, std::move(j));
    }();
    const ProviderConfig& pc = cfg.providers[p.provider];
    std::vector<std::string> sent = withHeaderLines(commonHeaderLines(pc, false), p.job.headerLines);
    QCOMPARE(std::count_if(sent.begin(), sent.end(), [](const std::string& l) { return l.rfind("anthropic-beta", 0) == 0 || l.rfind("Anthropic-Beta", 0) == 0; }), 1);
    QVERIFY(std::find(sent.begin(), sent.end(),
                      "anthropic-beta: context-1m-2025-08-07, files-api-2025-04-14,structured-outputs-2025-11-13") != sent.end());
}

void TestOpenAiEndpoints::jobPathFollowsTheEndpoint()
{
    const Config cfg = sluiceConfig("http://127.0.0.1:1");
    const auto url = [&](JobSpec spec) {
        const PreparedJob p = prepareJob(cfg, std::move(spec));
        const ProviderConfig& pc = cfg.providers[p.provider];
        return std::pair(buildRequest(pc, pc.keys[0], p.info, p.bodyText, std::nullopt, TimePoint{}).url, p);
    };
    const auto [r, rp] = url(responsesJob("r", true));
    QCOMPARE(r, std::string("http://127.0.0.1:1/v1/responses"));
    // No stream_options for the Responses API (it refuses include_usage).
    QVERIFY(!json::parse(rp.bodyText).contains("stream_options"));
    QCOMPARE(rp.cost.outputTokens, std::int64_t{1000});
    const auto [e, ep] = url(embeddingsJob("e"));
    QCOMPARE(e, std::string("http://127.0.0.1:1/v1/embeddings"));
    QCOMPARE(ep.cost.outputTokens, std::int64_t{0});
    QVERIFY(ep.cost.inputTokens > 0);
    JobSpec chat;
    chat.customId = "c";
    chat.body = {{"model", "gpt-4o-mini"}, {"stream", true}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
    const auto [c, cp] = url(chat);
    QCOMPARE(c, std::string("http://127.0.0.1:1/v1/chat/completions"));
    QVERIFY(json::parse(cp.bodyText)["stream_options"]["include_usage"].get<bool>());

    // A compaction makes an answer: priced as a Responses request.
    JobSpec compact;
    compact.customId = "k";
    compact.endpoint = Endpoint::Responses;
    compact.method = "POST";
    compact.objectPath = "/compact";
    compact.body = {{"model", "gpt-4o-mini"}, {"input", "A long conversation"}};
    const auto [k, kp] = url(compact);
    QCOMPARE(k, std::string("http://127.0.0.1:1/v1/responses/compact"));
    QVERIFY(!kp.info.storedObject);
    QCOMPARE(kp.cost.requests, std::int64_t{1});
    QVERIFY(kp.cost.inputTokens > 0 && kp.cost.outputTokens > 0);
    compact.body = {{"model", "gpt-4o-mini"}};
    QVERIFY_THROWS_EXCEPTION(InputError, prepareJob(cfg, compact));
    // Counting input makes none: a connection, no request or token.
    JobSpec count = compact;
    count.objectPath = "/input_tokens";
    count.bodyText = R"({"previous_response_id":"resp_1","input":"x"})";
    const auto [n, np] = url(count);
    QCOMPARE(n, std::string("http://127.0.0.1:1/v1/responses/input_tokens"));
    QVERIFY(np.info.storedObject);
    QCOMPARE(np.cost.requests, std::int64_t{0});
    QCOMPARE(np.cost.inputTokens + np.cost.outputTokens, std::int64_t{0});
    QCOMPARE(np.bodyText, count.bodyText);
}

void TestOpenAiEndpoints::mockServesResponsesAndEmbeddings()
{
    MockFixture f;
    const auto r = f.http.post("/v1/responses", R"({"model":"gpt-4o-mini","input":"Hello there","max_output_tokens":16})",
                               openAiHeaders());
    QCOMPARE(r.status, 200L);
    const json body = parseJson(r.body);
    QCOMPARE(body["object"], json("response"));
    QCOMPARE(body["output"][0]["content"][0]["type"], json("output_text"));
    QVERIFY(!body["output"][0]["content"][0]["text"].get<std::string>().empty());
    QCOMPARE(body["usage"]["output_tokens"], json(16));
    QCOMPARE(body["usage"]["input_tokens"], json(3 + 3 + 3));
    QVERIFY(r.header("x-request-id").has_value());
    QVERIFY(r.header("x-ratelimit-remaining-tokens").has_value());

    const auto s = f.http.post("/v1/responses",
                               R"({"model":"gpt-4o-mini","input":"Hello there","max_output_tokens":16,"stream":true})",
                               openAiHeaders());
    QCOMPARE(s.status, 200L);
    StreamAccumulator acc(ApiFlavor::OpenAI, Endpoint::Responses);
    QVERIFY(acc.feed(s.body));
    QVERIFY(acc.complete());
    QCOMPARE(acc.usage()->outputTokens, std::int64_t{16});
    QVERIFY(s.body.find("event: response.created\n") == 0);
    QVERIFY(s.body.find("event: response.output_text.delta\n") != std::string::npos);

    const auto e = f.http.post("/v1/embeddings",
                               R"({"model":"text-embedding-3-small","input":["12345678","1234"],"dimensions":4,"encoding_format":"float"})",
                               openAiHeaders());
    QCOMPARE(e.status, 200L);
    const json emb = parseJson(e.body);
    QCOMPARE(emb["data"].size(), std::size_t(2));
    QCOMPARE(emb["data"][1]["index"], json(1));
    QCOMPARE(emb["data"][0]["embedding"].size(), std::size_t(4));
    QCOMPARE(emb["usage"], (json{{"prompt_tokens", 3}, {"total_tokens", 3}}));
    // base64: 4 float32s are 16 bytes, 24 characters.
    const auto b = f.http.post("/v1/embeddings",
                               R"({"model":"text-embedding-3-small","input":"x","dimensions":4,"encoding_format":"base64"})",
                               openAiHeaders());
    QCOMPARE(parseJson(b.body)["data"][0]["embedding"].get<std::string>().size(), std::size_t(24));

    // Errors in OpenAI's envelope.
    const auto missing = f.http.post("/v1/embeddings", R"({"model":"text-embedding-3-small"})", openAiHeaders());
    QCOMPARE(missing.status, 400L);
    QCOMPARE(parseJson(missing.body)["error"]["param"], json("input"));
    QCOMPARE(f.http.post("/v1/responses", R"({"model":"gpt-9","input":"x"})", openAiHeaders()).status, 404L);
    QCOMPARE(f.http.post("/v1/responses", R"({"model":"gpt-4o-mini","input":"x"})", openAiHeaders("sk-wrong")).status,
             401L);
}

void TestOpenAiEndpoints::mockEnforcesLimitsOnEmbeddings()
{
    mock::MockConfig c = quietConfig();
    c.models["text-embedding-3-small"].limits.tokensPerMinute = 60;
    c.models["text-embedding-3-small"].limits.granularity = 60s;
    MockFixture f(c);
    const std::string forty = R"({"model":"text-embedding-3-small","input":")" + std::string(160, 'a') + R"("})";
    QCOMPARE(f.http.post("/v1/embeddings", forty, openAiHeaders()).status, 200L);
    const auto refused = f.http.post("/v1/embeddings", forty, openAiHeaders());
    QCOMPARE(refused.status, 429L);
    QCOMPARE(parseJson(refused.body)["error"]["code"], json("rate_limit_exceeded"));
    QVERIFY(refused.header("retry-after").has_value());
    // Larger than the whole limit: never satisfiable.
    const std::string huge = R"({"model":"text-embedding-3-small","input":")" + std::string(400, 'a') + R"("})";
    const auto tooLarge = f.http.post("/v1/embeddings", huge, openAiHeaders());
    QCOMPARE(tooLarge.status, 429L);
    QVERIFY(parseJson(tooLarge.body)["error"]["message"].get<std::string>().rfind("Request too large", 0) == 0);
}

// A compaction is a model call, charged to the key's limits; counting
// input is not. One request a minute: one compaction passes, counts still
// do, the second compaction is refused.
void TestOpenAiEndpoints::mockCompactsAndCountsInput()
{
    mock::MockConfig c = quietConfig();
    c.models["gpt-4o-mini"].limits.requestsPerMinute = 1;
    c.models["gpt-4o-mini"].limits.granularity = 60s;
    MockFixture f(c);
    const auto compacted =
        f.http.post("/v1/responses/compact", R"({"model":"gpt-4o-mini","input":"Hello there"})", openAiHeaders());
    QVERIFY2(compacted.status == 200, compacted.body.c_str());
    const json body = parseJson(compacted.body);
    QCOMPARE(body["object"], json("response.compaction"));
    QCOMPARE(body["output"][0]["type"], json("compaction"));
    QVERIFY(!body["output"][0]["encrypted_content"].get<std::string>().empty());
    QCOMPARE(body["usage"]["input_tokens"], json(3 + 3 + 3));
    for (int i = 0; i < 3; ++i) {
        const auto counted =
            f.http.post("/v1/responses/input_tokens", R"({"model":"gpt-4o-mini","input":"Hello there"})", openAiHeaders());
        QVERIFY2(counted.status == 200, counted.body.c_str());
        QCOMPARE(parseJson(counted.body), (json{{"object", "response.input_tokens"}, {"input_tokens", 9}}));
    }
    QCOMPARE(f.http.post("/v1/responses/compact", R"({"model":"gpt-4o-mini","input":"x"})", openAiHeaders()).status,
             429L);
    // What the provider says about what it cannot count or compact.
    const auto unknown = f.http.post("/v1/responses/input_tokens", R"({"previous_response_id":"resp_none"})",
                                     openAiHeaders());
    QCOMPARE(unknown.status, 400L);
    QCOMPARE(parseJson(unknown.body)["error"]["code"], json("previous_response_not_found"));
    QCOMPARE(f.http.post("/v1/responses/input_tokens", R"({"model":"gpt-9","input":"x"})", openAiHeaders()).status,
             404L);
    QCOMPARE(f.http.post("/v1/responses/input_tokens", R"({"input":"x"})", openAiHeaders("sk-wrong")).status, 401L);
    const auto streamed = f.http.post("/v1/responses/compact", R"({"model":"gpt-4o-mini","input":"x","stream":true})",
                                      openAiHeaders());
    QCOMPARE(streamed.status, 400L);
}

// OpenAI counts a continuation's input (previous_response_id) with the
// whole conversation it continues: what it reports and bills, what the
// input count says, and what its token limit is charged at arrival. 100
// tokens a minute: 25 for the first turn, 50 for the second (its 9 and
// the first's 25), and the third (9 + 50 before it, + 16 of output) does
// not fit what is left.
void TestOpenAiEndpoints::mockCountsAContinuationWithItsConversation()
{
    mock::MockConfig c = quietConfig();
    c.models["gpt-4o-mini"].limits.tokensPerMinute = 100;
    c.models["gpt-4o-mini"].limits.granularity = 60s;
    MockFixture f(c);
    const auto turn = [&](const std::string& previous) {
        json body = {{"model", "gpt-4o-mini"}, {"input", "Hello there"}, {"max_output_tokens", 16}};
        if (!previous.empty()) {
            body["previous_response_id"] = previous;
        }
        return f.http.post("/v1/responses", body.dump(), openAiHeaders());
    };
    const auto first = turn("");
    QVERIFY2(first.status == 200, first.body.c_str());
    QCOMPARE(parseJson(first.body)["usage"]["input_tokens"], json(9));
    const std::string firstId = parseJson(first.body)["id"].get<std::string>();
    const auto second = turn(firstId);
    QVERIFY2(second.status == 200, second.body.c_str());
    QCOMPARE(parseJson(second.body)["usage"]["input_tokens"], json(9 + 9 + 16));
    const std::string secondId = parseJson(second.body)["id"].get<std::string>();
    const auto counted = f.http.post("/v1/responses/input_tokens",
                                     json{{"previous_response_id", secondId}, {"input", "Hello there"}}.dump(),
                                     openAiHeaders());
    QVERIFY2(counted.status == 200, counted.body.c_str());
    QCOMPARE(parseJson(counted.body)["input_tokens"], json(9 + 34 + 16));
    QCOMPARE(turn(secondId).status, 429L);
}

// "background": true answers at once with the response queued (no output,
// no usage); a read of it finds it finished, and a continuation counts its
// conversation as any. Background needs a stored response.
void TestOpenAiEndpoints::mockRunsAResponseInTheBackground()
{
    MockFixture f(quietConfig());
    json body = {{"model", "gpt-4o-mini"}, {"input", "Hello there"}, {"max_output_tokens", 16}, {"background", true}};
    const auto queued = f.http.post("/v1/responses", body.dump(), openAiHeaders());
    QVERIFY2(queued.status == 200, queued.body.c_str());
    const json q = parseJson(queued.body);
    QCOMPARE(q["status"], json("queued"));
    QCOMPARE(q["background"], json(true));
    QVERIFY(q["usage"].is_null());
    QVERIFY(q["output"].empty());
    const std::string id = q["id"].get<std::string>();
    const auto read = f.http.get("/v1/responses/" + id, openAiHeaders());
    QVERIFY2(read.status == 200, read.body.c_str());
    const json done = parseJson(read.body);
    // Finished: "incomplete" when the answer reached max_output_tokens.
    QVERIFY2(done["status"] == "completed" || done["status"] == "incomplete", read.body.c_str());
    QCOMPARE(done["usage"]["input_tokens"], json(9));
    const std::int64_t output = done["usage"]["output_tokens"].get<std::int64_t>();
    const auto next = f.http.post(
        "/v1/responses", json{{"model", "gpt-4o-mini"}, {"input", "Hello there"}, {"previous_response_id", id}}.dump(),
        openAiHeaders());
    QVERIFY2(next.status == 200, next.body.c_str());
    QCOMPARE(parseJson(next.body)["usage"]["input_tokens"], json(9 + 9 + output));

    body["store"] = false;
    const auto unstored = f.http.post("/v1/responses", body.dump(), openAiHeaders());
    QCOMPARE(unstored.status, 400L);
    QCOMPARE(parseJson(unstored.body)["error"]["param"], json("background"));
    body["store"] = true;
    body["background"] = "yes";
    QCOMPARE(f.http.post("/v1/responses", body.dump(), openAiHeaders()).status, 400L);
}

void TestOpenAiEndpoints::dispatchedJobsSettleToReportedUsage()
{
    mock::MockConfig m = quietConfig();
    m.limitsEnabled = false;
    // 20 tokens written against 1,000 reserved: settling shows.
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 20;
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    provider.start();
    Admission admission(clock);
    Listener listener;
    DispatcherOptions opt;
    opt.seed = 7;
    Dispatcher dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, listener, opt);
    dispatcher.start();
    dispatcher.submit(responsesJob("plain", false));
    dispatcher.submit(responsesJob("streamed", true));
    dispatcher.submit(embeddingsJob("embedded"));
    QVERIFY(listener.waitFor(3));
    dispatcher.stop();
    provider.stop();

    const auto outcome = [&](const std::string& id) {
        std::lock_guard g(listener.mutex);
        return listener.finished.at(id);
    };
    for (const char* id : {"plain", "streamed"}) {
        const JobOutcome o = outcome(id);
        QVERIFY2(o.result == JobResult::Completed, o.reason.c_str());
        QVERIFY(o.usage.has_value());
        QCOMPARE(o.usage->outputTokens, std::int64_t{20});
        const json body = json::parse(o.body);
        QCOMPARE(body["object"], json("response"));
        QCOMPARE(o.usage->inputTokens, body["usage"]["input_tokens"].get<std::int64_t>());
    }
    const JobOutcome e = outcome("embedded");
    QVERIFY2(e.result == JobResult::Completed, e.reason.c_str());
    QVERIFY(e.usage.has_value());
    QCOMPARE(e.usage->inputTokens, json::parse(e.body)["usage"]["prompt_tokens"].get<std::int64_t>());
    QCOMPARE(e.usage->outputTokens, std::int64_t{0});
    QCOMPARE(json::parse(e.body)["data"].size(), std::size_t(2));

    // The token budget holds what was reported, not the reservations
    // (1,000 output tokens each for the Responses jobs). A day's budget
    // refills ~12 tokens a second, so allow a few for the test's own time.
    std::int64_t reported = 0;
    for (const char* id : {"plain", "streamed", "embedded"}) {
        const JobOutcome o = outcome(id);
        reported += o.usage->inputTokens + o.usage->outputTokens;
    }
    std::int64_t used = 0;
    for (const char* model : {"gpt-4o-mini", "text-embedding-3-small"}) {
        const auto p = admission.findScope(Admission::root(), "mock");
        const auto k = admission.findScope(*p, "main");
        const auto s = admission.findScope(*k, model);
        QVERIFY(p && k && s);
        for (const auto& d : admission.snapshot(*s).dimensions) {
            if (d.spec.measure == Measure::TotalTokens) {
                used += d.used;
            }
        }
    }
    QVERIFY2(used <= reported && used >= reported - 24,
             qPrintable(QStringLiteral("used %1, reported %2").arg(used).arg(reported)));
}

// The gateway prices a job with prepare() and sends it later with
// submitPrepared(); a configuration replaced in between (a provider
// removed) has the job prepared again, from its serialised body, under the
// new one.
void TestOpenAiEndpoints::preparedJobSurvivesAConfigChange()
{
    mock::MockConfig m = quietConfig();
    m.limitsEnabled = false;
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    provider.start();
    const auto key = [](const std::string& name) {
        return name == "MOCK_KEY" ? std::optional<std::string>("sk-mock") : std::nullopt;
    };
    const json other = {{"name", "gone"},
                        {"flavor", "openai"},
                        {"base_url", "http://127.0.0.1:1"},
                        {"models", {{"gpt-4o", json::object()}}},
                        {"keys", json::array({{{"name", "k"}, {"env", "MOCK_KEY"}}})}};
    const json mockProvider = {{"name", "mock"},
                               {"flavor", "openai"},
                               {"base_url", provider.baseUrl()},
                               {"models", {{"gpt-4o-mini", json::object()}}},
                               {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}};
    const json root = {{"providers", json::array({other, mockProvider})}};
    Admission admission(clock);
    Listener listener;
    Dispatcher dispatcher(loadConfig(JsonSource("two.json", root.dump()), key), clock, admission, listener);
    dispatcher.start();
    Dispatcher::Prepared prepared = dispatcher.prepare(responsesJob("later", false));
    QCOMPARE(prepared.job->provider, std::size_t{1});
    const Cost priced = prepared.job->cost;
    dispatcher.removeProvider("gone");
    dispatcher.submitPrepared(std::move(prepared));
    QVERIFY(listener.waitFor(1));
    dispatcher.stop();
    provider.stop();
    std::lock_guard g(listener.mutex);
    const JobOutcome& o = listener.finished.at("later");
    QVERIFY2(o.result == JobResult::Completed, o.reason.c_str());
    QCOMPARE(o.provider, std::string("mock"));
    QCOMPARE(json::parse(o.body)["object"], json("response"));
    QCOMPARE(priced.outputTokens, std::int64_t{1000});
}

QTEST_GUILESS_MAIN(TestOpenAiEndpoints)
#include "tst_openai_endpoints.moc"
