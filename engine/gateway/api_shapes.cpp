#include "gateway/api_shapes.h"

#include <nlohmann/json.hpp>

namespace sluice::gateway {

using nlohmann::json;

namespace {

struct Names {
    const char* openAiType;
    const char* openAiCode;
    const char* anthropicType;
};

Names namesOf(ErrorKind kind) noexcept
{
    switch (kind) {
    case ErrorKind::InvalidRequest: return {"invalid_request_error", nullptr, "invalid_request_error"};
    case ErrorKind::Authentication: return {"invalid_request_error", "invalid_api_key", "authentication_error"};
    case ErrorKind::Permission: return {"invalid_request_error", "model_not_allowed", "permission_error"};
    case ErrorKind::NotFound: return {"invalid_request_error", "model_not_found", "not_found_error"};
    case ErrorKind::NoRoute: return {"invalid_request_error", nullptr, "not_found_error"};
    case ErrorKind::TooLarge: return {"invalid_request_error", "request_too_large", "request_too_large"};
    case ErrorKind::UnsupportedMedia:
        return {"invalid_request_error", "unsupported_content_encoding", "invalid_request_error"};
    case ErrorKind::RateLimited: return {"requests", "rate_limit_exceeded", "rate_limit_error"};
    case ErrorKind::Internal: return {"server_error", nullptr, "api_error"};
    case ErrorKind::BadGateway: return {"server_error", "upstream_error", "api_error"};
    case ErrorKind::Unavailable: return {"server_error", "no_usable_key", "api_error"};
    case ErrorKind::Draining: return {"server_error", "gateway_draining", "api_error"};
    case ErrorKind::Timeout: return {"server_error", "timeout", "timeout_error"};
    case ErrorKind::Overloaded: return {"server_error", "overloaded", "overloaded_error"};
    }
    return {"server_error", nullptr, "api_error"};
}

json errorJson(ApiFlavor dialect, ErrorKind kind, std::string_view message)
{
    const Names n = namesOf(kind);
    if (dialect == ApiFlavor::Anthropic) {
        return {{"type", "error"}, {"error", {{"type", n.anthropicType}, {"message", message}}}};
    }
    return {{"error",
             {{"message", message},
              {"type", n.openAiType},
              {"param", nullptr},
              {"code", n.openAiCode ? json(n.openAiCode) : json(nullptr)}}}};
}

}  // namespace

int statusOf(ApiFlavor dialect, ErrorKind kind) noexcept
{
    switch (kind) {
    case ErrorKind::InvalidRequest: return 400;
    case ErrorKind::Authentication: return 401;
    case ErrorKind::Permission: return 403;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::NoRoute: return 404;
    case ErrorKind::TooLarge: return 413;
    case ErrorKind::UnsupportedMedia: return 415;
    case ErrorKind::RateLimited: return 429;
    case ErrorKind::Internal: return 500;
    case ErrorKind::BadGateway: return 502;
    case ErrorKind::Unavailable: return 503;
    case ErrorKind::Draining: return 503;
    case ErrorKind::Timeout: return 504;
    case ErrorKind::Overloaded: return dialect == ApiFlavor::Anthropic ? 529 : 503;
    }
    return 500;
}

std::string errorBody(ApiFlavor dialect, ErrorKind kind, std::string_view message)
{
    return errorJson(dialect, kind, message).dump();
}

std::string streamErrorEvent(ApiFlavor dialect, ErrorKind kind, std::string_view message)
{
    const std::string data = errorJson(dialect, kind, message).dump();
    if (dialect == ApiFlavor::Anthropic) {
        return "event: error\ndata: " + data + "\n\n";
    }
    return "data: " + data + "\n\n";
}

std::string responsesStreamErrorEvent(ErrorKind kind, std::string_view message)
{
    const Names n = namesOf(kind);
    const json data = {{"type", "error"},
                       {"code", n.openAiCode ? n.openAiCode : n.openAiType},
                       {"message", message},
                       {"param", nullptr}};
    return "event: error\ndata: " + data.dump() + "\n\n";
}

namespace {

json modelJson(ApiFlavor dialect, const std::string& m)
{
    if (dialect == ApiFlavor::Anthropic) {
        return {{"type", "model"}, {"id", m}, {"display_name", m}, {"created_at", "2025-01-01T00:00:00Z"}};
    }
    return {{"id", m}, {"object", "model"}, {"created", 1735689600}, {"owned_by", "sluice"}};
}

}  // namespace

std::string modelEntry(ApiFlavor dialect, const std::string& model)
{
    return modelJson(dialect, model).dump();
}

std::string modelList(ApiFlavor dialect, const std::vector<std::string>& models)
{
    json data = json::array();
    for (const std::string& m : models) {
        data.push_back(modelJson(dialect, m));
    }
    if (dialect == ApiFlavor::Anthropic) {
        return json{{"data", data},
                    {"has_more", false},
                    {"first_id", models.empty() ? json(nullptr) : json(models.front())},
                    {"last_id", models.empty() ? json(nullptr) : json(models.back())}}
            .dump();
    }
    return json{{"object", "list"}, {"data", data}}.dump();
}

}  // namespace sluice::gateway
