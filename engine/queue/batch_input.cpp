#include "queue/batch_input.h"

#include "providers/protocol.h"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace sluice {

using nlohmann::json;

namespace {

std::string parseLine(const std::string& text, BatchLine& out)
{
    json line = json::parse(text, nullptr, false);
    if (line.is_discarded()) {
        return "not valid JSON";
    }
    if (!line.is_object()) {
        return "must be a JSON object";
    }
    const auto id = line.find("custom_id");
    if (id == line.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        return "custom_id: required (a non-empty string)";
    }
    out.job.customId = id->get<std::string>();
    if (const auto m = line.find("method"); m != line.end() && (!m->is_string() || *m != "POST")) {
        return "method: only POST is supported";
    }
    const auto url = line.find("url");
    if (url == line.end() || !url->is_string()) {
        return "url: required (" + std::string(knownRequestPaths()) + ")";
    }
    const auto route = routeOfPath(url->get_ref<const std::string&>());
    if (!route) {
        return "url: unknown endpoint " + url->dump() + " (expected " + std::string(knownRequestPaths()) + ")";
    }
    out.job.flavor = route->flavor;
    out.job.endpoint = route->endpoint;
    const auto body = line.find("body");
    if (body == line.end() || !body->is_object()) {
        return "body: required (a JSON object)";
    }
    out.bodyText = body->dump();
    out.job.body = std::move(*body);
    // Sluice's own optional fields, ignored by other batch runners.
    if (const auto t = line.find("tenant"); t != line.end()) {
        if (!t->is_string()) {
            return "tenant: must be a string";
        }
        out.job.tenant = t->get<std::string>();
    }
    if (const auto p = line.find("priority"); p != line.end()) {
        if (!p->is_number_integer()) {
            return "priority: must be a whole number";
        }
        out.job.priority = p->get<int>();
    }
    if (const auto p = line.find("provider"); p != line.end()) {
        if (!p->is_string()) {
            return "provider: must be a string";
        }
        out.job.provider = p->get<std::string>();
    }
    if (const auto d = line.find("deadline_s"); d != line.end()) {
        if (!d->is_number() || d->get<double>() <= 0) {
            return "deadline_s: must be a positive number of seconds";
        }
        out.deadlineSeconds = d->get<double>();
    }
    return {};
}

}  // namespace

BatchInput readBatchInput(std::istream& in, const std::function<std::string(const BatchLine&)>& accept)
{
    BatchInput result;
    std::unordered_map<std::string, std::size_t> seen;  // custom_id → index in lines
    readBatchLines(
        in,
        [&](BatchLine&& line) -> std::string {
            // A repeat is refused, never dropped in silence: the output holds
            // one line per custom_id, so the caller hears which line lost.
            if (const auto it = seen.find(line.job.customId); it != seen.end()) {
                const BatchLine& first = result.lines[it->second];
                return "custom_id: \"" + line.job.customId + "\" repeats line " + std::to_string(first.line) +
                       (first.bodyText == line.bodyText ? " (the same request)" : " with a different body");
            }
            if (accept) {
                if (std::string error = accept(line); !error.empty()) {
                    return error;
                }
            }
            seen.emplace(line.job.customId, result.lines.size());
            result.lines.push_back(std::move(line));
            return {};
        },
        [&](RejectedLine&& r) { result.rejects.push_back(std::move(r)); });
    return result;
}

BatchCheck checkBatchInput(std::istream& in, const std::function<std::string(const BatchLine&)>& accept)
{
    struct First {
        std::size_t line = 0;
        std::size_t bodyHash = 0;
    };
    BatchCheck result;
    std::unordered_map<std::string, First> seen;
    readBatchLines(
        in,
        [&](BatchLine&& line) -> std::string {
            const std::size_t bodyHash = std::hash<std::string>{}(line.bodyText);
            if (const auto it = seen.find(line.job.customId); it != seen.end()) {
                return "custom_id: \"" + line.job.customId + "\" repeats line " + std::to_string(it->second.line) +
                       (it->second.bodyHash == bodyHash ? " (the same request)" : " with a different body");
            }
            if (accept) {
                if (std::string error = accept(line); !error.empty()) {
                    return error;
                }
            }
            seen.emplace(std::move(line.job.customId), First{line.line, bodyHash});
            ++result.accepted;
            return {};
        },
        [&](RejectedLine&& r) { result.rejects.push_back(std::move(r)); });
    return result;
}

std::string batchInputFileProblem(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return path + ": cannot open for reading (" + std::strerror(errno) + ")";
    }
    if (S_ISDIR(st.st_mode)) {
        return path + ": is a directory, not a batch file";
    }
    if (::access(path.c_str(), R_OK) != 0) {
        return path + ": cannot open for reading (" + std::strerror(errno) + ")";
    }
    return {};
}

void readBatchLines(std::istream& in, const std::function<std::string(BatchLine&&)>& onLine,
                    const std::function<void(RejectedLine&&)>& onReject)
{
    std::string text;
    std::size_t lineNo = 0;
    while (std::getline(in, text)) {
        ++lineNo;
        if (!text.empty() && text.back() == '\r') {
            text.pop_back();
        }
        if (text.find_first_not_of(" \t") == std::string::npos) {
            continue;
        }
        BatchLine line;
        line.line = lineNo;
        std::string error = parseLine(text, line);
        if (error.empty()) {
            std::string customId = line.job.customId;
            error = onLine(std::move(line));
            line.job.customId = std::move(customId);
        }
        if (!error.empty()) {
            onReject(RejectedLine{lineNo, line.job.customId, std::move(error), text.substr(0, 4096)});
        }
    }
}

}  // namespace sluice
