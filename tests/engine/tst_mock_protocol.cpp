// Protocol fidelity of the mock provider, both dialects: bodies, headers,
// server-sent event sequences, models lists, and the status and error
// envelope for every kind of bad input. Real HTTP over loopback.
#include "core/timefmt.h"
#include "support/mock_fixture.h"

#include <QtTest>

using namespace sluice;
using namespace sluice::test;
using namespace std::chrono_literals;
using nlohmann::json;

Q_DECLARE_METATYPE(sluice::test::Headers)

namespace {

std::int64_t headerInt(const HttpResponse& r, const char* name)
{
    return std::stoll(r.header(name).value_or("-999999"));
}

mock::MockConfig withRestrictedKey()
{
    mock::MockConfig c = quietConfig();
    c.keys["sk-mini-only"].models = {"gpt-4o-mini", "claude-haiku-4-5"};
    c.keys["sk-revoked"].disabled = true;
    c.maxBodyBytes = 64 * 1024;
    return c;
}

}  // namespace

class TestMockProtocol : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void openAiCompletionBodyAndHeaders();
    void openAiPromptEstimate();
    void openAiStreamWithUsage();
    void openAiStreamWithoutUsage();
    void openAiSeveralChoices();
    void openAiModels();
    void openAiErrors_data();
    void openAiErrors();

    void anthropicMessageBodyAndHeaders();
    void anthropicStreamSequence();
    void anthropicModels();
    void anthropicErrors_data();
    void anthropicErrors();

    void sameSeedSameAnswers();
};

void TestMockProtocol::openAiCompletionBodyAndHeaders()
{
    MockFixture f;
    const auto r = f.http.post("/v1/chat/completions", openAiBody("gpt-4o", 50), openAiHeaders());
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.header("content-type").value_or(""), std::string("application/json"));
    const json body = parseJson(r.body);
    QVERIFY(body.is_object());
    QVERIFY(body["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
    QCOMPARE(body["object"], json("chat.completion"));
    QCOMPARE(body["model"], json("gpt-4o"));
    QCOMPARE(body["created"].get<std::int64_t>(), std::int64_t{1'767'225'600});  // the ManualClock's wall start
    QCOMPARE(body["choices"].size(), std::size_t(1));
    const json& choice = body["choices"][0];
    QCOMPARE(choice["index"], json(0));
    QCOMPARE(choice["message"]["role"], json("assistant"));
    QVERIFY(!choice["message"]["content"].get<std::string>().empty());
    const json& usage = body["usage"];
    const auto prompt = usage["prompt_tokens"].get<std::int64_t>();
    const auto completion = usage["completion_tokens"].get<std::int64_t>();
    QVERIFY(completion >= 1 && completion <= 50);
    QCOMPARE(usage["total_tokens"].get<std::int64_t>(), prompt + completion);
    QCOMPARE(choice["finish_reason"], json(completion == 50 ? "length" : "stop"));
    QVERIFY(usage.contains("prompt_tokens_details") && usage.contains("completion_tokens_details"));

    // Headers: request id, and the limits after this request on gpt-4o
    // (500 RPM, 30,000 TPM charged prompt + max_tokens on arrival).
    QVERIFY(r.header("x-request-id").value_or("").rfind("req_", 0) == 0);
    QCOMPARE(headerInt(r, "x-ratelimit-limit-requests"), std::int64_t{500});
    QCOMPARE(headerInt(r, "x-ratelimit-remaining-requests"), std::int64_t{499});
    QCOMPARE(r.header("x-ratelimit-reset-requests").value_or(""), std::string("120ms"));  // 60 s / 500
    QCOMPARE(headerInt(r, "x-ratelimit-limit-tokens"), std::int64_t{30'000});
    const std::int64_t charged = prompt + 50;
    QCOMPARE(headerInt(r, "x-ratelimit-remaining-tokens"), 30'000 - charged);
    // Time to refill `charged` tokens at 500 per second, in whole ms, Go style.
    const auto refill = std::chrono::milliseconds((charged * 60'000 + 29'999) / 30'000);
    QCOMPARE(r.header("x-ratelimit-reset-tokens").value_or(""), formatGoDuration(refill));
    QVERIFY(parseGoDuration(r.header("x-ratelimit-reset-tokens").value_or("")).has_value());
}

void TestMockProtocol::openAiPromptEstimate()
{
    MockFixture f;
    // 3 to prime the reply + (3 per message + "user" 1 + 25 characters ≈ 7).
    const auto r = f.http.post("/v1/chat/completions", openAiBody(), openAiHeaders());
    QCOMPARE(parseJson(r.body)["usage"]["prompt_tokens"].get<std::int64_t>(), std::int64_t{14});
}

void TestMockProtocol::openAiStreamWithUsage()
{
    MockFixture f;
    const auto r = f.http.post("/v1/chat/completions",
                               openAiBody("gpt-4o-mini", 30, R"(,"stream":true,"stream_options":{"include_usage":true})"),
                               openAiHeaders());
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    QVERIFY(r.header("content-type").value_or("").rfind("text/event-stream", 0) == 0);
    QVERIFY(r.header("x-ratelimit-remaining-requests").has_value());
    const auto events = parseSse(r.body);
    QVERIFY(events.size() >= 4);
    QCOMPARE(events.back().data, std::string("[DONE]"));
    std::string id;
    std::string text;
    int contentChunks = 0;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        QVERIFY(events[i].event.empty());  // OpenAI frames name no event
        const json chunk = parseJson(events[i].data);
        QVERIFY2(chunk.is_object(), events[i].data.c_str());
        QCOMPARE(chunk["object"], json("chat.completion.chunk"));
        if (id.empty()) {
            id = chunk["id"].get<std::string>();
        }
        QCOMPARE(chunk["id"].get<std::string>(), id);
        QVERIFY(chunk.contains("usage"));
        const bool last = i + 2 == events.size();
        if (!last) {
            QVERIFY(chunk["usage"].is_null());
            QCOMPARE(chunk["choices"].size(), std::size_t(1));
            const json& delta = chunk["choices"][0]["delta"];
            if (i == 0) {
                QCOMPARE(delta["role"], json("assistant"));
            } else if (delta.contains("content")) {
                text += delta["content"].get<std::string>();
                ++contentChunks;
            }
        } else {
            // The usage chunk: no choices, the whole request's usage.
            QVERIFY(chunk["choices"].is_array() && chunk["choices"].empty());
            QCOMPARE(chunk["usage"]["completion_tokens"].get<int>(), contentChunks);
            QCOMPARE(chunk["usage"]["prompt_tokens"].get<int>(), 14);
        }
    }
    const json finish = parseJson(events[events.size() - 3].data);
    QVERIFY(finish["choices"][0]["finish_reason"].is_string());
    QVERIFY(contentChunks >= 1 && contentChunks <= 30);
    QVERIFY(!text.empty());
}

void TestMockProtocol::openAiStreamWithoutUsage()
{
    MockFixture f;
    const auto r =
        f.http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", 10, R"(,"stream":true)"), openAiHeaders());
    QVERIFY(r.completed());
    const auto events = parseSse(r.body);
    QCOMPARE(events.back().data, std::string("[DONE]"));
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        const json chunk = parseJson(events[i].data);
        QVERIFY(!chunk.contains("usage"));
        QCOMPARE(chunk["choices"].size(), std::size_t(1));
    }
}

void TestMockProtocol::openAiSeveralChoices()
{
    MockFixture f;
    const auto r = f.http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", 40, R"(,"n":3)"), openAiHeaders());
    const json body = parseJson(r.body);
    QCOMPARE(body["choices"].size(), std::size_t(3));
    std::int64_t total = 0;
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(body["choices"][i]["index"], json(i));
        total += static_cast<std::int64_t>(
            (body["choices"][i]["message"]["content"].get<std::string>().size() > 0) ? 1 : 0);
    }
    QCOMPARE(total, std::int64_t{3});
    // TPM is charged max_tokens for each choice.
    QCOMPARE(headerInt(r, "x-ratelimit-remaining-tokens"), 200'000 - (14 + 3 * 40));
}

void TestMockProtocol::openAiModels()
{
    MockFixture f(withRestrictedKey());
    const auto all = parseJson(f.http.get("/v1/models", openAiHeaders()).body);
    QCOMPARE(all["object"], json("list"));
    std::vector<std::string> ids;
    for (const auto& m : all["data"]) {
        QCOMPARE(m["object"], json("model"));
        ids.push_back(m["id"].get<std::string>());
    }
    QCOMPARE(ids, (std::vector<std::string>{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}));
    const auto restricted = parseJson(f.http.get("/v1/models", openAiHeaders("sk-mini-only")).body);
    QCOMPARE(restricted["data"].size(), std::size_t(1));
    QCOMPARE(f.http.get("/v1/models").status, 401L);
}

void TestMockProtocol::openAiErrors_data()
{
    QTest::addColumn<QString>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<Headers>("headers");
    QTest::addColumn<QString>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("code");  // "null" for a JSON null
    QTest::addColumn<QString>("message");

    const QString chat = QStringLiteral("/v1/chat/completions");
    const QString ok = QString::fromStdString(openAiBody());
    const auto post = QStringLiteral("POST");
    QTest::newRow("no key") << post << chat << Headers{{"Content-Type", "application/json"}} << ok << 401
                            << "invalid_request_error" << "null" << "You didn't provide an API key.";
    QTest::newRow("unknown key") << post << chat << openAiHeaders("sk-not-a-real-key-1234") << ok << 401
                                 << "invalid_request_error" << "invalid_api_key"
                                 << "Incorrect API key provided: sk-*****1234.";
    QTest::newRow("revoked key") << post << chat << openAiHeaders("sk-revoked") << ok << 401
                                 << "invalid_request_error" << "invalid_api_key" << "Incorrect API key provided";
    QTest::newRow("malformed JSON") << post << chat << openAiHeaders() << "{\"model\": \"gpt-4o\", " << 400
                                    << "invalid_request_error" << "null"
                                    << "We could not parse the JSON body of your request.";
    QTest::newRow("missing messages") << post << chat << openAiHeaders() << R"({"model":"gpt-4o"})" << 400
                                      << "invalid_request_error" << "missing_required_parameter"
                                      << "Missing required parameter: 'messages'.";
    QTest::newRow("empty messages") << post << chat << openAiHeaders() << R"({"model":"gpt-4o","messages":[]})"
                                    << 400 << "invalid_request_error" << "empty_array" << "empty array";
    QTest::newRow("missing model") << post << chat << openAiHeaders()
                                   << R"({"messages":[{"role":"user","content":"x"}]})" << 400
                                   << "invalid_request_error" << "null" << "you must provide a model parameter";
    QTest::newRow("wrong content type") << post << chat
                                        << Headers{{"Authorization", "Bearer sk-mock"}, {"Content-Type", "text/plain"}}
                                        << ok << 400 << "invalid_request_error" << "unsupported_content_type"
                                        << "Unsupported content type: 'text/plain'.";
    QTest::newRow("unknown model") << post << chat << openAiHeaders() << QString::fromStdString(openAiBody("gpt-9"))
                                   << 404 << "invalid_request_error" << "model_not_found"
                                   << "The model `gpt-9` does not exist or you do not have access to it.";
    QTest::newRow("Anthropic model") << post << chat << openAiHeaders()
                                     << QString::fromStdString(openAiBody("claude-sonnet-4-5")) << 404
                                     << "invalid_request_error" << "model_not_found" << "does not exist";
    QTest::newRow("max_tokens too large") << post << chat << openAiHeaders()
                                          << QString::fromStdString(openAiBody("gpt-4o", 100'000)) << 400
                                          << "invalid_request_error" << "invalid_value" << "max_tokens is too large";
    QTest::newRow("max_tokens zero") << post << chat << openAiHeaders()
                                     << QString::fromStdString(openAiBody("gpt-4o", 0)) << 400
                                     << "invalid_request_error" << "integer_below_min_value" << "Expected a value >= 1";
    QTest::newRow("model not allowed") << post << chat << openAiHeaders("sk-mini-only")
                                       << QString::fromStdString(openAiBody("gpt-4o")) << 403
                                       << "invalid_request_error" << "model_not_found" << "does not have access";
    QTest::newRow("unknown route") << post << QStringLiteral("/v1/completions/x") << openAiHeaders() << ok << 404
                                   << "invalid_request_error" << "null" << "Invalid URL (POST /v1/completions/x)";
    QTest::newRow("wrong method") << QStringLiteral("GET") << chat << openAiHeaders() << QString() << 404
                                  << "invalid_request_error" << "null" << "Invalid URL (GET /v1/chat/completions)";
    QTest::newRow("body too large") << post << chat << openAiHeaders()
                                    << QString::fromStdString(openAiBody("gpt-4o", 10, ",\"pad\":\"" +
                                                                                           std::string(70'000, 'x') + "\""))
                                    << 413 << "invalid_request_error" << "request_too_large" << "too large";
}

void TestMockProtocol::openAiErrors()
{
    QFETCH(QString, method);
    QFETCH(QString, path);
    QFETCH(Headers, headers);
    QFETCH(QString, body);
    QFETCH(int, status);
    QFETCH(QString, type);
    QFETCH(QString, code);
    QFETCH(QString, message);

    MockFixture f(withRestrictedKey());
    const auto r = f.http.request(method.toStdString(), path.toStdString(), body.toStdString(), headers);
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, static_cast<long>(status));
    const json e = parseJson(r.body);
    QVERIFY2(e.is_object() && e.size() == 1 && e.contains("error"), r.body.c_str());
    const json& err = e["error"];
    QCOMPARE(err.size(), std::size_t(4));  // message, type, param, code
    QVERIFY(err.contains("param"));
    QCOMPARE(QString::fromStdString(err["type"].get<std::string>()), type);
    QCOMPARE(QString::fromStdString(err["code"].is_null() ? "null" : err["code"].get<std::string>()), code);
    QVERIFY2(QString::fromStdString(err["message"].get<std::string>()).contains(message), r.body.c_str());
    // A key is never echoed whole.
    QVERIFY(r.body.find("sk-not-a-real-key-1234") == std::string::npos);
}

void TestMockProtocol::anthropicMessageBodyAndHeaders()
{
    MockFixture f;
    const auto r = f.http.post("/v1/messages", anthropicBody("claude-sonnet-4-5", 100), anthropicHeaders());
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    const json body = parseJson(r.body);
    QVERIFY(body["id"].get<std::string>().rfind("msg_", 0) == 0);
    QCOMPARE(body["type"], json("message"));
    QCOMPARE(body["role"], json("assistant"));
    QCOMPARE(body["model"], json("claude-sonnet-4-5"));
    QCOMPARE(body["content"].size(), std::size_t(1));
    QCOMPARE(body["content"][0]["type"], json("text"));
    QVERIFY(!body["content"][0]["text"].get<std::string>().empty());
    const json& usage = body["usage"];
    const auto input = usage["input_tokens"].get<std::int64_t>();
    const auto output = usage["output_tokens"].get<std::int64_t>();
    QCOMPARE(input, std::int64_t{13});
    QVERIFY(output >= 1 && output <= 100);
    QCOMPARE(usage["cache_creation_input_tokens"], json(0));
    QCOMPARE(usage["cache_read_input_tokens"], json(0));
    QCOMPARE(body["stop_reason"], json(output == 100 ? "max_tokens" : "end_turn"));
    QVERIFY(body["stop_sequence"].is_null());

    QVERIFY(r.header("request-id").value_or("").rfind("req_", 0) == 0);
    QVERIFY(r.header("anthropic-organization-id").has_value());
    // Limits: 50 RPM, 30,000 ITPM, 8,000 OTPM with max_tokens reserved up
    // front; resets are RFC 3339 instants on the ManualClock's calendar
    // (2026-01-01T00:00:00Z), rounded up to the second.
    QCOMPARE(headerInt(r, "anthropic-ratelimit-requests-limit"), std::int64_t{50});
    QCOMPARE(headerInt(r, "anthropic-ratelimit-requests-remaining"), std::int64_t{49});
    QCOMPARE(r.header("anthropic-ratelimit-requests-reset").value_or(""), std::string("2026-01-01T00:00:02Z"));
    QCOMPARE(headerInt(r, "anthropic-ratelimit-input-tokens-limit"), std::int64_t{30'000});
    QCOMPARE(headerInt(r, "anthropic-ratelimit-input-tokens-remaining"), std::int64_t{30'000});  // 29,987 rounded
    QCOMPARE(r.header("anthropic-ratelimit-input-tokens-reset").value_or(""), std::string("2026-01-01T00:00:01Z"));
    QCOMPARE(headerInt(r, "anthropic-ratelimit-output-tokens-limit"), std::int64_t{8'000});
    QCOMPARE(headerInt(r, "anthropic-ratelimit-output-tokens-remaining"), std::int64_t{8'000});  // 7,900 rounded
    QCOMPARE(headerInt(r, "anthropic-ratelimit-tokens-limit"), std::int64_t{38'000});
    QCOMPARE(headerInt(r, "anthropic-ratelimit-tokens-remaining"), std::int64_t{38'000});  // 37,887 rounded
    QVERIFY(parseRfc3339(r.header("anthropic-ratelimit-tokens-reset").value_or("")).has_value());
    QVERIFY(!r.hasHeaderStartingWith("x-ratelimit"));

    // Dated betas, as the SDK's `betas` option sends them, are served.
    auto withBetas = anthropicHeaders();
    withBetas.push_back({"anthropic-beta", "structured-outputs-2025-12-15,context-1m-2025-08-07"});
    QCOMPARE(f.http.post("/v1/messages", anthropicBody("claude-sonnet-4-5", 10), withBetas).status, 200L);
}

void TestMockProtocol::anthropicStreamSequence()
{
    MockFixture f;
    const auto r =
        f.http.post("/v1/messages", anthropicBody("claude-haiku-4-5", 25, R"(,"stream":true)"), anthropicHeaders());
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    const auto events = parseSse(r.body);
    std::vector<std::string> names;
    for (const auto& e : events) {
        const json data = parseJson(e.data);
        QVERIFY2(data.is_object(), e.data.c_str());
        QCOMPARE(data["type"].get<std::string>(), e.event);  // every frame names its event twice
        names.push_back(e.event);
    }
    QVERIFY(names.size() >= 7);
    QCOMPARE(names[0], std::string("message_start"));
    QCOMPARE(names[1], std::string("content_block_start"));
    QCOMPARE(names[2], std::string("ping"));
    const std::size_t n = names.size();
    QCOMPARE(names[n - 3], std::string("content_block_stop"));
    QCOMPARE(names[n - 2], std::string("message_delta"));
    QCOMPARE(names[n - 1], std::string("message_stop"));
    for (std::size_t i = 3; i < n - 3; ++i) {
        QCOMPARE(names[i], std::string("content_block_delta"));
        QCOMPARE(parseJson(events[i].data)["delta"]["type"], json("text_delta"));
    }
    const json start = parseJson(events[0].data);
    QCOMPARE(start["message"]["usage"]["input_tokens"], json(13));
    QVERIFY(start["message"]["content"].empty());
    const json delta = parseJson(events[n - 2].data);
    QCOMPARE(delta["usage"]["output_tokens"].get<std::size_t>(), n - 6);
    QVERIFY(delta["delta"]["stop_reason"].is_string());
}

void TestMockProtocol::anthropicModels()
{
    MockFixture f;
    const auto r = f.http.get("/v1/models", {{"x-api-key", "sk-mock"}, {"anthropic-version", "2023-06-01"}});
    const json list = parseJson(r.body);
    QCOMPARE(list["data"].size(), std::size_t(2));
    QCOMPARE(list["data"][0]["type"], json("model"));
    QCOMPARE(list["first_id"], json("claude-haiku-4-5"));
    QCOMPARE(list["has_more"], json(false));
    QCOMPARE(f.http.get("/v1/models", {{"x-api-key", "sk-wrong"}}).status, 401L);
}

void TestMockProtocol::anthropicErrors_data()
{
    QTest::addColumn<Headers>("headers");
    QTest::addColumn<QString>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("message");

    const QString ok = QString::fromStdString(anthropicBody());
    QTest::newRow("no key") << Headers{{"anthropic-version", "2023-06-01"}, {"Content-Type", "application/json"}} << ok
                            << 401 << "authentication_error" << "x-api-key or authorization header is required";
    QTest::newRow("unknown key") << anthropicHeaders("sk-nope") << ok << 401 << "authentication_error"
                                 << "invalid x-api-key";
    // @anthropic-ai/sdk 1.x: the key as a bearer token, a newer dated version.
    QTest::newRow("unknown bearer key") << Headers{{"authorization", "Bearer sk-nope"}, {"anthropic-version", "2026-10-21"},
                                                   {"Content-Type", "application/json"}}
                                        << ok << 401 << "authentication_error" << "invalid x-api-key";
    QTest::newRow("bearer key, model not allowed")
        << Headers{{"authorization", "Bearer sk-mini-only"}, {"anthropic-version", "2026-10-21"},
                   {"Content-Type", "application/json"}}
        << ok << 403 << "permission_error" << "does not have permission";
    QTest::newRow("revoked key") << anthropicHeaders("sk-revoked") << ok << 401 << "authentication_error"
                                 << "invalid x-api-key";
    QTest::newRow("no version") << Headers{{"x-api-key", "sk-mock"}, {"Content-Type", "application/json"}} << ok << 400
                                << "invalid_request_error" << "anthropic-version: header is required";
    // Versions and betas are dated names; any other value is one the API
    // does not know, and it says which.
    QTest::newRow("version not a date")
        << Headers{{"x-api-key", "sk-mock"}, {"anthropic-version", "latest"}, {"Content-Type", "application/json"}} << ok
        << 400 << "invalid_request_error" << "anthropic-version: 'latest' is not a version";
    QTest::newRow("unknown betas")
        << Headers{{"x-api-key", "sk-mock"}, {"anthropic-version", "2023-06-01"},
                   {"anthropic-beta", "context-1m-2025-08-07, no-such-beta"}, {"anthropic-beta", "Upper-2025-01-01"},
                   {"Content-Type", "application/json"}}
        << ok << 400 << "invalid_request_error"
        << "Unexpected value(s) `no-such-beta`, `Upper-2025-01-01` for the `anthropic-beta` header";
    QTest::newRow("malformed JSON") << anthropicHeaders() << "{\"model\":" << 400 << "invalid_request_error"
                                    << "The request body is not valid JSON";
    QTest::newRow("missing max_tokens")
        << anthropicHeaders() << R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]})" << 400
        << "invalid_request_error" << "max_tokens: Field required";
    QTest::newRow("missing messages") << anthropicHeaders() << R"({"model":"claude-sonnet-4-5","max_tokens":5})" << 400
                                      << "invalid_request_error" << "messages: Field required";
    QTest::newRow("max_tokens a string")
        << anthropicHeaders()
        << R"({"model":"claude-sonnet-4-5","max_tokens":"5","messages":[{"role":"user","content":"x"}]})" << 400
        << "invalid_request_error" << "max_tokens: Input should be a valid integer";
    QTest::newRow("max_tokens above the model's") << anthropicHeaders()
                                                  << QString::fromStdString(anthropicBody("claude-sonnet-4-5", 100'000))
                                                  << 400 << "invalid_request_error"
                                                  << "the maximum allowed number of output tokens";
    QTest::newRow("unknown model") << anthropicHeaders() << QString::fromStdString(anthropicBody("claude-9")) << 404
                                   << "not_found_error" << "model: claude-9";
    QTest::newRow("wrong content type")
        << Headers{{"x-api-key", "sk-mock"}, {"anthropic-version", "2023-06-01"}, {"Content-Type", "text/plain"}} << ok
        << 400 << "invalid_request_error" << "Content-Type must be application/json";
    QTest::newRow("model not allowed") << anthropicHeaders("sk-mini-only") << ok << 403 << "permission_error"
                                       << "does not have permission";
    QTest::newRow("body too large") << anthropicHeaders()
                                    << QString::fromStdString(anthropicBody(
                                           "claude-sonnet-4-5", 10, ",\"system\":\"" + std::string(70'000, 'x') + "\""))
                                    << 413 << "request_too_large" << "maximum allowed number of bytes";
}

void TestMockProtocol::anthropicErrors()
{
    QFETCH(Headers, headers);
    QFETCH(QString, body);
    QFETCH(int, status);
    QFETCH(QString, type);
    QFETCH(QString, message);

    MockFixture f(withRestrictedKey());
    const auto r = f.http.post("/v1/messages", body.toStdString(), headers);
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, static_cast<long>(status));
    const json e = parseJson(r.body);
    QVERIFY2(e.is_object(), r.body.c_str());
    QCOMPARE(e["type"], json("error"));
    QCOMPARE(QString::fromStdString(e["error"]["type"].get<std::string>()), type);
    QVERIFY2(QString::fromStdString(e["error"]["message"].get<std::string>()).contains(message), r.body.c_str());
    QCOMPARE(e["request_id"].get<std::string>(), r.header("request-id").value_or("missing"));
}

void TestMockProtocol::sameSeedSameAnswers()
{
    const auto run = [] {
        MockFixture f;
        std::vector<std::string> texts;
        for (int i = 0; i < 5; ++i) {
            const auto r = f.http.post("/v1/chat/completions", openAiBody("gpt-4o-mini", 300), openAiHeaders());
            texts.push_back(parseJson(r.body)["choices"][0]["message"]["content"].get<std::string>());
        }
        return texts;
    };
    const auto first = run();
    QCOMPARE(run(), first);
    QVERIFY(first[0] != first[1]);  // different requests, different draws
}

QTEST_APPLESS_MAIN(TestMockProtocol)
#include "tst_mock_protocol.moc"
