// Workload files: what they describe, every problem named by file, line and
// JSON pointer (or replay file and line), binding to a config, the request
// factory's determinism, and the estimate shown before real traffic.
#include "loadtest/request_factory.h"
#include "loadtest/workload.h"

#include <QtTest>

#include <QTemporaryDir>

#include <fstream>
#include <set>

using namespace sluice;
using namespace sluice::loadtest;
using nlohmann::json;

namespace {

Config testConfig()
{
    const json root = {
        {"providers",
         json::array({{{"name", "openai"},
                       {"flavor", "openai"},
                       {"base_url", "http://127.0.0.1:1"},
                       {"models", {{"gpt-4o-mini", json::object()}, {"gpt-4o", json::object()}}},
                       {"keys", json::array({{{"name", "k"}, {"env", "K"}}})}},
                      {{"name", "anthropic"},
                       {"flavor", "anthropic"},
                       {"base_url", "http://127.0.0.1:1"},
                       {"models", {{"claude-haiku-4-5", json::object()}}},
                       {"keys", json::array({{{"name", "k"}, {"env", "K"}}})}}})}};
    return loadConfig(JsonSource("config.json", root.dump()), [](const std::string&) { return std::string("sk"); });
}

// Accepts what names a configured model, as a dispatcher would.
std::string routable(const Config& c, const JobSpec& job)
{
    return c.route(job.flavor, job.body.value("model", ""), job.provider) ? std::string()
                                                                         : "body.model: not served";
}

Workload parse(const std::string& text, const std::string& dir = {})
{
    return loadWorkload(JsonSource("workload.json", text), dir);
}

std::string problemsOf(const std::string& text, const std::string& dir = {})
{
    try {
        parse(text, dir);
    } catch (const InputError& e) {
        return e.what();
    }
    return {};
}

const char* kPipeline = R"({
  "duration_s": 10,
  "seed": 4,
  "arrival": {"process": "constant", "rate": 1},
  "mix": {"models": ["gpt-4o-mini", {"model": "claude-haiku-4-5", "weight": 2}],
          "prompt_tokens": {"dist": "uniform", "min": 50, "max": 150}, "max_tokens": 64,
          "tenants": [{"name": "a", "priority": 2}, {"name": "b"}]},
  "pipeline": {"stages": [
    {"name": "outline"},
    {"name": "section", "count": 4, "max_tokens": 200},
    {"name": "summary", "after": ["section"]},
    {"name": "keywords", "after": "section", "model": "gpt-4o"}
  ]}
})";

}  // namespace

class TestLoadtestWorkload : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsAPipeline();
    void problemsNameFileLineAndField_data();
    void problemsNameFileLineAndField();
    void everyProblemAtOnce();
    void replayProblemsNameTheirLine_data();
    void replayProblemsNameTheirLine();
    void replaysABatchFile();
    void bindingNamesTheModelsLine();
    void requestsAreDeterministic();
    void promptsHaveTheDrawnSize();
    void estimateCountsWhatWillBeSent();
};

void TestLoadtestWorkload::readsAPipeline()
{
    const Workload w = parse(kPipeline);
    QCOMPARE(w.name, std::string("workload"));
    QCOMPARE(w.duration, Duration(std::chrono::seconds(10)));
    QCOMPARE(w.seed, std::uint64_t{4});
    QVERIFY(w.pipeline.has_value());
    const auto& st = w.pipeline->stages;
    QCOMPARE(st.size(), std::size_t{4});
    QVERIFY(st[0].after.empty());
    QCOMPARE(st[1].after, std::vector<std::size_t>{0});  // no "after": the stage before
    QCOMPARE(st[1].count, 4);
    QCOMPARE(st[1].mix.maxTokens.value, 200.0);
    QCOMPARE(st[2].mix.maxTokens.value, 64.0);  // inherited
    QCOMPARE(st[2].after, std::vector<std::size_t>{1});
    QCOMPARE(st[3].mix.models.size(), std::size_t{1});
    QCOMPARE(st[3].mix.models[0].model, std::string("gpt-4o"));
    QCOMPARE(w.callsPerArrival(), std::int64_t{7});
    QCOMPARE(w.mix.tenants[0].priority, std::optional<int>(2));
    QVERIFY(w.mix.models[1].where.find("workload.json:5: /mix/models/1/model") == 0);
}

void TestLoadtestWorkload::problemsNameFileLineAndField_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("message");
    const QString head = QStringLiteral("{\n  \"duration_s\": 10,\n");
    const QString mix = QStringLiteral("  \"mix\": {\"models\": [\"gpt-4o-mini\"]}\n}");
    QTest::newRow("negative rate") << head + QStringLiteral("  \"arrival\": {\"process\": \"constant\",\n    \"rate\": -1},\n") + mix
                                   << "workload.json:4: /arrival/rate: must be between 0 and 1000000 (got -1)";
    QTest::newRow("unknown process") << head + QStringLiteral("  \"arrival\": {\"process\": \"gaussian\", \"rate\": 1},\n") + mix
                                     << "workload.json:3: /arrival/process: must be one of";
    QTest::newRow("misspelt field") << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"modles\": [\"m\"]}\n}")
                                    << "workload.json:4: /mix/modles: unknown field";
    QTest::newRow("no duration") << QStringLiteral("{\"arrival\": {\"process\": \"poisson\", \"rate\": 1}, \"mix\": {\"models\": [\"m\"]}}")
                                 << "workload.json:1: (top level): missing \"duration_s\"";
    QTest::newRow("ramp needs to") << head + QStringLiteral("  \"arrival\": {\"process\": \"ramp\", \"from\": 1},\n") + mix
                                   << "workload.json:3: /arrival: missing \"to\"";
    QTest::newRow("steps out of order")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"step\", \"steps\": [\n    {\"at_s\": 5, \"rate\": 1},\n    {\"at_s\": 2, \"rate\": 3}]},\n") + mix
        << "workload.json:5: /arrival/steps/1/at_s: steps must be in order";
    QTest::newRow("burst and spike at once")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"spike\", \"rate\": 1, \"spikes\": [{\"at_s\": 1, \"count\": 5, \"rate\": 2}]},\n") + mix
        << "/arrival/spikes/0: a burst has \"count\"";
    QTest::newRow("bad distribution")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"models\": [\"m\"],\n    \"prompt_tokens\": {\"dist\": \"zipf\"}}\n}")
        << "workload.json:5: /mix/prompt_tokens/dist: must be \"fixed\", \"uniform\", \"normal\" or \"lognormal\"";
    QTest::newRow("uniform without max")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"models\": [\"m\"], \"max_tokens\": {\"dist\": \"uniform\", \"min\": 5}}\n}")
        << "/mix/max_tokens: \"uniform\" needs \"max\"";
    QTest::newRow("stream share above 1")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"models\": [\"m\"], \"stream_share\": 1.5}\n}")
        << "workload.json:4: /mix/stream_share: must be between 0 and 1";
    QTest::newRow("stage after a later stage")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"models\": [\"m\"]},\n  \"pipeline\": {\"stages\": [\n    {\"name\": \"a\", \"after\": \"b\"},\n    {\"name\": \"b\"}]}\n}")
        << "workload.json:6: /pipeline/stages/0/after: \"b\" is not an earlier stage";
    QTest::newRow("duplicate stage")
        << head + QStringLiteral("  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n  \"mix\": {\"models\": [\"m\"]},\n  \"pipeline\": {\"stages\": [{\"name\": \"a\"},\n    {\"name\": \"a\"}]}\n}")
        << "workload.json:6: /pipeline/stages/1/name: duplicate stage name \"a\"";
    QTest::newRow("syntax error") << QStringLiteral("{\n  \"duration_s\": 10,\n  \"arrival\": {\"rate\": }\n}")
                                  << "workload.json:3:";
    QTest::newRow("replay file missing")
        << head + QStringLiteral("  \"replay\": {\"file\": \"/nonexistent/requests.jsonl\"},\n  \"arrival\": {\"process\": \"poisson\", \"rate\": 1}\n}")
        << "workload.json:3: /replay/file: cannot open /nonexistent/requests.jsonl";
    QTest::newRow("mix with a replay")
        << head + QStringLiteral("  \"replay\": {\"file\": \"/nonexistent/r.jsonl\"},\n  \"arrival\": {\"process\": \"poisson\", \"rate\": 1},\n") + mix
        << "/mix: a replay takes its requests from the file";
}

void TestLoadtestWorkload::problemsNameFileLineAndField()
{
    QFETCH(QString, text);
    QFETCH(QString, message);
    const std::string got = problemsOf(text.toStdString());
    QVERIFY2(got.find(message.toStdString()) != std::string::npos, got.c_str());
}

void TestLoadtestWorkload::everyProblemAtOnce()
{
    const std::string got = problemsOf(R"({"duration_s": -1, "arrival": {"process": "poisson", "rate": "fast"},
        "mix": {"models": [], "stream_share": 2}, "extra": 1})");
    QVERIFY2(got.find("5 problems in workload.json") == 0, got.c_str());
    for (const char* part : {"/duration_s", "/arrival/rate", "/mix/models", "/mix/stream_share", "/extra"}) {
        QVERIFY2(got.find(part) != std::string::npos, part);
    }
}

void TestLoadtestWorkload::replayProblemsNameTheirLine_data()
{
    QTest::addColumn<QString>("format");
    QTest::addColumn<QString>("timing");
    QTest::addColumn<QString>("lines");
    QTest::addColumn<QString>("message");
    const QString good = QStringLiteral(
        R"({"custom_id":"a","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]},"at_s":0})");
    QTest::newRow("batch line without body") << "batch" << "recorded"
                                             << good + QStringLiteral("\n{\"custom_id\":\"b\",\"url\":\"/v1/chat/completions\",\"at_s\":1}\n")
                                             << "requests.jsonl:2: body: required";
    QTest::newRow("batch line without time") << "batch" << "recorded"
                                             << good + QStringLiteral("\n") +
                                                    QString(good).replace(QStringLiteral("\"a\""), QStringLiteral("\"b\"")).replace(QStringLiteral(",\"at_s\":0"), QString())
                                             << "requests.jsonl:2: at_s or at: required for \"timing\": \"recorded\"";
    QTest::newRow("usage without tokens") << "usage" << "recorded"
                                          << QStringLiteral("{\"at_s\":0,\"model\":\"gpt-4o-mini\",\"input_tokens\":5,\"output_tokens\":5}\n\n{\"at_s\":1,\"model\":\"gpt-4o-mini\"}\n")
                                          << "requests.jsonl:3: input_tokens: required";
    QTest::newRow("usage with a bad time") << "usage" << "recorded"
                                           << QStringLiteral("{\"at\":\"yesterday\",\"model\":\"m\",\"input_tokens\":5,\"output_tokens\":5}\n")
                                           << "requests.jsonl:1: at: must be an RFC 3339 time";
    QTest::newRow("not JSON") << "usage" << "arrival" << QStringLiteral("{\"model\":\"m\"\n") << "requests.jsonl:1: must be a JSON object";
}

void TestLoadtestWorkload::replayProblemsNameTheirLine()
{
    QFETCH(QString, format);
    QFETCH(QString, timing);
    QFETCH(QString, lines);
    QFETCH(QString, message);
    QTemporaryDir dir;
    std::ofstream(dir.filePath(QStringLiteral("requests.jsonl")).toStdString()) << lines.toStdString();
    const json doc = {{"replay", {{"file", "requests.jsonl"}, {"format", format.toStdString()}, {"timing", timing.toStdString()}}},
                      {"duration_s", 10}};
    json withArrival = doc;
    if (timing == QStringLiteral("arrival")) {
        withArrival["arrival"] = {{"process", "constant"}, {"rate", 1}};
    }
    const std::string got = problemsOf(withArrival.dump(), dir.path().toStdString());
    QVERIFY2(got.find(message.toStdString()) != std::string::npos, got.c_str());
    QVERIFY2(got.find(dir.path().toStdString()) != std::string::npos, got.c_str());  // the replay file's own path
}

void TestLoadtestWorkload::replaysABatchFile()
{
    QTemporaryDir dir;
    std::ofstream(dir.filePath(QStringLiteral("requests.jsonl")).toStdString())
        << R"({"custom_id":"first","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]},"tenant":"t1"})"
        << "\n"
        << R"({"custom_id":"second","url":"/v1/messages","body":{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}})"
        << "\n";
    Workload w = parse(R"({"duration_s": 10, "replay": {"file": "requests.jsonl", "loop": true},
                          "arrival": {"process": "constant", "rate": 1}})",
                       dir.path().toStdString());
    const Config c = testConfig();
    bindToConfig(w, c, [&](const JobSpec& j) { return routable(c, j); });
    const RequestFactory f(w);
    QCOMPARE(f.replayCall(0).customId, std::string("first"));
    QCOMPARE(f.replayCall(0).tenant, std::string("t1"));
    QCOMPARE(f.replayCall(1).flavor, ApiFlavor::Anthropic);
    QCOMPARE(f.replayCall(2).customId, std::string("first#2"));  // looping: ids stay unique
    QCOMPARE(estimateWorkload(w, c).requests, std::uint64_t{10});
    w.replay->loop = false;
    QCOMPARE(estimateWorkload(w, c).requests, std::uint64_t{2});
}

void TestLoadtestWorkload::bindingNamesTheModelsLine()
{
    Workload w = parse("{\n\"duration_s\": 5,\n\"arrival\": {\"process\": \"constant\", \"rate\": 1},\n"
                       "\"mix\": {\"models\": [\"gpt-4o-mini\",\n  \"mystery-model\"]}\n}");
    const Config c = testConfig();
    try {
        bindToConfig(w, c, [&](const JobSpec& j) { return routable(c, j); });
        QFAIL("bound a model no provider serves");
    } catch (const InputError& e) {
        const std::string got = e.what();
        QVERIFY2(got.find("workload.json:5: /mix/models/1: no provider in config.json serves model \"mystery-model\"") !=
                     std::string::npos,
                 got.c_str());
    }
    Workload ok = parse(kPipeline);
    bindToConfig(ok, c, [&](const JobSpec& j) { return routable(c, j); });
    QCOMPARE(ok.mix.models[1].flavor, std::optional<ApiFlavor>(ApiFlavor::Anthropic));
    QCOMPARE(ok.pipeline->stages[3].mix.models[0].flavor, std::optional<ApiFlavor>(ApiFlavor::OpenAI));
}

void TestLoadtestWorkload::requestsAreDeterministic()
{
    Workload w = parse(kPipeline);
    const Config c = testConfig();
    bindToConfig(w, c, [&](const JobSpec& j) { return routable(c, j); });
    const RequestFactory f(w);
    QCOMPARE(f.stageCall(3, 1, 2).body, f.stageCall(3, 1, 2).body);
    QCOMPARE(f.stageCall(3, 1, 2).customId, std::string("p3.section.2"));
    // The tenant belongs to the pipeline: every call of arrival 3 has it.
    const std::string tenant = f.stageCall(3, 0, 0).tenant;
    for (std::size_t s = 0; s < 4; ++s) {
        QCOMPARE(f.stageCall(3, s, 0).tenant, tenant);
    }
    std::set<std::string> tenants;
    std::set<std::string> models;
    for (std::uint64_t a = 0; a < 200; ++a) {
        tenants.insert(f.stageCall(a, 0, 0).tenant);
        models.insert(f.stageCall(a, 0, 0).body["model"].get<std::string>());
    }
    QCOMPARE(tenants, (std::set<std::string>{"a", "b"}));
    QCOMPARE(models, (std::set<std::string>{"gpt-4o-mini", "claude-haiku-4-5"}));
}

void TestLoadtestWorkload::promptsHaveTheDrawnSize()
{
    Workload w = parse(kPipeline);
    const Config c = testConfig();
    bindToConfig(w, c, [&](const JobSpec& j) { return routable(c, j); });
    const RequestFactory f(w);
    for (std::uint64_t a = 0; a < 50; ++a) {
        const RequestDraw d = f.draw(w.mix, a, 0, 0);
        QVERIFY(d.promptTokens >= 50 && d.promptTokens <= 150);
        const JobSpec job = f.build(d, "x", {});
        // What Sluice (and the mock) will estimate for the prompt is what was drawn.
        QCOMPARE(estimatePromptTokens(job.flavor, job.body), d.promptTokens);
    }
}

void TestLoadtestWorkload::estimateCountsWhatWillBeSent()
{
    Workload w = parse(R"({"duration_s": 10, "arrival": {"process": "constant", "rate": 2},
                           "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 100, "max_tokens": 50}})");
    const Config c = testConfig();
    bindToConfig(w, c, [&](const JobSpec& j) { return routable(c, j); });
    const WorkloadEstimate e = estimateWorkload(w, c);
    QCOMPARE(e.arrivals, std::uint64_t{20});
    QCOMPARE(e.requests, std::uint64_t{20});
    QCOMPARE(e.inputTokens, std::int64_t{2000});
    QCOMPARE(e.maxOutputTokens, std::int64_t{1000});
    QCOMPARE(e.costMicroUsd, 20 * *c.pricing.microUsd("gpt-4o-mini", TokenUsage{100, 50, 0, 0}));
    QVERIFY(e.unpricedModels.empty());
    Workload p = parse(kPipeline);
    bindToConfig(p, c, [&](const JobSpec& j) { return routable(c, j); });
    QCOMPARE(estimateWorkload(p, c).requests, std::uint64_t{10 * 7});
}

QTEST_APPLESS_MAIN(TestLoadtestWorkload)
#include "tst_loadtest_workload.moc"
