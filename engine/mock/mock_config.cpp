#include "mock/mock_config.h"

#include "core/json_source.h"
#include "core/timefmt.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace sluice::mock {

namespace {

using Json = nlohmann::json;
// Insertion-ordered, so GET /mock/config reads in the documented order.
using OJson = nlohmann::ordered_json;

constexpr std::int64_t kMaxCount = 1'000'000'000'000;  // far above any real limit

// Where a document came from: a file (with line numbers) or a patch.
struct Origin {
    std::string_view name;
    const JsonSource* source = nullptr;

    [[noreturn]] void fail(const std::string& pointer, const std::string& problem) const
    {
        if (source != nullptr) {
            throw ConfigError(source->describe(pointer, problem));
        }
        throw ConfigError(std::string(name) + ": " + (pointer.empty() ? std::string("(top level)") : pointer) +
                          ": " + problem);
    }
};

// Reads one JSON object, remembering the members it used so that the rest
// can be reported as unknown (a misspelt field must not pass silently).
class ObjectReader {
public:
    ObjectReader(const Origin& origin, const Json& value, std::string path)
        : m_origin(origin), m_value(value), m_path(std::move(path))
    {
        if (!m_value.is_object()) {
            fail(m_path, "must be a JSON object (got " + m_value.dump() + ")");
        }
    }

    [[noreturn]] void fail(const std::string& path, const std::string& problem) const { m_origin.fail(path, problem); }

    std::string pathOf(std::string_view name) const { return jsonPointerAppend(m_path, name); }
    const Origin& origin() const { return m_origin; }

    const Json* get(std::string_view name)
    {
        const auto it = m_value.find(std::string(name));
        if (it == m_value.end()) {
            return nullptr;
        }
        m_used.insert(std::string(name));
        return &*it;
    }

    void integer(std::string_view name, std::int64_t& out, std::int64_t min = 0, std::int64_t max = kMaxCount)
    {
        if (const Json* v = get(name)) {
            if (!v->is_number_integer() || v->get<std::int64_t>() < min || v->get<std::int64_t>() > max) {
                fail(pathOf(name), "must be a whole number from " + std::to_string(min) + " to " +
                                       std::to_string(max) + " (got " + v->dump() + ")");
            }
            out = v->get<std::int64_t>();
        }
    }

    void optionalInteger(std::string_view name, std::optional<std::int64_t>& out)
    {
        if (get(name) != nullptr) {
            std::int64_t v = 0;
            integer(name, v);
            out = v;
        }
    }

    void number(std::string_view name, double& out, double min, double max)
    {
        if (const Json* v = get(name)) {
            if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < min ||
                v->get<double>() > max) {
                char range[96];
                std::snprintf(range, sizeof range, "must be a number from %g to %g", min, max);
                fail(pathOf(name), std::string(range) + " (got " + v->dump() + ")");
            }
            out = v->get<double>();
        }
    }

    void boolean(std::string_view name, bool& out)
    {
        if (const Json* v = get(name)) {
            if (!v->is_boolean()) {
                fail(pathOf(name), "must be true or false (got " + v->dump() + ")");
            }
            out = v->get<bool>();
        }
    }

    void string(std::string_view name, std::string& out)
    {
        if (const Json* v = get(name)) {
            if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
                fail(pathOf(name), "must be a non-empty string (got " + v->dump() + ")");
            }
            out = v->get<std::string>();
        }
    }

    // A Go-style duration from 1ms to 1m: "1s", "100ms", "1m0s".
    void granularity(std::string_view name, std::optional<Duration>& out)
    {
        if (const Json* v = get(name)) {
            const auto d = v->is_string() ? parseGoDuration(v->get<std::string>()) : std::nullopt;
            if (!d || *d < std::chrono::milliseconds(1) || *d > std::chrono::minutes(1)) {
                fail(pathOf(name), "must be a duration from \"1ms\" to \"1m\", such as \"1s\" (got " + v->dump() + ")");
            }
            out = *d;
        }
    }

    template <typename Enum, std::size_t N>
    void choice(std::string_view name, Enum& out, const std::array<std::pair<std::string_view, Enum>, N>& options)
    {
        if (const Json* v = get(name)) {
            if (v->is_string()) {
                for (const auto& [text, value] : options) {
                    if (v->get_ref<const std::string&>() == text) {
                        out = value;
                        return;
                    }
                }
            }
            std::string allowed;
            for (const auto& [text, value] : options) {
                allowed += (allowed.empty() ? "\"" : ", \"") + std::string(text) + "\"";
            }
            fail(pathOf(name), "must be one of " + allowed + " (got " + v->dump() + ")");
        }
    }

    // Call last: fails on the first member nobody asked for.
    void finish() const
    {
        for (const auto& [name, value] : m_value.items()) {
            if (m_used.count(name) == 0) {
                fail(pathOf(name), "unknown field");
            }
        }
    }

private:
    const Origin& m_origin;
    const Json& m_value;
    std::string m_path;
    std::set<std::string> m_used;
};

constexpr std::array<std::pair<std::string_view, Flavour>, 2> kFlavours{
    {{"openai", Flavour::OpenAI}, {"anthropic", Flavour::Anthropic}}};
constexpr std::array<std::pair<std::string_view, PromptCounting>, 3> kPromptCountings{
    {{"chars/4", PromptCounting::Estimate},
     {"o200k_base", PromptCounting::O200kBase},
     {"cl100k_base", PromptCounting::Cl100kBase}}};
constexpr std::array<std::pair<std::string_view, Enforcement>, 3> kEnforcement{
    {{"bucket", Enforcement::Bucket},
     {"sliding_window", Enforcement::SlidingWindow},
     {"fixed_window", Enforcement::FixedWindow}}};
constexpr std::array<std::pair<std::string_view, OutputCharging>, 2> kCharging{
    {{"reserve", OutputCharging::ReserveThenCorrect}, {"actual", OutputCharging::ActualOnly}}};
constexpr std::array<std::pair<std::string_view, TokenCharging>, 3> kTokenCharging{
    {{"arrival", TokenCharging::OnArrival},
     {"refund", TokenCharging::Refunded},
     {"completion", TokenCharging::OnCompletion}}};
constexpr std::array<std::pair<std::string_view, DistributionKind>, 3> kDistributions{
    {{"fixed", DistributionKind::Fixed}, {"uniform", DistributionKind::Uniform}, {"lognormal", DistributionKind::LogNormal}}};

template <typename Enum, std::size_t N>
std::string_view nameOf(Enum value, const std::array<std::pair<std::string_view, Enum>, N>& options) noexcept
{
    for (const auto& [text, v] : options) {
        if (v == value) {
            return text;
        }
    }
    return "?";
}

LimitOverride readLimits(ObjectReader& parent, std::string_view name)
{
    LimitOverride out;
    const Json* v = parent.get(name);
    if (v == nullptr) {
        return out;
    }
    ObjectReader r(parent.origin(), *v, parent.pathOf(name));
    r.optionalInteger("rpm", out.requestsPerMinute);
    r.optionalInteger("tpm", out.tokensPerMinute);
    r.optionalInteger("itpm", out.inputTokensPerMinute);
    r.optionalInteger("otpm", out.outputTokensPerMinute);
    r.optionalInteger("rpd", out.requestsPerDay);
    r.granularity("granularity", out.granularity);
    if (r.get("outputCharging") != nullptr) {
        OutputCharging c = OutputCharging::ReserveThenCorrect;
        r.choice("outputCharging", c, kCharging);
        out.outputCharging = c;
    }
    if (r.get("tokensCharging") != nullptr) {
        TokenCharging c = TokenCharging::OnArrival;
        r.choice("tokensCharging", c, kTokenCharging);
        out.tokenCharging = c;
    }
    if (r.get("enforcement") != nullptr) {
        Enforcement e = Enforcement::Bucket;
        r.choice("enforcement", e, kEnforcement);
        out.enforcement = e;
    }
    if (const Json* a = r.get("acceleration")) {
        ObjectReader ar(r.origin(), *a, r.pathOf("acceleration"));
        Acceleration acc;
        const auto span = [&ar](std::string_view field, Duration& d) {
            const Json* value = ar.get(field);
            if (value == nullptr) {
                ar.fail(ar.pathOf(field), "is required: a duration from \"1s\" to \"1h\", such as \"60s\"");
            }
            const auto parsed = value->is_string() ? parseGoDuration(value->get<std::string>()) : std::nullopt;
            if (!parsed || *parsed < std::chrono::seconds(1) || *parsed > std::chrono::hours(1)) {
                ar.fail(ar.pathOf(field), "must be a duration from \"1s\" to \"1h\", such as \"60s\" (got " +
                                              value->dump() + ")");
            }
            d = *parsed;
        };
        span("idle", acc.idle);
        span("ramp", acc.ramp);
        acc.start = 0.25;
        ar.number("start", acc.start, 0.01, 0.99);
        ar.finish();
        out.acceleration = acc;
    }
    r.finish();
    return out;
}

MockModel readModel(const Origin& origin, const Json& v, const std::string& path)
{
    MockModel m;
    ObjectReader r(origin, v, path);
    if (r.get("flavor") == nullptr) {
        r.fail(r.pathOf("flavor"), "is required: \"openai\" or \"anthropic\"");
    }
    r.choice("flavor", m.flavour, kFlavours);
    r.integer("maxOutputTokens", m.maxOutputTokens, 1, 10'000'000);
    r.choice("tokenizer", m.promptCounting, kPromptCountings);
    m.limits = readLimits(r, "limits").applyTo(RateLimits{});
    r.finish();
    return m;
}

MockKey readKey(const Origin& origin, const Json& v, const std::string& path,
                  const std::map<std::string, MockModel>& models)
{
    MockKey k;
    ObjectReader r(origin, v, path);
    r.boolean("disabled", k.disabled);
    r.boolean("quotaExhausted", k.quotaExhausted);
    r.integer("quotaTokens", k.quotaTokens);
    if (const Json* list = r.get("models")) {
        if (!list->is_array()) {
            r.fail(r.pathOf("models"), "must be an array of model names (got " + list->dump() + ")");
        }
        for (std::size_t i = 0; i < list->size(); ++i) {
            const Json& item = (*list)[i];
            const std::string itemPath = r.pathOf("models") + "/" + std::to_string(i);
            if (!item.is_string() || models.count(item.get<std::string>()) == 0) {
                r.fail(itemPath, "must name a configured model (got " + item.dump() + ")");
            }
            k.models.push_back(item.get<std::string>());
        }
    }
    if (const Json* limits = r.get("limits")) {
        ObjectReader lr(origin, *limits, r.pathOf("limits"));
        for (const auto& [model, value] : limits->items()) {
            if (models.count(model) == 0) {
                lr.fail(lr.pathOf(model), "not a configured model");
            }
            k.limits[model] = readLimits(lr, model);
        }
        lr.finish();
    }
    r.finish();
    return k;
}

void readLatency(const Origin& origin, const Json& latency, MockConfig& c)
{
    ObjectReader lr(origin, latency, "/latency");
    lr.number("baseMs", c.latency.baseMs, 0, 3'600'000);
    lr.number("perOutputTokenMs", c.latency.perOutputTokenMs, 0, 60'000);
    lr.number("firstTokenMs", c.latency.firstTokenMs, 0, 3'600'000);
    lr.choice("jitter", c.latency.jitter, kDistributions);
    lr.number("spread", c.latency.spread, 0, c.latency.jitter == DistributionKind::Uniform ? 1 : 5);
    if (const Json* knee = lr.get("knee")) {
        ObjectReader kr(origin, *knee, "/latency/knee");
        kr.integer("inFlight", c.latency.knee.inFlight, 0, 1'000'000);
        kr.number("perExtraMs", c.latency.knee.perExtraMs, 0, 3'600'000);
        kr.finish();
    }
    lr.finish();
}

void readOutput(const Origin& origin, const Json& output, MockConfig& c)
{
    ObjectReader orr(origin, output, "/output");
    orr.choice("distribution", c.output.distribution, kDistributions);
    orr.integer("min", c.output.min, 0, 10'000'000);
    orr.integer("max", c.output.max, 0, 10'000'000);
    orr.number("mean", c.output.mean, 0, 1e7);
    orr.number("sigma", c.output.sigma, 0, 5);
    orr.finish();
    if (c.output.max < c.output.min) {
        orr.fail("/output/max", "must be at least /output/min (" + std::to_string(c.output.min) + ")");
    }
}

void readFaults(const Origin& origin, const Json& faults, MockConfig& c)
{
    ObjectReader fr(origin, faults, "/faults");
    double sum = 0;
    for (std::size_t i = 1; i < kFaultCount; ++i) {
        const auto f = static_cast<Fault>(i);
        fr.number(faultName(f), c.faults[f], 0, 1);
        sum += c.faults[f];
    }
    fr.finish();
    if (sum > 1.0 + 1e-9) {
        char total[32];
        std::snprintf(total, sizeof total, "%g", sum);
        fr.fail("/faults", "rates add up to " + std::string(total) + "; they must add up to at most 1");
    }
}

MockConfig readConfig(const Origin& origin, const Json& doc)
{
    MockConfig c = MockConfig::defaults();
    ObjectReader r(origin, doc, "");
    if (const Json* listen = r.get("listen")) {
        const std::string text = listen->is_string() ? listen->get<std::string>() : listen->dump();
        if (const auto problem = listenProblem(text, c.host, c.port); problem || !listen->is_string()) {
            r.fail("/listen", problem.value_or("must be a string") + " (got " + listen->dump() + ")");
        }
    }
    std::int64_t threads = c.ioThreads;
    r.integer("ioThreads", threads, 1, 64);
    c.ioThreads = static_cast<int>(threads);
    std::int64_t maxBody = static_cast<std::int64_t>(c.maxBodyBytes);
    r.integer("maxBodyBytes", maxBody, 1024, std::int64_t{1} << 30);
    c.maxBodyBytes = static_cast<std::size_t>(maxBody);
    if (const Json* seed = r.get("seed")) {
        if (!seed->is_number_unsigned()) {
            r.fail("/seed", "must be a whole number >= 0 (got " + seed->dump() + ")");
        }
        c.seed = seed->get<std::uint64_t>();
    }
    r.string("organization", c.organization);
    r.boolean("limitsEnabled", c.limitsEnabled);
    r.boolean("retryAfterMs", c.retryAfterMs);
    r.boolean("rateLimitHeaders", c.rateLimitHeaders);

    if (const Json* models = r.get("models")) {
        ObjectReader mr(origin, *models, "/models");
        c.models.clear();
        for (const auto& [name, value] : models->items()) {
            mr.get(name);
            c.models[name] = readModel(origin, value, mr.pathOf(name));
        }
    }
    if (const Json* keys = r.get("keys")) {
        ObjectReader kr(origin, *keys, "/keys");
        c.keys.clear();
        for (const auto& [key, value] : keys->items()) {
            kr.get(key);
            c.keys[key] = readKey(origin, value, kr.pathOf(key), c.models);
        }
    } else {
        // The stock key stays; drop what it says about models that are gone.
        for (auto& [key, k] : c.keys) {
            std::erase_if(k.models, [&](const std::string& m) { return c.models.count(m) == 0; });
            std::erase_if(k.limits, [&](const auto& entry) { return c.models.count(entry.first) == 0; });
        }
    }

    if (const Json* latency = r.get("latency")) {
        readLatency(origin, *latency, c);
    }
    if (const Json* output = r.get("output")) {
        readOutput(origin, *output, c);
    }
    if (const Json* faults = r.get("faults")) {
        readFaults(origin, *faults, c);
    }
    r.finish();
    return c;
}

JsonSource parseSource(std::string_view text, std::string_view name)
{
    try {
        return JsonSource(std::string(name), std::string(text));
    } catch (const InputError& e) {
        throw ConfigError(e.what());
    }
}

OJson limitsJson(const LimitOverride& o)
{
    OJson j = OJson::object();
    const auto put = [&j](const char* name, const std::optional<std::int64_t>& v) {
        if (v) {
            j[name] = *v;
        }
    };
    put("rpm", o.requestsPerMinute);
    put("tpm", o.tokensPerMinute);
    put("itpm", o.inputTokensPerMinute);
    put("otpm", o.outputTokensPerMinute);
    put("rpd", o.requestsPerDay);
    if (o.granularity) {
        j["granularity"] = formatGoDuration(*o.granularity);
    }
    if (o.outputCharging) {
        j["outputCharging"] = std::string(nameOf(*o.outputCharging, kCharging));
    }
    if (o.enforcement) {
        j["enforcement"] = std::string(nameOf(*o.enforcement, kEnforcement));
    }
    if (o.tokenCharging) {
        j["tokensCharging"] = std::string(nameOf(*o.tokenCharging, kTokenCharging));
    }
    if (o.acceleration && o.acceleration->enabled()) {
        j["acceleration"] = OJson{{"idle", formatGoDuration(o.acceleration->idle)},
                                  {"ramp", formatGoDuration(o.acceleration->ramp)},
                                  {"start", o.acceleration->start}};
    }
    return j;
}

OJson toJsonValue(const MockConfig& c)
{
    OJson j = OJson::object();
    j["listen"] = (c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host) + ":" + std::to_string(c.port);
    j["ioThreads"] = c.ioThreads;
    j["maxBodyBytes"] = c.maxBodyBytes;
    j["seed"] = c.seed;
    j["organization"] = c.organization;
    j["limitsEnabled"] = c.limitsEnabled;
    j["retryAfterMs"] = c.retryAfterMs;
    j["rateLimitHeaders"] = c.rateLimitHeaders;
    OJson models = OJson::object();
    for (const auto& [name, m] : c.models) {
        const RateLimits& l = m.limits;
        const LimitOverride full{l.requestsPerMinute, l.tokensPerMinute, l.inputTokensPerMinute,
                                 l.outputTokensPerMinute, l.requestsPerDay, l.granularity, l.outputCharging,
                                 l.enforcement, l.acceleration, l.tokenCharging};
        models[name] = OJson{{"flavor", std::string(flavourName(m.flavour))},
                            {"maxOutputTokens", m.maxOutputTokens},
                            {"tokenizer", std::string(promptCountingName(m.promptCounting))},
                            {"limits", limitsJson(full)}};
    }
    j["models"] = std::move(models);
    OJson keys = OJson::object();
    for (const auto& [key, k] : c.keys) {
        OJson limits = OJson::object();
        for (const auto& [model, o] : k.limits) {
            limits[model] = limitsJson(o);
        }
        keys[key] = OJson{{"disabled", k.disabled},   {"quotaExhausted", k.quotaExhausted},
                         {"quotaTokens", k.quotaTokens}, {"models", k.models},
                         {"limits", std::move(limits)}};
    }
    j["keys"] = std::move(keys);
    j["latency"] = OJson{{"baseMs", c.latency.baseMs},
                        {"perOutputTokenMs", c.latency.perOutputTokenMs},
                        {"firstTokenMs", c.latency.firstTokenMs},
                        {"jitter", std::string(distributionName(c.latency.jitter))},
                        {"spread", c.latency.spread},
                        {"knee", OJson{{"inFlight", c.latency.knee.inFlight}, {"perExtraMs", c.latency.knee.perExtraMs}}}};
    j["output"] = OJson{{"distribution", std::string(distributionName(c.output.distribution))},
                       {"min", c.output.min},
                       {"max", c.output.max},
                       {"mean", c.output.mean},
                       {"sigma", c.output.sigma}};
    OJson faults = OJson::object();
    for (std::size_t i = 1; i < kFaultCount; ++i) {
        const auto f = static_cast<Fault>(i);
        faults[std::string(faultName(f))] = c.faults[f];
    }
    j["faults"] = std::move(faults);
    return j;
}

}  // namespace

std::optional<std::string> listenProblem(std::string_view text, std::string& host, std::uint16_t& port)
{
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        return "must be HOST:PORT, such as 127.0.0.1:8080 (port 0 picks a free one)";
    }
    std::string_view h = text.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
        h = h.substr(1, h.size() - 2);
    }
    if (h.empty()) {
        return "names no host";
    }
    std::uint32_t p = 0;
    for (char c : text.substr(colon + 1)) {
        p = p * 10 + static_cast<std::uint32_t>(c - '0');
        if (c < '0' || c > '9' || p > 65535) {
            return "the port must be a number from 0 to 65535";
        }
    }
    host = std::string(h);
    port = static_cast<std::uint16_t>(p);
    return std::nullopt;
}

std::string_view flavourName(Flavour f) noexcept
{
    return nameOf(f, kFlavours);
}

std::string_view promptCountingName(PromptCounting c) noexcept
{
    return nameOf(c, kPromptCountings);
}

std::string_view distributionName(DistributionKind k) noexcept
{
    return nameOf(k, kDistributions);
}

std::string_view faultName(Fault f) noexcept
{
    switch (f) {
    case Fault::None: return "none";
    case Fault::Http500: return "http500";
    case Fault::Http503: return "http503";
    case Fault::Http529: return "http529";
    case Fault::ConnectionReset: return "connectionReset";
    case Fault::Stall: return "stall";
    case Fault::MalformedJson: return "malformedJson";
    case Fault::SseError: return "sseError";
    case Fault::StreamCut: return "streamCut";
    case Fault::MissingRateLimitHeaders: return "missingRateLimitHeaders";
    case Fault::AzureMinusOne: return "azureMinusOne";
    }
    return "?";
}

RateLimits LimitOverride::applyTo(RateLimits base) const
{
    base.requestsPerMinute = requestsPerMinute.value_or(base.requestsPerMinute);
    base.tokensPerMinute = tokensPerMinute.value_or(base.tokensPerMinute);
    base.inputTokensPerMinute = inputTokensPerMinute.value_or(base.inputTokensPerMinute);
    base.outputTokensPerMinute = outputTokensPerMinute.value_or(base.outputTokensPerMinute);
    base.requestsPerDay = requestsPerDay.value_or(base.requestsPerDay);
    base.granularity = granularity.value_or(base.granularity);
    base.outputCharging = outputCharging.value_or(base.outputCharging);
    base.enforcement = enforcement.value_or(base.enforcement);
    base.acceleration = acceleration.value_or(base.acceleration);
    base.tokenCharging = tokenCharging.value_or(base.tokenCharging);
    return base;
}

MockConfig MockConfig::defaults()
{
    MockConfig c;
    c.keys["sk-mock"] = MockKey{};
    const auto openai = [](std::int64_t rpm, std::int64_t tpm) {
        MockModel m;
        m.flavour = Flavour::OpenAI;
        m.limits.requestsPerMinute = rpm;
        m.limits.tokensPerMinute = tpm;
        m.maxOutputTokens = 16'384;
        return m;
    };
    const auto anthropic = [](std::int64_t rpm, std::int64_t itpm, std::int64_t otpm) {
        MockModel m;
        m.flavour = Flavour::Anthropic;
        m.limits.requestsPerMinute = rpm;
        m.limits.inputTokensPerMinute = itpm;
        m.limits.outputTokensPerMinute = otpm;
        m.maxOutputTokens = 64'000;
        return m;
    };
    c.models["gpt-4o"] = openai(500, 30'000);
    c.models["gpt-4o-mini"] = openai(500, 200'000);
    c.models["claude-sonnet-4-5"] = anthropic(50, 30'000, 8'000);
    c.models["claude-haiku-4-5"] = anthropic(50, 50'000, 10'000);
    c.models["text-embedding-3-small"] = openai(3'000, 1'000'000);
    return c;
}

std::optional<RateLimits> MockConfig::limitsFor(const std::string& key, const std::string& model) const
{
    const auto k = keys.find(key);
    const auto m = models.find(model);
    if (k == keys.end() || m == models.end()) {
        return std::nullopt;
    }
    const auto o = k->second.limits.find(model);
    return o == k->second.limits.end() ? m->second.limits : o->second.applyTo(m->second.limits);
}

MockConfig parseMockConfig(std::string_view json, std::string_view source)
{
    const JsonSource doc = parseSource(json, source);
    return readConfig(Origin{source, &doc}, doc.root());
}

MockConfig patchMockConfig(const MockConfig& base, std::string_view patch, std::string_view source)
{
    const JsonSource p = parseSource(patch, source);
    const Origin origin{source, nullptr};  // a merged document has no lines of its own
    if (!p.root().is_object()) {
        origin.fail("", "a patch must be a JSON object (got " + p.root().dump() + ")");
    }
    Json doc = Json::parse(toJsonValue(base).dump());
    doc.merge_patch(p.root());
    return readConfig(origin, doc);
}

std::string toJson(const MockConfig& config, int indent)
{
    return toJsonValue(config).dump(indent);
}

void parseListenAddress(std::string_view text, std::string_view field, std::string& host, std::uint16_t& port)
{
    if (const auto problem = listenProblem(text, host, port)) {
        throw ConfigError(std::string(field) + ": " + *problem + " (got \"" + std::string(text) + "\")");
    }
}

}  // namespace sluice::mock
