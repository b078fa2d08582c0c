#include "dispatch/job_prep.h"

#include "dispatch/timeline.h"
#include "http/header_text.h"
#include "providers/chat_scan.h"
#include "providers/openai_endpoints.h"

#include <algorithm>
#include <iterator>

namespace sluice {

namespace {

std::string_view headerName(std::string_view line) noexcept
{
    return line.substr(0, line.find(':'));
}

bool sameName(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return http::lowerAsciiChar(x) == http::lowerAsciiChar(y);
           });
}

// The elements of a comma-separated header value, without the blanks
// around them; empty ones left out.
std::vector<std::string_view> listItems(std::string_view value)
{
    std::vector<std::string_view> items;
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        if (const std::string_view item = http::trimHeaderText(value.substr(0, comma)); !item.empty()) {
            items.push_back(item);
        }
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    }
    return items;
}

// A caller's anthropic-beta joins the provider's configured one instead of
// replacing it: the configured betas are the operator's, for every request,
// and the client's are its own. Each beta once, the configured ones first.
void mergeBetas(const ProviderConfig& pc, std::vector<std::string>& headerLines)
{
    constexpr std::string_view kBeta = "anthropic-beta";
    const auto named = [&](const std::string& l) { return sameName(headerName(l), kBeta); };
    const auto configured = std::find_if(pc.headers.begin(), pc.headers.end(), named);
    if (configured == pc.headers.end()) {
        return;
    }
    const auto valueOf = [](std::string_view line) {
        return http::trimHeaderText(line.substr(std::min(line.size(), line.find(':') + 1)));
    };
    const std::vector<std::string_view> have = listItems(valueOf(*configured));
    for (std::string& line : headerLines) {
        if (!named(line)) {
            continue;
        }
        std::string merged(valueOf(*configured));
        std::vector<std::string_view> seen = have;  // views into `line` too: gone with this turn
        for (const std::string_view beta : listItems(valueOf(line))) {
            if (std::find(seen.begin(), seen.end(), beta) == seen.end()) {
                merged.append(merged.empty() ? "" : ",").append(beta);
                seen.push_back(beta);
            }
        }
        line = "anthropic-beta: " + merged;
    }
}

RequestInfo objectRequestInfo(const JobSpec& job, const std::string& model)
{
    if (job.objectPath.front() != '/') {
        throw InputError("objectPath: \"" + job.objectPath + "\" must start with /");
    }
    RequestInfo info;
    info.endpoint = job.endpoint;
    info.model = model;
    info.method = job.method.empty() ? "POST" : job.method;
    info.objectPath = job.objectPath;
    info.storedObject = true;
    info.maxOutputTokens = 0;
    // GET /v1/responses/{id}?stream=true replays a background response's
    // events.
    if (const auto query = job.objectPath.find('?'); query != std::string::npos) {
        std::string_view rest = std::string_view(job.objectPath).substr(query + 1);
        while (!rest.empty() && !info.stream) {
            const std::size_t amp = rest.find('&');
            info.stream = rest.substr(0, amp) == "stream=true";
            rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        }
    }
    return info;
}

// A request to the endpoint itself or a compaction is priced from its
// body; any other objectPath names something stored.
RequestInfo analyzeJob(const JobSpec& job, const std::string& model, std::int64_t defaultMax,
                       const PromptEstimator* estimator)
{
    if (job.objectPath.empty()) {
        return analyzeEndpointRequest(job.flavor, job.endpoint, job.body, defaultMax, estimator);
    }
    if (isCompaction(job.flavor, job.endpoint, job.method, job.objectPath)) {
        return analyzeResponsesCompaction(job.body, defaultMax, estimator);
    }
    return objectRequestInfo(job, model);
}

// The model the body names ("" for none). A body read without a document
// (JobSpec::chat) must come with its text, for a Chat Completions request.
std::string modelOf(const JobSpec& job)
{
    if (job.chat != nullptr) {
        if (job.bodyText.empty() || job.flavor != ApiFlavor::OpenAI || job.endpoint != Endpoint::Completion ||
            !job.objectPath.empty()) {
            throw InputError("body: a chat request read without a document needs its text, on /v1/chat/completions");
        }
        return job.chat->model;
    }
    const auto model = job.body.is_object() ? job.body.find("model") : job.body.end();
    return job.body.is_object() && model != job.body.end() && model->is_string() ? model->get<std::string>()
                                                                                 : std::string();
}

// Without stream_options.include_usage a chat stream never reports usage
// and cannot be settled: added where the body does not ask for it; true
// when added.
bool addIncludeUsage(JobSpec& job)
{
    if (job.chat != nullptr) {
        // scanChatRequest reads no body with stream_options: the member goes
        // into the client's own text, before the object's closing brace, and
        // the rest is sent as the client wrote it.
        const std::size_t close = job.bodyText.rfind('}');
        if (close == std::string::npos) {
            throw InputError("body: a chat request read without a document must be an object");
        }
        job.bodyText.insert(close, R"(,"stream_options":{"include_usage":true})");
        return true;
    }
    if (const auto options = job.body.find("stream_options"); options != job.body.end() && options->is_object()) {
        const auto usage = options->find("include_usage");
        if (usage != options->end() && usage->is_boolean() && usage->get<bool>()) {
            return false;
        }
    }
    job.body["stream_options"]["include_usage"] = true;
    job.bodyText.clear();  // the text no longer says what is sent
    return true;
}

}  // namespace

PreparedJob prepareJob(const Config& config, JobSpec&& job, const PromptEstimator* estimator)
{
    PreparedJob p;
    prepareJobInto(p, config, std::move(job), estimator);
    return p;
}

PreparedJob prepareJob(const Config& config, const JobSpec& job, const PromptEstimator* estimator)
{
    return prepareJob(config, JobSpec(job), estimator);
}

void prepareJobInto(PreparedJob& p, const Config& config, JobSpec&& job, const PromptEstimator* estimator)
{
    if (job.customId.empty()) {
        throw InputError("custom_id: required");
    }
    // The model decides the provider; the provider's model settings decide
    // the default output reservation.
    const std::string modelName = modelOf(job);
    const ProviderConfig* pc = config.route(job.flavor, modelName, job.provider);
    std::int64_t defaultMax = 4096;
    if (pc != nullptr) {
        if (const ModelConfig* mc = pc->model(modelName)) {
            defaultMax = mc->defaultMaxTokens;
        }
    }
    RequestInfo info = job.chat != nullptr ? analyzeScannedChat(*job.chat, defaultMax, estimator)
                                           : analyzeJob(job, modelName, defaultMax, estimator);
    if (pc == nullptr) {
        throw InputError(job.provider.empty()
                             ? "body.model: no " + std::string(flavorName(job.flavor)) +
                                   " provider in the config serves model \"" + info.model + "\""
                             : "provider: \"" + job.provider + "\" is not a configured " +
                                   std::string(flavorName(job.flavor)) + " provider serving \"" + info.model + "\"");
    }
    if (!job.key.empty() && std::none_of(pc->keys.begin(), pc->keys.end(),
                                         [&](const KeyConfig& k) { return k.name == job.key; })) {
        throw InputError("key: \"" + job.key + "\" is not a key of provider \"" + pc->name + "\"");
    }
    if (!job.headerLines.empty()) {
        mergeBetas(*pc, job.headerLines);
    }
    const bool usageAdded =
        job.flavor == ApiFlavor::OpenAI && info.endpoint == Endpoint::Completion && info.stream && addIncludeUsage(job);
    p.usageAdded = usageAdded;
    if (info.storedObject) {
        // Reading a stored answer generates none: it holds a connection
        // (concurrency) and spends no request or token budget.
        p.cost = Cost{0, 0, 0, 0, 1};
        p.provider = static_cast<std::size_t>(pc - config.providers.data());
        p.bodyText = std::move(job.bodyText);
        job.body = nlohmann::json();
        p.info = std::move(info);
        p.job = std::move(job);
        return;
    }
    if (job.contextTokens > 0) {
        info.prompt.context = job.contextTokens;
        info.prompt.tokens += job.contextTokens;
        info.promptTokens += job.contextTokens;
    }
    p.cost.requests = 1;
    p.cost.inputTokens = info.promptTokens;
    p.cost.outputTokens = info.reservedOutputTokens();
    p.cost.spendMicroUsd =
        config.pricing.microUsd(info.model, TokenUsage{info.promptTokens, info.reservedOutputTokens(), 0, 0}).value_or(0);
    p.cost.weight = 1;
    p.provider = static_cast<std::size_t>(pc - config.providers.data());
    p.bodyText = job.bodyText.empty() ? job.body.dump() : std::move(job.bodyText);
    job.bodyText = std::string();
    // The text is what gets sent; free the document here, on the caller's
    // thread, rather than on the dispatcher's when the job ends.
    job.body = nlohmann::json();
    job.chat.reset();
    p.info = std::move(info);
    p.job = std::move(job);
}

std::vector<std::string> commonHeaderLines(const ProviderConfig& pc, bool stream)
{
    std::vector<std::string> lines;
    lines.reserve(4 + pc.headers.size());
    lines.emplace_back("Content-Type: application/json");
    lines.emplace_back("User-Agent: sluice/0.1");
    if (stream) {
        lines.emplace_back("Accept: text/event-stream");
    }
    if (pc.flavor == ApiFlavor::Anthropic) {
        lines.push_back("anthropic-version: " + pc.anthropicVersion);
    }
    lines.insert(lines.end(), pc.headers.begin(), pc.headers.end());
    return lines;
}


std::vector<std::string> withHeaderLines(std::vector<std::string> lines, const std::vector<std::string>& extra)
{
    std::erase_if(lines, [&](const std::string& line) {
        return std::any_of(extra.begin(), extra.end(),
                           [&](const std::string& e) { return sameName(headerName(line), headerName(e)); });
    });
    lines.insert(lines.end(), extra.begin(), extra.end());
    return lines;
}

void CommonHeaders::renew(const std::shared_ptr<const ProviderConfig>& provider)
{
    if (m_builtFor != provider) {
        m_builtFor = provider;
        for (int i = 0; i < 2; ++i) {
            m_lists[i] = nullptr;
            m_text[i] = commonHeaderLines(*provider, i == 1);
            m_variants[i].clear();
        }
    }
}

std::shared_ptr<const http::HeaderList> CommonHeaders::lines(const std::shared_ptr<const ProviderConfig>& pc,
                                                             bool stream)
{
    renew(pc);
    auto& list = m_lists[stream ? 1 : 0];
    if (!list) {
        auto built = std::make_shared<http::HeaderList>();
        for (const std::string& line : m_text[stream ? 1 : 0]) {
            built->append(line);
        }
        list = std::move(built);
    }
    return list;
}

std::shared_ptr<const http::HeaderList> CommonHeaders::lines(const std::shared_ptr<const ProviderConfig>& pc,
                                                             bool stream, const std::vector<std::string>& extra,
                                                             std::vector<std::string>& own)
{
    renew(pc);
    const int s = stream ? 1 : 0;
    const auto replaces = [&](const std::string& e) {
        const std::string_view name = headerName(e);
        return std::any_of(m_text[s].begin(), m_text[s].end(),
                           [&](const std::string& c) { return sameName(headerName(c), name); });
    };
    // The variant's key: the replacing line itself when there is one (the
    // usual case, a client's anthropic-version: no string is built), else
    // the lines each ended by a newline.
    std::string_view single;
    std::string several;
    int count = 0;
    for (const std::string& e : extra) {
        if (!replaces(e)) {
            own.push_back(e);
        } else if (++count == 1) {
            single = e;
        } else {
            if (count == 2) {
                several.append(single).push_back('\n');
            }
            several.append(e).push_back('\n');
        }
    }
    if (count == 0) {
        return lines(pc, stream);
    }
    const std::string_view key = count == 1 ? single : std::string_view(several);
    auto& variants = m_variants[s];
    if (const auto it = variants.find(key); it != variants.end()) {
        return it->second;
    }
    if (variants.size() >= kMaxVariants) {
        variants.clear();
    }
    std::vector<std::string> replaced;
    std::copy_if(extra.begin(), extra.end(), std::back_inserter(replaced), replaces);
    auto built = std::make_shared<http::HeaderList>();
    for (const std::string& line : withHeaderLines(m_text[s], replaced)) {
        built->append(line);
    }
    return variants.emplace(std::string(key), std::move(built)).first->second;
}

http::HttpRequest buildRequest(const ProviderConfig& pc, const KeyConfig& key, const RequestInfo& info,
                               const std::string& bodyText, std::optional<TimePoint> deadline, TimePoint now,
                               std::shared_ptr<const http::HeaderList> common, std::vector<std::string> extra)
{
    http::HttpRequest req;
    req.method = info.method.empty() ? "POST" : info.method;
    req.url = concat(pc.baseUrl, endpointPath(pc.flavor, info.endpoint), info.objectPath);
    if (common) {
        req.sharedHeaders = std::move(common);
        req.headers = std::move(extra);
    } else {
        req.headers = withHeaderLines(commonHeaderLines(pc, info.stream), extra);
    }
    req.secretHeader = key.value.prefixed(pc.flavor == ApiFlavor::Anthropic ? "x-api-key: " : "Authorization: Bearer ");
    req.body = bodyText;
    req.connectTimeout = pc.connectTimeout;
    req.totalTimeout = pc.totalTimeout;
    if (deadline) {
        req.totalTimeout = std::clamp(*deadline - now, Duration(std::chrono::milliseconds(1)), req.totalTimeout);
    }
    req.allowHttp2 = pc.http2;
    return req;
}

}  // namespace sluice
