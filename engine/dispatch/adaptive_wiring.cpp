#include "dispatch/adaptive_wiring.h"

namespace sluice {

namespace {

std::string labelValue(const std::string& s)
{
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

AdaptiveWiring::AdaptiveWiring(Clock& clock, const Config& config, DispatchListener& downstream)
    // The controller first: the last listener receives the outcome itself.
    : m_controller(clock, config), m_fanOut{&m_controller, &downstream}
{
}

std::string AdaptiveWiring::prometheusText() const
{
    const auto rows = m_controller.status();
    if (rows.empty()) {
        return {};
    }
    std::string limits = "# HELP sluice_adaptive_concurrency_limit Concurrency limit found at run time (\"concurrency\": \"auto\")\n"
                         "# TYPE sluice_adaptive_concurrency_limit gauge\n";
    std::string changes = "# HELP sluice_adaptive_concurrency_changes_total Times the adaptive limit was applied anew\n"
                          "# TYPE sluice_adaptive_concurrency_changes_total counter\n";
    for (const auto& r : rows) {
        const std::string labels = "{provider=\"" + labelValue(r.provider) + "\",key=\"" + labelValue(r.key) + "\"} ";
        limits += "sluice_adaptive_concurrency_limit" + labels + std::to_string(r.limit) + "\n";
        changes += "sluice_adaptive_concurrency_changes_total" + labels + std::to_string(r.changes) + "\n";
    }
    return limits + changes;
}

std::string AdaptiveWiring::describe() const
{
    std::string out;
    for (const auto& r : m_controller.status()) {
        out += (out.empty() ? "" : ", ") + r.provider + (r.key.empty() ? "" : "/" + r.key) + " " + std::to_string(r.limit);
    }
    return out;
}

}  // namespace sluice
