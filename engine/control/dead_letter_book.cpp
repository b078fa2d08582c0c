#include "control/dead_letter_book.h"

#include <nlohmann/json.hpp>

namespace sluice::control {

std::optional<JobDetail> StoreDeadLetters::job(store::JobId id)
{
    JobDetail d;
    d.job = m_store.job(id);
    if (!d.job) {
        return std::nullopt;
    }
    d.timeline = m_store.timeline(id);
    d.attempts = m_store.attempts(id);
    d.result = m_store.result(id);
    return d;
}

bool StoreDeadLetters::editAndRequeue(store::JobId id, const std::string& body)
{
    // The model is the one the edited body names, when it names one.
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object()) {
        if (const auto m = parsed.find("model"); m != parsed.end() && m->is_string()) {
            return m_store.editAndRequeue(id, body, std::string_view(m->get_ref<const std::string&>()));
        }
    }
    return m_store.editAndRequeue(id, body);
}

}  // namespace sluice::control
