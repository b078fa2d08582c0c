// The control protocol's jobs, dead letters and configuration
// (control_protocol.h); status, series and limits are in control_protocol.cpp.
#include "control/control_protocol.h"
#include "control/protocol_fields.h"

#include <algorithm>
#include <chrono>

namespace sluice::control {

using nlohmann::json;
using namespace fields;

namespace {

json jobToJson(const store::Job& job)
{
    return {{"id", job.id},
            {"custom_id", job.customId},
            {"method", job.method},
            {"url", job.url},
            {"body", job.body},
            {"edited", job.edited},
            {"model", job.model},
            {"provider_hint", job.providerHint},
            {"tenant", job.tenant},
            {"priority", job.priority},
            {"deadline_ms", optionalWall(job.deadline)},
            {"created_ms", wallMs(job.created)},
            {"state", static_cast<int>(job.state)},
            {"not_before_ms", wallMs(job.notBefore)},
            {"lease_count", job.leaseCount},
            {"attempts", job.attempts},
            {"finished_ms", optionalWall(job.finished)},
            {"last_error_class", job.lastErrorClass},
            {"last_key_label", job.lastKeyLabel}};
}

store::Job jobFromJson(const json& j)
{
    store::Job job;
    job.id = get<store::JobId>(j, "id");
    job.customId = get<std::string>(j, "custom_id");
    job.method = get<std::string>(j, "method");
    job.url = get<std::string>(j, "url");
    job.body = get<std::string>(j, "body");
    job.edited = get<bool>(j, "edited");
    job.model = get<std::string>(j, "model");
    job.providerHint = get<std::string>(j, "provider_hint");
    job.tenant = get<std::string>(j, "tenant");
    job.priority = get<int>(j, "priority");
    job.deadline = optionalWallFrom(j, "deadline_ms");
    job.created = wallFromMs(get<std::int64_t>(j, "created_ms"));
    job.state = enumFrom<store::JobState>(j, "state", 4);
    job.notBefore = wallFromMs(get<std::int64_t>(j, "not_before_ms"));
    job.leaseCount = get<int>(j, "lease_count");
    job.attempts = get<int>(j, "attempts");
    job.finished = optionalWallFrom(j, "finished_ms");
    job.lastErrorClass = get<std::string>(j, "last_error_class");
    job.lastKeyLabel = get<std::string>(j, "last_key_label");
    return job;
}

json attemptToJson(const store::Attempt& a)
{
    return {{"error_class", a.errorClass}, {"http_status", a.httpStatus}, {"message", a.message},
            {"key_label", a.keyLabel},     {"counted", a.counted},        {"at_ms", optionalWall(a.at)},
            {"retry_at_ms", optionalWall(a.retryAt)}};
}

store::Attempt attemptFromJson(const json& j)
{
    store::Attempt a;
    a.errorClass = get<std::string>(j, "error_class");
    a.httpStatus = get<int>(j, "http_status");
    a.message = get<std::string>(j, "message");
    a.keyLabel = get<std::string>(j, "key_label");
    a.counted = get<bool>(j, "counted");
    a.at = optionalWallFrom(j, "at_ms");
    a.retryAt = optionalWallFrom(j, "retry_at_ms");
    return a;
}

}  // namespace

json configToJson(const Config& config)
{
    json providers = json::array();
    for (const ProviderConfig& p : config.providers) {
        json models = json::array();
        for (const ModelConfig& m : p.models) {
            models.push_back({{"name", m.name}, {"limits", limitsToJson(m.limits)}, {"default_max_tokens", m.defaultMaxTokens}});
        }
        json keys = json::array();
        for (const KeyConfig& k : p.keys) {
            json modelLimits = json::object();
            for (const auto& [model, specs] : k.modelLimits) {
                modelLimits[model] = limitsToJson(specs);
            }
            keys.push_back({{"name", k.name},
                            {"enabled", k.enabled},
                            {"limits", limitsToJson(k.limits)},
                            {"model_limits", std::move(modelLimits)}});
        }
        providers.push_back({{"name", p.name},
                             {"flavor", std::string(flavorName(p.flavor))},
                             {"base_url", p.baseUrl},
                             {"removed", p.removed},
                             {"limits", limitsToJson(p.limits)},
                             {"models", std::move(models)},
                             {"keys", std::move(keys)}});
    }
    return {{"source", config.source}, {"global_limits", limitsToJson(config.globalLimits)}, {"providers", providers}};
}

Config configFromJson(const json& j)
{
    Config c;
    c.source = getOr<std::string>(j, "source", "");
    c.globalLimits = limitsFromJson(need(j, "global_limits"));
    for (const json& p : arrayAt(j, "providers")) {
        ProviderConfig pc;
        pc.name = get<std::string>(p, "name");
        const auto flavor = get<std::string>(p, "flavor");
        pc.flavor = flavor == flavorName(ApiFlavor::Anthropic) ? ApiFlavor::Anthropic : ApiFlavor::OpenAI;
        pc.baseUrl = get<std::string>(p, "base_url");
        pc.removed = get<bool>(p, "removed");
        pc.limits = limitsFromJson(need(p, "limits"));
        for (const json& m : arrayAt(p, "models")) {
            ModelConfig mc;
            mc.name = get<std::string>(m, "name");
            mc.limits = limitsFromJson(need(m, "limits"));
            mc.defaultMaxTokens = get<std::int64_t>(m, "default_max_tokens");
            pc.models.push_back(std::move(mc));
        }
        for (const json& k : arrayAt(p, "keys")) {
            KeyConfig kc;
            kc.name = get<std::string>(k, "name");
            kc.enabled = get<bool>(k, "enabled");
            kc.limits = limitsFromJson(need(k, "limits"));
            for (const auto& [model, specs] : need(k, "model_limits").items()) {
                kc.modelLimits[model] = limitsFromJson(specs);
            }
            pc.keys.push_back(std::move(kc));
        }
        c.providers.push_back(std::move(pc));
    }
    return c;
}

json deadLetterFilterToJson(const store::DeadLetterFilter& f)
{
    json j = json::object();
    if (f.errorClass) {
        j["error_class"] = *f.errorClass;
    }
    if (f.keyLabel) {
        j["key_label"] = *f.keyLabel;
    }
    if (f.model) {
        j["model"] = *f.model;
    }
    if (f.diedFrom) {
        j["died_from_ms"] = wallMs(*f.diedFrom);
    }
    if (f.diedTo) {
        j["died_to_ms"] = wallMs(*f.diedTo);
    }
    return j;
}

store::DeadLetterFilter deadLetterFilterFromJson(const json& j)
{
    store::DeadLetterFilter f;
    f.errorClass = optionalField<std::string>(j, "error_class");
    f.keyLabel = optionalField<std::string>(j, "key_label");
    f.model = optionalField<std::string>(j, "model");
    f.diedFrom = optionalWallFrom(j, "died_from_ms");
    f.diedTo = optionalWallFrom(j, "died_to_ms");
    return f;
}

json deadLettersToJson(const std::vector<store::DeadLetter>& items)
{
    json a = json::array();
    for (const store::DeadLetter& d : items) {
        json attempts = json::array();
        for (const store::Attempt& at : d.attempts) {
            attempts.push_back(attemptToJson(at));
        }
        a.push_back({{"job", jobToJson(d.job)}, {"attempts", std::move(attempts)}});
    }
    return a;
}

std::vector<store::DeadLetter> deadLettersFromJson(const json& j)
{
    if (!j.is_array()) {
        throw ProtocolError("dead letters: not an array");
    }
    std::vector<store::DeadLetter> out;
    for (const json& d : j) {
        store::DeadLetter dl;
        dl.job = jobFromJson(need(d, "job"));
        for (const json& at : arrayAt(d, "attempts")) {
            dl.attempts.push_back(attemptFromJson(at));
        }
        out.push_back(std::move(dl));
    }
    return out;
}

json jobDetailToJson(const JobDetail& detail)
{
    json j = json::object();
    j["job"] = detail.job ? jobToJson(*detail.job) : json(nullptr);
    json timeline = json::array();
    for (const store::TimelineEntry& e : detail.timeline) {
        timeline.push_back({{"at_ms", wallMs(e.at)}, {"kind", e.kind}, {"detail", e.detail}});
    }
    json attempts = json::array();
    for (const store::Attempt& a : detail.attempts) {
        attempts.push_back(attemptToJson(a));
    }
    j["timeline"] = std::move(timeline);
    j["attempts"] = std::move(attempts);
    if (detail.result) {
        const store::Result& r = *detail.result;
        j["result"] = {{"status_code", r.statusCode},
                       {"body", r.body},
                       {"request_id", r.requestId},
                       {"key_label", r.keyLabel},
                       {"completed_ms", wallMs(r.completed)}};
    } else {
        j["result"] = nullptr;
    }
    return j;
}

JobDetail jobDetailFromJson(const json& j)
{
    JobDetail d;
    if (const json& job = need(j, "job"); !job.is_null()) {
        d.job = jobFromJson(job);
    }
    for (const json& e : arrayAt(j, "timeline")) {
        d.timeline.push_back({wallFromMs(get<std::int64_t>(e, "at_ms")), get<std::string>(e, "kind"),
                              get<std::string>(e, "detail")});
    }
    for (const json& a : arrayAt(j, "attempts")) {
        d.attempts.push_back(attemptFromJson(a));
    }
    if (const json& r = need(j, "result"); !r.is_null()) {
        store::Result res;
        res.statusCode = get<int>(r, "status_code");
        res.body = get<std::string>(r, "body");
        res.requestId = get<std::string>(r, "request_id");
        res.keyLabel = get<std::string>(r, "key_label");
        res.completed = wallFromMs(get<std::int64_t>(r, "completed_ms"));
        d.result = std::move(res);
    }
    return d;
}

}  // namespace sluice::control
