#include "mock/stored_responses.h"

#include <nlohmann/json.hpp>

namespace sluice::mock {

namespace {

constexpr std::string_view kPrefix = "/v1/responses/";
constexpr std::string_view kJsonType = "application/json";

std::string openAiError(const std::string& message, const nlohmann::json& param, const nlohmann::json& code)
{
    return nlohmann::json{
        {"error", {{"message", message}, {"type", "invalid_request_error"}, {"param", param}, {"code", code}}}}
        .dump();
}

net::HttpReply json(int status, std::string body)
{
    return net::HttpReply::whole(status, std::string(kJsonType), std::move(body));
}

}  // namespace

std::string previousResponseNotFound(std::string_view id)
{
    return openAiError("Previous response with id '" + std::string(id) + "' not found.", "previous_response_id",
                       "previous_response_not_found");
}

void StoredResponses::put(const std::string& key, std::string object)
{
    const nlohmann::json doc = nlohmann::json::parse(object, nullptr, false);
    if (!doc.is_object() || !doc.contains("id") || !doc["id"].is_string()) {
        return;
    }
    std::pair<std::string, std::string> name{key, doc["id"].get<std::string>()};
    std::lock_guard guard(m_mutex);
    if (m_objects.insert_or_assign(name, std::move(object)).second) {
        m_order.push_back(std::move(name));
    }
    while (m_objects.size() > m_capacity && !m_order.empty()) {
        m_objects.erase(m_order.front());
        m_order.pop_front();
    }
}

std::optional<std::int64_t> StoredResponses::contextTokens(const std::string& key, std::string_view id) const
{
    const std::optional<std::string> object = get(key, id);
    if (!object) {
        return std::nullopt;
    }
    const nlohmann::json doc = nlohmann::json::parse(*object, nullptr, false);
    const auto usage = doc.is_object() ? doc.find("usage") : doc.end();
    if (!doc.is_object() || usage == doc.end() || !usage->is_object()) {
        return 0;
    }
    std::int64_t tokens = 0;
    for (const char* field : {"input_tokens", "output_tokens"}) {
        if (const auto n = usage->find(field); n != usage->end() && n->is_number_integer()) {
            tokens += n->get<std::int64_t>();
        }
    }
    return tokens;
}

std::optional<std::string> StoredResponses::get(const std::string& key, std::string_view id) const
{
    std::lock_guard guard(m_mutex);
    if (const auto it = m_objects.find(std::pair<std::string, std::string>(key, id)); it != m_objects.end()) {
        return it->second;
    }
    return std::nullopt;
}

bool StoredResponses::routes(std::string_view method, std::string_view path)
{
    if (path.size() <= kPrefix.size() || path.rfind(kPrefix, 0) != 0) {
        return false;
    }
    const std::string_view rest = path.substr(kPrefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == 0) {
        return false;
    }
    if (slash == std::string_view::npos) {
        return method == "GET" || method == "DELETE";
    }
    const std::string_view tail = rest.substr(slash);
    return (method == "POST" && tail == "/cancel") || (method == "GET" && tail == "/input_items");
}

net::HttpReply StoredResponses::answer(const std::string& key, std::string_view method, std::string_view path)
{
    const std::string_view rest = path.substr(kPrefix.size());
    const std::string id(rest.substr(0, rest.find('/')));
    const std::string_view tail = rest.substr(id.size());
    std::optional<std::string> object = get(key, id);
    if (!object) {
        return json(404, openAiError("Response with id '" + id + "' not found.", nullptr, nullptr));
    }
    if (method == "DELETE") {
        {
            std::lock_guard guard(m_mutex);
            m_objects.erase(std::pair<std::string, std::string>(key, id));
        }
        return json(200, nlohmann::json{{"id", id}, {"object", "response"}, {"deleted", true}}.dump());
    }
    if (tail == "/cancel") {
        // The mock answers at once: nothing runs in the background.
        return json(400, openAiError("Cannot cancel a response that is not in progress.", nullptr, nullptr));
    }
    if (tail == "/input_items") {
        return json(200, R"({"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false})");
    }
    return json(200, std::move(*object));
}

}  // namespace sluice::mock
