#include "loadcheck/served_models.h"

#include <set>
#include <tuple>

namespace sluice::loadcheck {

namespace {

struct Asked {
    std::string model;
    ApiFlavor flavor = ApiFlavor::OpenAI;
    std::string provider;  // pinned, or empty
    std::string where;
};

std::vector<Asked> askedModels(const loadtest::Workload& w)
{
    std::vector<Asked> out;
    const auto addMix = [&](const loadtest::RequestMix& mix) {
        for (const loadtest::ModelChoice& m : mix.models) {
            if (m.flavor) {
                out.push_back(Asked{m.model, *m.flavor, m.provider, m.where});
            }
        }
    };
    addMix(w.mix);
    if (w.pipeline) {
        for (const loadtest::Stage& s : w.pipeline->stages) {
            addMix(s.mix);
        }
    }
    if (w.replay) {
        for (const loadtest::ReplayEntry& e : w.replay->entries) {
            if (e.job) {
                const auto model = e.job->body.is_object() ? e.job->body.find("model") : e.job->body.end();
                if (e.job->body.is_object() && model != e.job->body.end() && model->is_string()) {
                    out.push_back(Asked{model->get<std::string>(), e.job->flavor, e.job->provider,
                                        w.replay->file + ":" + std::to_string(e.line)});
                }
            } else if (e.model.flavor) {
                out.push_back(Asked{e.model.model, *e.model.flavor, e.model.provider,
                                    w.replay->file + ":" + std::to_string(e.line)});
            }
        }
    }
    return out;
}

std::string describeProviders(const Config& config)
{
    std::string out;
    for (const ProviderConfig& p : config.providers) {
        if (p.removed) {
            continue;
        }
        out += (out.empty() ? "" : "; ") + p.name + " (" + std::string(flavorName(p.flavor)) + "): ";
        if (p.models.empty()) {
            out += "any model";
        } else {
            std::string names;
            for (const ModelConfig& m : p.models) {
                names += (names.empty() ? "" : ", ") + m.name;
            }
            out += names;
        }
    }
    return out.empty() ? "no providers" : out;
}

}  // namespace

std::vector<std::string> unservedModels(const loadtest::Workload& workload, const Config& config,
                                        const mock::MockConfig& known)
{
    std::vector<std::string> problems;
    std::set<std::tuple<std::string, int, std::string>> seen;
    for (const Asked& a : askedModels(workload)) {
        if (!seen.insert({a.model, static_cast<int>(a.flavor), a.provider}).second) {
            continue;
        }
        const ProviderConfig* p = config.route(a.flavor, a.model, a.provider);
        bool served = p != nullptr;
        if (served && p->models.empty()) {
            // A provider open to any model: only a model known to be another
            // flavour's is refused.
            const auto k = known.models.find(a.model);
            served = k == known.models.end() || mock::flavourName(k->second.flavour) == flavorName(a.flavor);
        }
        if (!served) {
            std::string why = a.where + ": no provider in " + config.source + " serves model \"" + a.model + "\"";
            if (const auto k = known.models.find(a.model); k != known.models.end() &&
                                                           mock::flavourName(k->second.flavour) != flavorName(a.flavor)) {
                why += " (it is an " + std::string(mock::flavourName(k->second.flavour)) + " model, asked of an " +
                       std::string(flavorName(a.flavor)) + " provider)";
            }
            problems.push_back(why + "; the config's providers serve: " + describeProviders(config));
        }
    }
    return problems;
}

void requireServedModels(const loadtest::Workload& workload, const Config& config, const mock::MockConfig& known)
{
    const std::vector<std::string> problems = unservedModels(workload, config, known);
    if (problems.empty()) {
        return;
    }
    std::string text = workload.source + ": " + std::to_string(problems.size()) +
                       (problems.size() == 1 ? " model" : " models") + " no provider serves; nothing was started:";
    for (const std::string& p : problems) {
        text += "\n  " + p;
    }
    throw InputError(text);
}

}  // namespace sluice::loadcheck
