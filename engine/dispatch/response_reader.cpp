#include "dispatch/response_reader.h"

#include "core/json_scan.h"

#include <nlohmann/json.hpp>

namespace sluice {

namespace {

void readTransportFailure(const TransferRead& in, ResponseRead& out)
{
    out.triage = triageTransport(in.result.error, in.result.errorText);
    if (out.triage.cls == FailureClass::Cancelled) {
        out.triage.cls = FailureClass::ConnectionError;
    }
    if (out.triage.cls == FailureClass::Timeout && in.pastDeadline) {
        out.triage.cls = FailureClass::DeadlineExceeded;
    }
    out.unreachable = in.result.status == 0 && in.result.error == http::TransportError::ConnectFailed;
}

void readStream(const TransferRead& in, ResponseRead& out)
{
    const StreamAccumulator& stream = *in.stream;
    Triage& t = out.triage;
    if (stream.error()) {
        const nlohmann::json& e = *stream.error();
        const nlohmann::json& inner = e.contains("error") ? e["error"] : e;
        t.cls = inner.is_object() && inner.value("type", "") == "overloaded_error" ? FailureClass::Overloaded
                                                                                   : FailureClass::StreamError;
        t.message = inner.is_object() ? inner.value("message", "error event after HTTP 200") : "error event";
        t.code = inner.is_object() ? inner.value("type", "stream_error") : "stream_error";
    } else if (!stream.complete() || in.result.error != http::TransportError::None) {
        t.cls = FailureClass::StreamCut;
        t.message = "stream ended before its final event" +
                    (in.result.errorText.empty() ? std::string() : " (" + in.result.errorText + ")");
    } else {
        out.body = stream.assembledBody().dump();
        out.usage = stream.usage();
        out.responseId = stream.responseId();
    }
}

void readPlain(const TransferRead& in, ResponseRead& out)
{
    // Validate the body and pick out its usage without building a document
    // of it: on a busy dispatcher thread that would cost more than
    // everything else per request. The usage object's members are read on
    // the same pass; the last "usage" member counts, and only an object.
    // So is the response's id (the gateway keeps which key made it).
    UsageReader reader;
    std::optional<ResponseUsage> found;
    const bool valid = scanJson(
        in.result.body,
        [&](std::string_view key, std::string_view value) {
            if (key == "id" && out.responseId.empty()) {
                out.responseId = jsonStringValue(value).value_or(std::string());
            } else if (key == "usage") {
                found = !value.empty() && value.front() == '{' ? std::optional(reader.result(in.flavor)) : std::nullopt;
                reader = UsageReader();
            }
        },
        "usage", [&reader](std::string_view key, std::string_view value) { reader.member(key, value); });
    if (!valid) {
        out.triage.cls = FailureClass::ServerError;
        out.triage.message = "HTTP " + std::to_string(in.result.status) + " with a body that is not JSON";
        out.triage.code = "malformed_response";
        return;
    }
    out.usage = found;
    out.body = std::move(in.result.body);
}

}  // namespace

ResponseRead readResponse(TransferRead in)
{
    ResponseRead out;
    http::HttpResult& r = in.result;
    out.headers = parseRateLimitHeaders(r.headers, in.wallNow);
    const bool ok2xx = r.status >= 200 && r.status < 300;
    if (r.status == 0 || (r.error != http::TransportError::None && in.stream == nullptr && ok2xx)) {
        readTransportFailure(in, out);
    } else if (ok2xx && in.stream != nullptr) {
        readStream(in, out);
    } else if (ok2xx) {
        readPlain(in, out);
    } else {
        out.body = in.stream != nullptr ? std::move(in.errorBody) : std::move(r.body);
        out.triage = triageResponse(in.flavor, r.status, out.body, out.headers);
    }
    return out;
}

}  // namespace sluice
