#include "dispatch/limit_status.h"

#include "config/config_writer.h"
#include "core/numbers.h"
#include "providers/prompt_estimator.h"
#include "tokenize/proxy_calibrator.h"
#include "tokenize/token_calibrator.h"

#include <cmath>
#include <cstdio>

namespace sluice {

namespace {

// The limits of one scope on the key+model's path, as enforced now.
void addLimits(std::vector<LimitInForce>& out, const Admission& admission, ScopeId scope, const char* whose,
               const LearnedLimits* learned, bool adaptiveConcurrency)
{
    if (scope == kNoScope) {
        return;
    }
    for (const DimensionState& d : admission.snapshot(scope).dimensions) {
        LimitInForce l;
        l.scope = whose;
        l.spec = d.spec;
        if (adaptiveConcurrency && d.spec.measure == Measure::Concurrency) {
            l.origin = LimitOrigin::Adaptive;
        } else if (learned != nullptr && learned->lowered.count(d.spec.measure) > 0) {
            // Lowered measures are in `learned` too: the configuration had one.
            l.origin = LimitOrigin::Lowered;
        } else if (learned != nullptr && learned->learned.count(d.spec.measure) > 0) {
            l.origin = LimitOrigin::Learned;
        }
        const bool rolling = d.spec.window == Window::Rolling && d.spec.measure != Measure::Concurrency;
        l.burstInForce = rolling ? d.burstInForce : d.spec.capacity();
        l.narrowed = rolling && d.burstInForce < d.spec.capacity();
        l.marginPer10k = d.marginPer10k;
        l.leastMargin = d.leastMargin;
        out.push_back(std::move(l));
    }
}

// "rpm", "tpm", "concurrency", ... as the configuration names them.
std::string limitName(const LimitSpec& spec)
{
    const auto field = limitFieldOf(spec);
    return std::string(field ? limitFieldName(*field) : measureName(spec.measure));
}

std::string percent(double share)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.0f%%", share * 100.0);
    return text;
}

std::string milliseconds(Duration d)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
    return text;
}

std::string describeRamp(const RampStatus& r)
{
    std::string text;
    if (r.inRamp) {
        text = "ramping up after idle: " + percent(r.fraction) + " of the request limit";
    } else if (r.idle) {
        text = "idle: the next requests ramp up from " + percent(r.start);
    } else {
        text = "ramp done";
    }
    if (r.flattened > 0) {
        text += " (ramps from " + percent(r.start) + " over " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(r.length).count()) +
                " s: flattened after " + std::to_string(r.flattened) + (r.flattened == 1 ? " 429)" : " 429s)");
    }
    return text;
}

}  // namespace

std::string_view limitOriginName(LimitOrigin o) noexcept
{
    switch (o) {
    case LimitOrigin::Configured: return "configured";
    case LimitOrigin::Learned: return "learned from headers";
    case LimitOrigin::Lowered: return "lowered by headers";
    case LimitOrigin::Adaptive: return "adaptive";
    }
    return "configured";
}

ModelLimitStatus modelLimitStatus(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                                  const ModelState& ms, const Admission& admission, const IdleRamp& ramp,
                                  TimePoint now)
{
    ModelLimitStatus out;
    out.provider = pr.cfg->name;
    out.key = kr.cfg->name;
    out.model = model;
    addLimits(out.limits, admission, ms.scope, "model", &ms.limits, false);
    addLimits(out.limits, admission, kr.scope, "key", nullptr, kr.cfg->autoConcurrency.has_value());
    addLimits(out.limits, admission, pr.scope, "provider", nullptr, pr.cfg->autoConcurrency.has_value());
    out.pacedEvenly = ms.scope != kNoScope && admission.paced(ms.scope);
    if (pr.cfg->rampAfterIdle && ms.scope != kNoScope) {
        const IdleRamp::Snapshot s = ramp.snapshot(ms.scope, *pr.cfg->rampAfterIdle, now);
        out.ramp = RampStatus{s.inRamp, s.idle, s.fraction, s.start, s.length, s.flattened};
    }
    if (pr.cfg->tokenAccounting == TokenAccounting::Learn && pr.refunds.stage() != RefundProbe::Stage::Watching) {
        out.refunds = pr.refunds.describe();
        if (pr.unstated.stage() != UnstatedOutputProbe::Stage::Default) {
            out.refunds += "; " + pr.unstated.describe();
        }
    }
    return out;
}

std::vector<ModelLimitStatus> modelLimitStatuses(const KeyPool& pool, const Admission& admission,
                                                 const IdleRamp& ramp, TimePoint now)
{
    std::vector<ModelLimitStatus> out;
    for (const ProviderRuntime& pr : pool.providers()) {
        if (pr.removed) {
            continue;
        }
        for (const KeyRuntime& kr : pr.keys) {
            if (kr.removed) {
                continue;
            }
            for (const auto& [model, ms] : kr.models) {
                out.push_back(modelLimitStatus(pr, kr, model, ms, admission, ramp, now));
            }
        }
    }
    return out;
}

std::string limitsNote(const ProviderRuntime& pr, const KeyRuntime& kr, const std::string& model,
                       const ModelState& ms, const Admission& admission, const IdleRamp& ramp, TimePoint now,
                       const tokenize::TokenCalibrator* calibrator, const tokenize::ProxyCalibrator* proxy)
{
    std::string text = pr.cfg->name + "/" + kr.cfg->name + "/" + model + ": " +
                       describeModelLimits(modelLimitStatus(pr, kr, model, ms, admission, ramp, now));
    if (const std::string c = describeCalibration(calibrationStatus(calibrator, proxy), model); !c.empty()) {
        text += "; " + c;
    }
    return text;
}

std::vector<ModelCalibration> calibrationStatus(const tokenize::TokenCalibrator* calibrator,
                                                const tokenize::ProxyCalibrator* proxy)
{
    std::vector<ModelCalibration> out;
    if (calibrator == nullptr) {
        return out;
    }
    for (const tokenize::TokenCalibrator::Entry& e : calibrator->snapshot()) {
        ModelCalibration c{e.model, std::string(tokenize::languageClassName(e.language)), e.ratio, e.samples};
        if (proxy != nullptr) {
            const auto byProxy = proxy->fit(e.model, e.language);
            if (proxyPredictsBetter(calibrator->fit(e.model, e.language), byProxy)) {
                c.ratio = byProxy->slope;
                c.offset = byProxy->offset;
                c.samples = byProxy->samples;
                c.byProxy = true;
            }
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::string describeModelLimits(const ModelLimitStatus& s)
{
    std::string text;
    const auto add = [&text](const std::string& part) {
        text += (text.empty() ? "" : "; ") + part;
    };
    bool pacingSaid = false;
    for (const LimitInForce& l : s.limits) {
        pacingSaid = pacingSaid || (l.narrowed && l.scope == "model" && s.pacedEvenly);
        std::string part = limitName(l.spec) + " " + groupThousands(l.spec.limit) + " " +
                           std::string(limitOriginName(l.origin));
        if (l.scope != "model") {
            part += " (" + l.scope + ")";
        }
        if (l.spec.window == Window::Rolling && l.spec.measure != Measure::Concurrency) {
            part += ", burst " + groupThousands(l.spec.capacity());
            if (l.narrowed) {
                part += " (" + groupThousands(l.burstInForce) + " in force: " +
                        (s.pacedEvenly && l.scope == "model" ? "paced evenly" : "narrowed after 429s") + ")";
            }
        }
        add(part);
    }
    if (s.pacedEvenly && !pacingSaid) {
        // Its burst was one already (a limit the headers lowered to one
        // request a second, say): the pacing still changes the spacing.
        add("paced evenly");
    }
    // The model's own margins: where near misses are learned.
    std::int32_t share = 0;
    Duration least{};
    for (const LimitInForce& l : s.limits) {
        if (l.scope == "model") {
            share = std::max(share, l.marginPer10k);
            least = std::max(least, l.leastMargin);
        }
    }
    if (share > 0 || least > Duration::zero()) {
        char margin[64];
        std::snprintf(margin, sizeof margin, "margin %.2f%%", share / 100.0);
        add(std::string(margin) + (least > Duration::zero() ? ", at least " + milliseconds(least) : std::string()));
    }
    if (s.ramp) {
        add(describeRamp(*s.ramp));
    }
    if (!s.refunds.empty()) {
        add(s.refunds);
    }
    return text;
}

std::string describeCalibration(const std::vector<ModelCalibration>& calibration, std::string_view model)
{
    std::string text;
    for (const ModelCalibration& c : calibration) {
        if (c.model != model || c.samples == 0) {
            continue;
        }
        char ratio[64];
        if (c.byProxy) {
            std::snprintf(ratio, sizeof ratio, "o200k_base ×%.2f %+.0f", c.ratio, c.offset);
        } else {
            std::snprintf(ratio, sizeof ratio, "×%.2f", c.ratio);
        }
        text += (text.empty() ? "prompt estimate " : ", ") + std::string(ratio) + " (" + c.language + ", " +
                std::to_string(c.samples) + (c.samples == 1 ? " sample)" : " samples)");
    }
    return text;
}

}  // namespace sluice
