// JobPrep: a submitted job made ready to send, on the caller's thread:
// routed to a provider by its model, analysed (stream, prompt estimate,
// output reservation), its body serialised once, and its reservation
// priced (prepareJob throws InputError naming what is wrong: "body.model:
// …"); and, when it is admitted, the HTTP request for it on one key.
//
// Thread-safety: pure functions of their arguments; CommonHeaders as
// stated on it.
#pragma once

#include "admission/limits.h"
#include "config/config.h"
#include "dispatch/job.h"
#include "http/http_client.h"
#include "providers/protocol.h"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice {

struct PreparedJob {
    JobSpec job;  // its body document freed: bodyText is what is sent
    RequestInfo info;
    std::string bodyText;
    Cost cost;
    std::size_t provider = 0;  // index into Config::providers
    // A chat completion stream's `stream_options.include_usage` was added
    // here, not asked for by whoever wrote the body: its last chunk (the
    // usage, with no choices) is Sluice's, not theirs.
    bool usageAdded = false;
};

// `estimator` counts the prompt (exactly where it can); null: the rule of thumb.
// prepareJobInto fills `out` (a PreparedJob as default-constructed) and moves from `job`: a JobSpec is a dozen
// strings and more, and each move of one through a by-value chain cost a
// short gateway request about 1.5% of its instructions.
void prepareJobInto(PreparedJob& out, const Config& config, JobSpec&& job, const PromptEstimator* estimator = nullptr);
PreparedJob prepareJob(const Config& config, JobSpec&& job, const PromptEstimator* estimator = nullptr);
PreparedJob prepareJob(const Config& config, const JobSpec& job, const PromptEstimator* estimator = nullptr);

// The headers every request to `provider` carries, secrets aside (content
// type, user agent, Accept for a stream, anthropic-version, the configured
// extra headers).
std::vector<std::string> commonHeaderLines(const ProviderConfig& provider, bool stream);

// commonHeaderLines as libcurl lists, built once per provider configuration
// and shared by every request sent with it. Thread-safety: none; one owner
// (the dispatcher thread).
class CommonHeaders {
public:
    // Most variants of the common lines kept at once (a client could send a
    // new anthropic-version with every request); past it they are rebuilt.
    static constexpr std::size_t kMaxVariants = 16;

    std::shared_ptr<const http::HeaderList> lines(const std::shared_ptr<const ProviderConfig>& provider, bool stream);
    // For a job's header lines (`extra`, often none): the shared list with
    // the common lines that one of `extra` names replaced by it (a variant
    // built once per distinct set of replacing lines; with none to replace,
    // the plain list), and in `own` the rest of `extra`, for the request's
    // own headers.
    std::shared_ptr<const http::HeaderList> lines(const std::shared_ptr<const ProviderConfig>& provider, bool stream,
                                                  const std::vector<std::string>& extra, std::vector<std::string>& own);

private:
    void renew(const std::shared_ptr<const ProviderConfig>& provider);

    std::shared_ptr<const ProviderConfig> m_builtFor;  // held: a new configuration never reuses its address
    std::shared_ptr<const http::HeaderList> m_lists[2];  // [stream]
    std::vector<std::string> m_text[2];                  // [stream]: the lines of m_lists
    std::map<std::string, std::shared_ptr<const http::HeaderList>, std::less<>> m_variants[2];  // by replacing lines
};

// `lines` with every line whose name one of `extra` has (regardless of
// case) replaced: those lines left out, `extra` appended.
std::vector<std::string> withHeaderLines(std::vector<std::string> lines, const std::vector<std::string>& extra);

// The request for a prepared job on `key` of `provider`; a deadline
// shortens the total timeout. With `common`, the common headers are its
// shared lists (sharedHeaders), not copied into `headers`, and `extra` is
// sent as well (CommonHeaders::lines with extra gives both); without, the
// common lines go into `headers` with `extra` replacing those it names.
http::HttpRequest buildRequest(const ProviderConfig& provider, const KeyConfig& key, const RequestInfo& info,
                               const std::string& bodyText, std::optional<TimePoint> deadline, TimePoint now,
                               std::shared_ptr<const http::HeaderList> common = nullptr,
                               std::vector<std::string> extra = {});

}  // namespace sluice
