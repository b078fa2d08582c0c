#include "config/config.h"

#include "core/json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

namespace sluice {

using nlohmann::json;

namespace {

std::optional<Duration> parseUtcOffset(std::string_view s)
{
    // "+HH:MM" / "-HH:MM" / "Z"
    if (s == "Z" || s == "+00:00" || s == "-00:00") {
        return Duration::zero();
    }
    if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') {
        return std::nullopt;
    }
    const auto digit = [&](std::size_t i) { return s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1; };
    const int h1 = digit(1), h2 = digit(2), m1 = digit(4), m2 = digit(5);
    if (h1 < 0 || h2 < 0 || m1 < 0 || m2 < 0) {
        return std::nullopt;
    }
    const int hours = h1 * 10 + h2;
    const int minutes = m1 * 10 + m2;
    if (hours > 14 || minutes > 59) {
        return std::nullopt;
    }
    const Duration d = std::chrono::hours(hours) + std::chrono::minutes(minutes);
    return s[0] == '-' ? -d : d;
}

// "concurrency": "auto" or {"auto": {"initial": 4, "max": 256}}. Allowed
// only where `out` is given (a provider's or key's limits).
bool readAutoConcurrency(JsonReader& r, const json& obj, std::string_view pointer,
                         std::optional<AutoConcurrency>* out)
{
    const auto it = obj.find("concurrency");
    if (it == obj.end() || !(it->is_string() || it->is_object())) {
        return false;  // absent or a number: an ordinary limit
    }
    const std::string p = jsonPointerAppend(pointer, "concurrency");
    if (out == nullptr) {
        r.problem(p, "\"auto\" is allowed only in a provider's or a key's limits");
        return true;
    }
    AutoConcurrency a;
    if (it->is_string()) {
        if (*it != "auto") {
            r.problem(p, "must be a number, \"auto\" or {\"auto\": {\"initial\": N, \"max\": N}}");
            return true;
        }
    } else {
        r.onlyKnown(*it, p, {"auto"});
        if (const json* o = r.object(*it, p, "auto", true)) {
            const std::string ap = jsonPointerAppend(p, "auto");
            r.onlyKnown(*o, ap, {"initial", "max"});
            a.max = r.integer(*o, ap, "max", 1, 1'000'000).value_or(a.max);
            a.initial = r.integer(*o, ap, "initial", 1, 1'000'000).value_or(std::min(a.initial, a.max));
            if (a.initial > a.max) {
                r.problem(jsonPointerAppend(ap, "initial"), "must not exceed max (" + std::to_string(a.max) + ")");
            }
        }
    }
    *out = a;
    return true;
}

std::vector<LimitSpec> readLimits(JsonReader& r, const json& obj, std::string_view pointer,
                                  std::optional<AutoConcurrency>* autoOut = nullptr)
{
    r.onlyKnown(obj, pointer,
                {"concurrency", "rpm", "tpm", "itpm", "otpm", "rpd", "tpd", "spend_per_minute_usd", "spend_per_day_usd",
                 "granularity_s", "day_utc_offset"});
    std::vector<LimitSpec> out;
    constexpr std::int64_t kMax = std::int64_t{1} << 40;
    const double granularity = r.number(obj, pointer, "granularity_s", 0.001, 60)
                                   .value_or(std::chrono::duration<double>(kDefaultGranularity).count());
    Duration offset = Duration::zero();
    if (auto off = r.string(obj, pointer, "day_utc_offset", false)) {
        if (auto parsed = parseUtcOffset(*off)) {
            offset = *parsed;
        } else {
            r.problem(jsonPointerAppend(pointer, "day_utc_offset"), "must look like \"-08:00\" or \"Z\"");
        }
    }
    // A limit of 0 would admit nothing: every request would become a dead
    // letter. Say so here; a limit that should not apply is left out.
    const auto zero = [&](const char* field) {
        const auto it = obj.find(field);
        if (it != obj.end() && it->is_number() && it->get<double>() == 0) {
            r.problem(jsonPointerAppend(pointer, field),
                      "must be more than 0 (0 would refuse every request; leave the field out for no limit)");
            return true;
        }
        return false;
    };
    const auto limitField = [&](const char* field) -> std::optional<std::int64_t> {
        if (zero(field)) {
            return std::nullopt;
        }
        return r.integer(obj, pointer, field, 1, kMax);
    };
    if (readAutoConcurrency(r, obj, pointer, autoOut)) {
        if (autoOut != nullptr && *autoOut) {
            out.push_back(concurrency((*autoOut)->initial));  // where the controller starts
        }
    } else if (auto c = limitField("concurrency")) {
        out.push_back(concurrency(*c));
    }
    const auto perMinuteLimit = [&](const char* field, Measure m) {
        if (auto v = limitField(field)) {
            out.push_back(perMinute(m, *v, burstFor(*v, secondsToDuration(granularity))));
        }
    };
    perMinuteLimit("rpm", Measure::Requests);
    perMinuteLimit("tpm", Measure::TotalTokens);
    perMinuteLimit("itpm", Measure::InputTokens);
    perMinuteLimit("otpm", Measure::OutputTokens);
    if (auto v = limitField("rpd")) {
        out.push_back(perDay(Measure::Requests, *v, offset));
    }
    if (auto v = limitField("tpd")) {
        out.push_back(perDay(Measure::TotalTokens, *v, offset));
    }
    if (!zero("spend_per_minute_usd")) {
        if (auto v = r.number(obj, pointer, "spend_per_minute_usd", 0, 1e9)) {
            out.push_back(perMinute(Measure::SpendMicroUsd, static_cast<std::int64_t>(std::llround(*v * 1e6))));
        }
    }
    if (!zero("spend_per_day_usd")) {
        if (auto v = r.number(obj, pointer, "spend_per_day_usd", 0, 1e9)) {
            out.push_back(perDay(Measure::SpendMicroUsd, static_cast<std::int64_t>(std::llround(*v * 1e6)), offset));
        }
    }
    return out;
}

std::vector<LimitSpec> limitsField(JsonReader& r, const json& parent, std::string_view pointer,
                                   std::optional<AutoConcurrency>* autoOut = nullptr)
{
    if (const json* l = r.object(parent, pointer, "limits", false)) {
        return readLimits(r, *l, jsonPointerAppend(pointer, "limits"), autoOut);
    }
    return {};
}

// The provider's extra headers: never credentials, which come from keys.
void readHeaders(JsonReader& r, const json& headers, const std::string& p, ProviderConfig& pc)
{
    for (const auto& [name, value] : headers.items()) {
        const std::string hp = jsonPointerAppend(jsonPointerAppend(p, "headers"), name);
        if (!value.is_string()) {
            r.problem(hp, "must be a string");
            continue;
        }
        std::string lower = name;
        for (char& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (lower == "authorization" || lower == "x-api-key" || lower == "api-key") {
            r.problem(hp, "credentials do not belong in the config file; name an environment variable under \"keys\"");
            continue;
        }
        pc.headers.push_back(name + ": " + value.get<std::string>());
    }
}

// "ramp_after_idle": true, false or the ramp's settings.
void readRampAfterIdle(JsonReader& r, const json& ramp, const std::string& rp, ProviderConfig& pc)
{
    if (ramp.is_boolean()) {
        pc.rampAfterIdle = ramp.get<bool>() ? std::optional<IdleRampSettings>(IdleRampSettings{}) : std::nullopt;
    } else if (ramp.is_object()) {
        r.onlyKnown(ramp, rp, {"idle_s", "length_s", "start"});
        IdleRampSettings settings;
        if (auto v = r.number(ramp, rp, "idle_s", 1, 86400)) {
            settings.idle = secondsToDuration(*v);
        }
        if (auto v = r.number(ramp, rp, "length_s", 1, 3600)) {
            settings.length = secondsToDuration(*v);
        }
        if (auto v = r.number(ramp, rp, "start", 0.01, 1)) {
            settings.start = *v;
        }
        pc.rampAfterIdle = settings;
    } else {
        r.problem(rp, "must be true, false or {\"idle_s\", \"length_s\", \"start\"}");
    }
}

// "models": model name → settings.
void readModels(JsonReader& r, const json& models, const std::string& mp, ProviderConfig& pc)
{
    if (!models.is_object()) {
        r.problem(mp, "must be an object of model name → settings");
    } else {
        for (const auto& [name, m] : models.items()) {
            const std::string one = jsonPointerAppend(mp, name);
            if (!m.is_object()) {
                r.problem(one, "must be an object (use {} for defaults)");
                continue;
            }
            r.onlyKnown(m, one, {"limits", "default_max_tokens"});
            ModelConfig mc;
            mc.name = name;
            mc.limits = limitsField(r, m, one);
            mc.defaultMaxTokens = r.integer(m, one, "default_max_tokens", 1, 10'000'000).value_or(4096);
            pc.models.push_back(std::move(mc));
        }
    }
}

// One of "keys": its name (unique in the provider), where its value is,
// its limits.
void readKey(JsonReader& r, const json& k, const std::string& one, const EnvLookup& env,
             std::set<std::string>& keyNames, ProviderConfig& pc)
{
    if (!k.is_object()) {
        r.problem(one, "must be an object with \"name\" and \"env\"");
        return;
    }
    r.onlyKnown(k, one, {"name", "env", "enabled", "limits", "models"});
    KeyConfig kc;
    kc.name = r.string(k, one, "name", true).value_or("");
    if (!kc.name.empty() && !keyNames.insert(kc.name).second) {
        r.problem(jsonPointerAppend(one, "name"), "duplicate key name \"" + kc.name + "\"");
    }
    kc.enabled = r.boolean(k, one, "enabled").value_or(true);
    if (auto e = r.string(k, one, "env", true)) {
        kc.envVar = *e;
        const auto value = env(*e);
        if (!value || value->empty()) {
            r.problem(jsonPointerAppend(one, "env"), "environment variable " + *e + " is not set");
        } else {
            kc.value = Secret(*value);
        }
    }
    kc.limits = limitsField(r, k, one, &kc.autoConcurrency);
    if (const json* km = r.object(k, one, "models", false)) {
        const std::string kmp = jsonPointerAppend(one, "models");
        for (const auto& [name, m] : km->items()) {
            const std::string mp = jsonPointerAppend(kmp, name);
            if (!m.is_object()) {
                r.problem(mp, "must be an object with \"limits\"");
                continue;
            }
            r.onlyKnown(m, mp, {"limits"});
            kc.modelLimits[name] = limitsField(r, m, mp);
        }
    }
    pc.keys.push_back(std::move(kc));
}

// "base_url", checked, without trailing slashes or "/v1".
void readBaseUrl(JsonReader& r, const json& obj, const std::string& p, ProviderConfig& pc)
{
    if (auto url = r.string(obj, p, "base_url", true)) {
        if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
            r.problem(jsonPointerAppend(p, "base_url"), "must start with http:// or https://");
        }
        while (!url->empty() && url->back() == '/') {
            url->pop_back();
        }
        // Requests add "/v1/…"; accept base URLs given with or without it.
        if (url->size() >= 3 && url->compare(url->size() - 3, 3, "/v1") == 0) {
            url->resize(url->size() - 3);
        }
        pc.baseUrl = *url;
    }
}

void readProvider(JsonReader& r, const json& obj, const std::string& p, const EnvLookup& env, Config& cfg,
                  std::set<std::string>& names)
{
    r.onlyKnown(obj, p,
                {"name", "flavor", "base_url", "headers", "anthropic_version", "timeouts", "http2", "learn_limits",
                 "learned_granularity_s", "token_accounting", "ramp_after_idle", "limits", "models", "keys"});
    ProviderConfig pc;
    pc.name = r.string(obj, p, "name", true).value_or("");
    if (!pc.name.empty() && !names.insert(pc.name).second) {
        r.problem(jsonPointerAppend(p, "name"), "duplicate provider name \"" + pc.name + "\"");
    }
    if (auto f = r.string(obj, p, "flavor", true)) {
        if (!parseFlavor(*f, pc.flavor)) {
            r.problem(jsonPointerAppend(p, "flavor"), "must be \"openai\" or \"anthropic\"");
        }
    }
    readBaseUrl(r, obj, p, pc);
    if (const json* h = r.object(obj, p, "headers", false)) {
        readHeaders(r, *h, p, pc);
    }
    if (auto v = r.string(obj, p, "anthropic_version", false)) {
        pc.anthropicVersion = *v;
    }
    if (const json* t = r.object(obj, p, "timeouts", false)) {
        const std::string tp = jsonPointerAppend(p, "timeouts");
        r.onlyKnown(*t, tp, {"connect_s", "total_s"});
        if (auto c = r.number(*t, tp, "connect_s", 0.01, 600)) {
            pc.connectTimeout = secondsToDuration(*c);
        }
        if (auto c = r.number(*t, tp, "total_s", 0.01, 86400)) {
            pc.totalTimeout = secondsToDuration(*c);
        }
    }
    pc.http2 = r.boolean(obj, p, "http2").value_or(true);
    pc.tokenAccounting = defaultTokenAccounting(pc.flavor);
    if (auto ta = r.string(obj, p, "token_accounting", false)) {
        if (*ta == "estimate") {
            pc.tokenAccounting = TokenAccounting::Estimate;
        } else if (*ta == "actual") {
            pc.tokenAccounting = TokenAccounting::Actual;
        } else if (*ta == "learn") {
            pc.tokenAccounting = TokenAccounting::Learn;
        } else {
            r.problem(jsonPointerAppend(p, "token_accounting"), "must be \"estimate\", \"actual\" or \"learn\"");
        }
    }
    pc.learnLimits = r.boolean(obj, p, "learn_limits").value_or(true);
    if (auto g = r.number(obj, p, "learned_granularity_s", 0.001, 60)) {
        pc.learnedGranularity = secondsToDuration(*g);
    }
    if (pc.flavor == ApiFlavor::Anthropic) {
        pc.rampAfterIdle = IdleRampSettings{};
    }
    if (const auto ramp = obj.find("ramp_after_idle"); ramp != obj.end()) {
        readRampAfterIdle(r, *ramp, jsonPointerAppend(p, "ramp_after_idle"), pc);
    }
    pc.limits = limitsField(r, obj, p, &pc.autoConcurrency);
    if (const auto models = obj.find("models"); models != obj.end()) {
        readModels(r, *models, jsonPointerAppend(p, "models"), pc);
    }
    const auto keys = obj.find("keys");
    const std::string kp = jsonPointerAppend(p, "keys");
    if (keys == obj.end() || !keys->is_array() || keys->empty()) {
        r.problem(keys == obj.end() ? std::string_view(p) : std::string_view(kp),
                  "needs a non-empty \"keys\" array (each {\"name\", \"env\"})");
    } else {
        std::set<std::string> keyNames;
        for (std::size_t i = 0; i < keys->size(); ++i) {
            readKey(r, (*keys)[i], jsonPointerAppend(kp, i), env, keyNames, pc);
        }
    }
    cfg.providers.push_back(std::move(pc));
}

}  // namespace

const ModelConfig* ProviderConfig::model(std::string_view modelName) const
{
    for (const auto& m : models) {
        if (m.name == modelName) {
            return &m;
        }
    }
    return nullptr;
}

const ProviderConfig* Config::provider(std::string_view providerName) const
{
    for (const auto& p : providers) {
        if (p.name == providerName && !p.removed) {
            return &p;
        }
    }
    return nullptr;
}

const ProviderConfig* Config::route(ApiFlavor flavor, std::string_view model, std::string_view providerName) const
{
    if (!providerName.empty()) {
        const ProviderConfig* p = provider(providerName);
        return p != nullptr && p->flavor == flavor && p->serves(model) ? p : nullptr;
    }
    // A provider that lists the model wins over one that serves anything.
    for (const auto& p : providers) {
        if (!p.removed && p.flavor == flavor && !p.models.empty() && p.serves(model)) {
            return &p;
        }
    }
    for (const auto& p : providers) {
        if (!p.removed && p.flavor == flavor && p.models.empty()) {
            return &p;
        }
    }
    return nullptr;
}

double Config::tenantWeight(std::string_view tenant) const
{
    const auto it = tenantWeights.find(tenant);
    return it == tenantWeights.end() ? 1.0 : it->second;
}

std::int64_t burstFor(std::int64_t limitPerMinute, Duration granularity)
{
    if (granularity >= std::chrono::minutes(1) || limitPerMinute <= 0) {
        return 0;
    }
    const double perNs = static_cast<double>(limitPerMinute) / 60e9;
    const auto bucket = static_cast<std::int64_t>(std::ceil(perNs * static_cast<double>(granularity.count())));
    const auto jitter = static_cast<std::int64_t>(std::ceil(perNs * static_cast<double>(kArrivalJitterAllowance.count())));
    return std::max<std::int64_t>(1, bucket - jitter);
}

EnvLookup processEnvironment()
{
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) {
            return std::nullopt;
        }
        return std::string(v);
    };
}

std::vector<LimitSpec> parseLimits(const JsonSource& source, std::string_view pointer, std::vector<std::string>& problems)
{
    JsonReader r(source, problems);
    const json& obj = source.root().at(json::json_pointer(std::string(pointer)));
    if (!obj.is_object()) {
        r.problem(pointer, "must be an object");
        return {};
    }
    return readLimits(r, obj, pointer);
}

// "redis://HOST:PORT/DB" (port and database optional); no password in the
// URL, since the file is not the place for one.
static SharedConfig readShared(JsonReader& r, const json& sh, const EnvLookup& env)
{
    SharedConfig out;
    r.onlyKnown(sh, "/shared", {"redis", "namespace", "when_unavailable", "password_env", "queue_lease_s"});
    if (auto url = r.string(sh, "/shared", "redis", true)) {
        static const std::regex re(R"(redis://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(?:/([0-9]{1,2}))?/?)");
        std::smatch m;
        if (url->rfind("rediss://", 0) == 0) {
            // hiredis's TLS half is not linked: say so rather than talk
            // plain text to a server that expects TLS.
            r.problem("/shared/redis", "rediss:// (TLS) is not supported by this build; use redis:// on a trusted "
                                       "network, or a local TLS tunnel (e.g. stunnel) to the server");
        } else if (!std::regex_match(*url, m, re)) {
            r.problem("/shared/redis", "must look like redis://HOST:PORT/DB (no password in the URL: use password_env)");
        } else {
            out.host = m[1].str();
            if (out.host.front() == '[') {
                out.host = out.host.substr(1, out.host.size() - 2);
            }
            out.port = m[2].matched ? std::stoi(m[2].str()) : 6379;
            out.db = m[3].matched ? std::stoi(m[3].str()) : 0;
            if (out.port < 1 || out.port > 65535) {
                r.problem("/shared/redis", "port must be 1-65535");
            }
        }
    }
    if (auto ns = r.string(sh, "/shared", "namespace", true)) {
        static const std::regex nsRe("[A-Za-z0-9._-]{1,64}");
        if (!std::regex_match(*ns, nsRe)) {
            r.problem("/shared/namespace", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
        }
        out.ns = *ns;
    }
    if (auto w = r.string(sh, "/shared", "when_unavailable", false)) {
        if (*w == "local_share") {
            out.whenUnavailable = WhenUnavailable::LocalShare;
        } else if (*w == "stop") {
            out.whenUnavailable = WhenUnavailable::Stop;
        } else {
            r.problem("/shared/when_unavailable", "must be \"local_share\" or \"stop\"");
        }
    }
    if (auto l = r.number(sh, "/shared", "queue_lease_s", 0.05, 3600)) {
        out.queueLease = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*l));
    }
    if (auto e = r.string(sh, "/shared", "password_env", false)) {
        out.passwordEnv = *e;
        const auto value = env(*e);
        if (!value || value->empty()) {
            r.problem("/shared/password_env", "environment variable " + *e + " is not set");
        } else {
            out.password = Secret(*value);
        }
    }
    return out;
}

// "retry": attempts and delays.
static void readRetry(JsonReader& r, const json& retry, Config& cfg)
{
    r.onlyKnown(retry, "/retry", {"max_attempts", "base_delay_s", "max_delay_s", "max_rate_limit_retries", "max_retry_after_s"});
    cfg.retry.maxAttempts = static_cast<int>(r.integer(retry, "/retry", "max_attempts", 1, 100).value_or(cfg.retry.maxAttempts));
    if (auto v = r.number(retry, "/retry", "base_delay_s", 0.001, 3600)) {
        cfg.retry.baseDelay = secondsToDuration(*v);
    }
    if (auto v = r.number(retry, "/retry", "max_delay_s", 0.001, 86400)) {
        cfg.retry.maxDelay = secondsToDuration(*v);
    }
    cfg.retry.maxRateLimitRetries = static_cast<int>(
        r.integer(retry, "/retry", "max_rate_limit_retries", 0, 100000).value_or(cfg.retry.maxRateLimitRetries));
    if (auto v = r.number(retry, "/retry", "max_retry_after_s", 0.001, 86400)) {
        cfg.retry.maxRetryAfter = secondsToDuration(*v);
    }
}

// "defaults": what a request that names none gets.
static void readDefaults(JsonReader& r, const json& defaults, Config& cfg)
{
    r.onlyKnown(defaults, "/defaults", {"tenant", "priority", "deadline_s"});
    cfg.defaults.tenant = r.string(defaults, "/defaults", "tenant", false).value_or(cfg.defaults.tenant);
    cfg.defaults.priority = static_cast<int>(r.integer(defaults, "/defaults", "priority", -1000, 1000).value_or(0));
    if (auto v = r.number(defaults, "/defaults", "deadline_s", 0.001, 365.0 * 86400)) {
        cfg.defaults.deadline = secondsToDuration(*v);
    }
}

// "tenants": each tenant's weight in the fair share.
static void readTenants(JsonReader& r, const json& tenants, Config& cfg)
{
    for (const auto& [name, v] : tenants.items()) {
        const std::string tp = jsonPointerAppend("/tenants", name);
        if (!v.is_object()) {
            r.problem(tp, "must be an object like {\"weight\": 2}");
            continue;
        }
        r.onlyKnown(v, tp, {"weight"});
        cfg.tenantWeights[name] = r.number(v, tp, "weight", 0.001, 1e6).value_or(1.0);
    }
}

Config loadConfig(const JsonSource& src, const EnvLookup& env)
{
    std::vector<std::string> problems;
    JsonReader r(src, problems);
    Config cfg;
    cfg.source = src.name();
    cfg.pricing = PricingTable::builtIn();
    const json& root = src.root();
    if (!root.is_object()) {
        throw InputError(src.describe("", "the configuration must be a JSON object"));
    }
    // "gateway" is read by the gateway's own loader (engine/gateway).
    r.onlyKnown(root, "", {"global", "providers", "retry", "defaults", "tenants", "pricing", "shared", "gateway",
                           "$schema", "comment"});

    if (const json* g = r.object(root, "", "global", false)) {
        r.onlyKnown(*g, "/global", {"limits"});
        cfg.globalLimits = limitsField(r, *g, "/global");
    }
    const auto providers = root.find("providers");
    if (providers == root.end() || !providers->is_array() || providers->empty()) {
        r.problem(providers == root.end() ? "" : "/providers", "needs a non-empty \"providers\" array");
    } else {
        std::set<std::string> names;
        for (std::size_t i = 0; i < providers->size(); ++i) {
            const std::string p = jsonPointerAppend("/providers", i);
            if (!(*providers)[i].is_object()) {
                r.problem(p, "must be an object");
                continue;
            }
            readProvider(r, (*providers)[i], p, env, cfg, names);
        }
    }
    if (const json* rt = r.object(root, "", "retry", false)) {
        readRetry(r, *rt, cfg);
    }
    if (const json* d = r.object(root, "", "defaults", false)) {
        readDefaults(r, *d, cfg);
    }
    if (const json* t = r.object(root, "", "tenants", false)) {
        readTenants(r, *t, cfg);
    }
    if (const json* sh = r.object(root, "", "shared", false)) {
        cfg.shared = readShared(r, *sh, env);
    }
    if (root.contains("pricing")) {
        try {
            cfg.pricing.merge(PricingTable::fromJson(src, "/pricing"));
        } catch (const InputError& e) {
            problems.push_back(e.what());
        }
    }
    // Limits the ledger would refuse (too many per scope) surface here, with
    // their place in the file.
    const auto checkScope = [&](const std::vector<LimitSpec>& limits, const std::string& where) {
        if (limits.size() > 8) {
            r.problem(where, "at most 8 limits per scope");
        }
    };
    checkScope(cfg.globalLimits, "/global/limits");
    throwIfProblems(src.name(), problems);
    return cfg;
}

Config loadConfigFile(const std::string& path, const EnvLookup& env)
{
    return loadConfig(JsonSource::fromFile(path), env);
}

}  // namespace sluice
