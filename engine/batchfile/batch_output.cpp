#include "batchfile/batch_output.h"

#include "core/atomic_file.h"
#include "queue/batch_input.h"

#include <cstdio>
#include <functional>

namespace sluice {

using nlohmann::json;

std::string batchRequestId(const std::string& customId)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : customId) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "batch_req_%016llx", static_cast<unsigned long long>(h));
    return buf;
}

nlohmann::ordered_json batchOutputLine(const store::Outcome& o)
{
    nlohmann::ordered_json line = {{"id", batchRequestId(o.customId)}, {"custom_id", o.customId}};
    if (o.result) {
        json body = json::parse(o.result->body, nullptr, false);
        line["response"] = {{"status_code", o.result->statusCode},
                            {"request_id", o.result->requestId},
                            {"body", body.is_discarded() ? json(o.result->body) : body}};
        line["error"] = nullptr;
        return line;
    }
    const store::Attempt e = o.error.value_or(store::Attempt{});
    if (e.httpStatus != 0) {
        line["response"] = {{"status_code", e.httpStatus}, {"request_id", ""}, {"body", nullptr}};
    } else {
        line["response"] = nullptr;
    }
    line["error"] = {{"code", e.errorClass}, {"message", e.message}};
    return line;
}

namespace {

BatchOutputCounts writeOutcomes(const store::JobStore& st, const std::string& path,
                                const std::function<bool(const store::Outcome&)>& wanted)
{
    BatchOutputCounts counts;
    writeFileAtomically(path, [&](std::ostream& out) {
        store::JobId after = 0;
        std::string line;
        while (true) {
            const auto page = st.outcomes(after, 1000);
            if (page.empty()) {
                break;
            }
            for (const store::Outcome& o : page) {
                after = o.id;
                if (wanted && !wanted(o)) {
                    continue;
                }
                if (o.compacted) {
                    // Writing on would leave this line out: refuse, and the
                    // file stays as it was.
                    throw FileError(path + ": " + o.customId + ": its result was compacted out of " +
                                    st.file().string() + " after an earlier output was written; that output holds it");
                }
                (o.state == store::JobState::Done ? counts.completed : counts.dead) += 1;
                line = dumpJsonLine(batchOutputLine(o));
                line += '\n';
                out.write(line.data(), static_cast<std::streamsize>(line.size()));
            }
        }
    });
    return counts;
}

}  // namespace

BatchOutputCounts writeBatchOutput(const store::JobStore& st, const std::string& path)
{
    return writeOutcomes(st, path, {});
}

BatchOutputCounts writeBatchOutput(const store::JobStore& st, const std::string& path, const BatchIds& wanted)
{
    return writeOutcomes(st, path, [&wanted](const store::Outcome& o) { return wanted.contains(o.id); });
}

void writeBatchRejects(const std::string& path, const std::vector<RejectedLine>& rejects)
{
    writeFileAtomically(path, [&](std::ostream& out) {
        for (const RejectedLine& r : rejects) {
            out << dumpJsonLine(json{{"line", r.line}, {"custom_id", r.customId}, {"error", r.error}, {"input", r.text}})
                << '\n';
        }
    });
}

}  // namespace sluice
