#include "simulate/sim_transport.h"

#include "mock/behaviour.h"
#include "mock/dialect.h"
#include "net/http_server.h"

#include <algorithm>
#include <cctype>

namespace sluice::simulate {

namespace {

using namespace std::chrono_literals;

// A refusal goes back at once; this stands for the round trip.
constexpr Duration kRoundTrip = 20ms;
// The least a poll that finds nothing due moves the clock.
constexpr Duration kIdleStep = 1ms;

http::HeaderMap toHeaderMap(const net::HttpHeaders& headers)
{
    http::HeaderMap out;
    for (const auto& [name, value] : headers) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        out[lower] = value;
    }
    return out;
}

// The key a request carries: the last word of its credential header
// ("Authorization: Bearer K", "x-api-key: K").
std::string keyOf(const http::HttpRequest& request)
{
    if (!request.secretHeader) {
        return {};
    }
    const std::string_view h = request.secretHeader->view();
    const auto space = h.find_last_of(' ');
    return std::string(space == std::string_view::npos ? h : h.substr(space + 1));
}

bool isAnthropic(const std::string& url)
{
    return url.size() >= 9 && url.compare(url.size() - 9, 9, "/messages") == 0;
}

}  // namespace

SimTransport::SimTransport(ManualClock& clock, mock::MockConfig provider, OutputOf outputOf,
                           std::vector<ProviderWideLimit> providerWide, FailureMix faults)
    : m_clock(clock), m_provider(std::move(provider)), m_outputOf(std::move(outputOf)),
      m_wideLimits(std::move(providerWide)), m_faults(faults)
{
}

// What decide() knows about one request once it has parsed it.
struct SimTransport::Deciding {
    const http::HttpRequest& request;
    const mock::Dialect& dialect;
    const mock::CompletionRequest& r;
    const std::string& key;
    const mock::RateLimits& limits;
    std::uint64_t seq;
    TimePoint now;
    WallTime wall;
    mock::Charge charge;
    mock::LimitDecision decision;
    std::string wide;  // the provider-wide limit charged, if any
    net::HttpHeaders headers;
    std::optional<mock::ErrorCase> drawnError;  // set by drawnFault
};

SimTransport::Answer SimTransport::decide(const http::HttpRequest& request, TimePoint now)
{
    const mock::Dialect& dialect = isAnthropic(request.url) ? mock::anthropicDialect() : mock::openAiDialect();
    const std::uint64_t seq = m_counts.requests++;
    const std::string requestId = mock::dialect::randomId("req_", m_provider.seed ^ (seq * 0x9E3779B97F4A7C15ULL), 24);
    const WallTime wall = m_clock.toWall(now);
    Answer a;
    a.after = kRoundTrip;
    const auto refuse = [&](mock::ApiError e) {
        ++m_counts.rejected;
        a.status = e.status;
        a.body = std::move(e.body);
        return a;
    };
    const std::string key = keyOf(request);
    const auto k = m_provider.keys.find(key);
    if (k == m_provider.keys.end() || k->second.disabled) {
        return refuse(dialect.error(mock::ErrorCase::InvalidKey, mock::ErrorContext{.key = "sim", .requestId = requestId}));
    }
    auto parsed = dialect.parse(request.body, m_provider, requestId);
    if (auto* e = std::get_if<mock::ApiError>(&parsed)) {
        return refuse(std::move(*e));
    }
    const mock::CompletionRequest& r = std::get<mock::CompletionRequest>(parsed);
    const std::optional<mock::RateLimits> limits = m_provider.limitsFor(key, r.model);
    if (!limits) {
        return refuse(dialect.error(mock::ErrorCase::UnknownModel, mock::ErrorContext{.model = r.model, .requestId = requestId}));
    }
    Deciding d{.request = request, .dialect = dialect, .r = r, .key = key, .limits = *limits, .seq = seq,
               .now = now, .wall = wall, .charge = {}, .decision = {}, .wide = {}, .headers = {},
               .drawnError = std::nullopt};
    admitLimits(d);
    dialect.addCommonHeaders(d.headers, requestId, m_provider);
    if (m_provider.limitsEnabled && m_provider.rateLimitHeaders) {
        dialect.addRateLimitHeaders(d.headers, d.decision.states, wall, false);
    }
    const mock::ErrorContext ctx{.model = r.model, .key = "sim", .requestId = requestId, .limit = &d.decision,
                                 .now = wall};
    const auto answerError = [&](mock::ErrorCase what) {
        mock::ApiError e = dialect.error(what, ctx);
        a.status = e.status;
        a.body = std::move(e.body);
        a.headers = toHeaderMap(d.headers);
        return a;
    };
    if (d.decision.outcome == mock::LimitOutcome::RateLimited) {
        ++m_counts.rateLimited;
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(d.decision.retryAfter).count();
        d.headers.emplace_back("retry-after", std::to_string(std::max<std::int64_t>(1, seconds)));
        if (m_provider.retryAfterMs) {
            d.headers.emplace_back(
                "retry-after-ms",
                std::to_string(std::chrono::ceil<std::chrono::milliseconds>(d.decision.retryAfter).count()));
        }
        return answerError(mock::ErrorCase::RateLimited);
    }
    if (d.decision.outcome == mock::LimitOutcome::TooLarge) {
        ++m_counts.rejected;
        return answerError(mock::ErrorCase::RequestTooLarge);
    }
    ++m_counts.admitted;
    if (drawnFault(d, a)) {
        return d.drawnError ? answerError(*d.drawnError) : a;
    }
    answerAdmitted(d, a);
    return a;
}

// The charge as the mock makes it (OpenAI's TPM is prompt + max output),
// against the key's limits and then the provider's over all its keys.
void SimTransport::admitLimits(Deciding& d)
{
    const std::int64_t maxOutput = d.r.maxTokens * d.r.n;
    d.charge.tokens =
        d.r.inputTokens + (d.limits.tokenCharging == mock::TokenCharging::OnCompletion ? 0 : maxOutput);
    d.charge.inputTokens = d.r.inputTokens;
    d.charge.outputTokens = d.limits.outputCharging == mock::OutputCharging::ReserveThenCorrect ? maxOutput : 0;
    if (!m_provider.limitsEnabled) {
        return;
    }
    d.decision = m_limits.admit(d.key, d.r.model, d.limits, d.charge, d.now);
    // The provider's limit over all its keys and models binds too: a
    // request it refuses is not counted against the key's.
    for (const ProviderWideLimit& w : m_wideLimits) {
        if (d.decision.outcome != mock::LimitOutcome::Admitted || w.keys.count(d.key) == 0) {
            continue;
        }
        mock::LimitDecision wideDecision = m_wide.admit(w.provider, "*", w.limits, d.charge, d.now);
        if (wideDecision.outcome != mock::LimitOutcome::Admitted) {
            m_limits.refund(d.key, d.r.model, d.charge, d.now);
            ++m_counts.providerLimited;
            d.decision = std::move(wideDecision);
        } else {
            d.wide = w.provider;
        }
        break;
    }
}

// Draws the failure mix for an admitted request: true when it fails, with
// d.drawnError the error to answer (the caller writes it) or a.timedOut.
bool SimTransport::drawnFault(Deciding& d, Answer& a)
{
    if (!m_faults.any()) {
        return false;
    }
    // A stream of draws of its own, so the answers' draws are the same with
    // a failure mix as without.
    mock::Rng draw(m_provider.seed ^ 0xFA17FA17FA17FA17ULL, d.seq);
    const double u = draw.uniform();
    if (u < m_faults.serverError) {
        // Charged, as a provider's failed request is.
        ++m_counts.serverErrors;
        d.drawnError = mock::ErrorCase::ServerError;
        a.after = mock::scaledMs(m_provider.latency.baseMs, 1.0);
        return true;
    }
    if (u < m_faults.serverError + m_faults.rateLimited) {
        // Refused for a reason its limits do not show: nothing counted.
        ++m_counts.rateLimited;
        ++m_counts.drawnRateLimited;
        m_limits.refund(d.key, d.r.model, d.charge, d.now);
        if (!d.wide.empty()) {
            m_wide.refund(d.wide, "*", d.charge, d.now);
        }
        d.headers.emplace_back("retry-after", "1");
        d.drawnError = mock::ErrorCase::RateLimited;
        return true;
    }
    if (u < m_faults.serverError + m_faults.rateLimited + m_faults.timeout) {
        ++m_counts.timeouts;
        a.timedOut = true;
        a.after = d.request.totalTimeout;
        return true;
    }
    return false;
}

// The answer to an admitted request: its output drawn (or recorded), its
// latency, its body.
void SimTransport::answerAdmitted(Deciding& d, Answer& a)
{
    mock::Rng rng(m_provider.seed, d.seq);
    const double factor = mock::drawLatencyFactor(m_provider.latency, rng);
    mock::MockReply c;
    c.created = std::chrono::duration_cast<std::chrono::seconds>(d.wall.time_since_epoch()).count();
    c.textSeed = rng.next();
    std::optional<std::int64_t> recorded;
    if (m_outputOf) {
        recorded = m_outputOf(nlohmann::json::parse(d.request.body, nullptr, false));
    }
    const int choices = d.dialect.flavour() == mock::Flavour::Anthropic ? 1 : d.r.n;
    for (int i = 0; i < choices; ++i) {
        c.outputTokens.push_back(recorded ? std::clamp<std::int64_t>(*recorded, 1, d.r.maxTokens)
                                          : mock::drawOutputTokens(m_provider.output, d.r.maxTokens, rng));
    }
    c.id = d.dialect.flavour() == mock::Flavour::Anthropic ? mock::dialect::randomId("msg_01", rng.next(), 22)
                                                          : mock::dialect::randomId("chatcmpl-", rng.next(), 29);
    const Duration perToken = mock::scaledMs(m_provider.latency.perOutputTokenMs, factor);
    a.after = mock::scaledMs(m_provider.latency.baseMs, factor) + perToken * c.totalOutput();
    a.status = 200;
    a.body = d.dialect.body(d.r, c);
    d.headers.emplace_back("content-type", "application/json");
    a.headers = toHeaderMap(d.headers);
    a.key = d.key;
    a.model = d.r.model;
    a.wide = d.wide;
    a.outputDelta = c.totalOutput() - d.charge.outputTokens;
    a.unusedOutput = d.r.maxTokens * d.r.n - c.totalOutput();
    a.producedOutput = c.totalOutput();
}

Transport::TransferId SimTransport::start(http::HttpRequest request, http::TransferHandlers handlers)
{
    const TimePoint now = m_clock.now();
    std::lock_guard g(m_mutex);
    Answer answer = decide(request, now);
    const TransferId id = m_nextId++;
    m_open.emplace(id, std::move(handlers));
    const Duration after = answer.after;
    pushLocked(now + after, [this, id, answer = std::move(answer)]() mutable { finish(id, std::move(answer)); });
    return id;
}

void SimTransport::finish(TransferId id, Answer answer)
{
    http::TransferHandlers h;
    {
        std::lock_guard g(m_mutex);
        const auto it = m_open.find(id);
        if (it == m_open.end()) {
            return;
        }
        h = std::move(it->second);
        m_open.erase(it);
    }
    if (!answer.key.empty()) {
        m_limits.settleTokens(answer.key, answer.model, answer.unusedOutput, answer.producedOutput, m_clock.now());
    }
    if (!answer.key.empty() && answer.outputDelta != 0) {
        m_limits.adjustOutput(answer.key, answer.model, answer.outputDelta, m_clock.now());
        if (!answer.wide.empty()) {
            std::lock_guard g(m_mutex);
            m_wide.adjustOutput(answer.wide, "*", answer.outputDelta, m_clock.now());
        }
    }
    if (answer.timedOut) {
        http::HttpResult r;
        r.error = http::TransportError::Timeout;
        r.errorText = "timed out (simulated: no answer)";
        r.total = answer.after;
        h.onComplete(std::move(r));
        return;
    }
    if (h.onHeaders) {
        h.onHeaders(answer.status, answer.headers);
    }
    http::HttpResult r;
    r.status = answer.status;
    r.total = answer.after;
    r.timeToFirstByte = answer.after;
    if (h.onData) {
        h.onData(answer.body);
    } else {
        r.body = std::move(answer.body);
    }
    r.headers = std::move(answer.headers);
    h.onComplete(std::move(r));
}

void SimTransport::abort(TransferId id)
{
    http::TransferHandlers h;
    {
        std::lock_guard g(m_mutex);
        const auto it = m_open.find(id);
        if (it == m_open.end()) {
            return;
        }
        h = std::move(it->second);
        m_open.erase(it);
    }
    http::HttpResult r;
    r.error = http::TransportError::Aborted;
    r.errorText = "aborted";
    h.onComplete(std::move(r));
}

void SimTransport::poll(Duration timeout)
{
    std::vector<std::function<void()>> due;
    {
        std::unique_lock l(m_mutex);
        if (!m_woken) {
            // Nothing is pending for the dispatcher: jump to the next thing
            // that happens. Advancing wakes the dispatcher (its clock
            // subscription calls wakeup()), which is this very thread.
            const TimePoint now = m_clock.now();
            TimePoint target = now + timeout;
            if (!m_events.empty()) {
                target = std::min(target, m_events.top().at);
            }
            if (target <= now && (m_events.empty() || m_events.top().at > now)) {
                // Asked to wake at once with nothing new to tell it: on a
                // real clock time would have moved on meanwhile, so it does
                // here too, and a dispatcher that finds nothing to do now
                // cannot spin on a clock that stands still.
                target = now + kIdleStep;
            }
            l.unlock();
            m_clock.advanceTo(target);
            l.lock();
        }
        m_woken = false;
        const TimePoint now = m_clock.now();
        while (!m_events.empty() && m_events.top().at <= now) {
            due.push_back(std::move(const_cast<Event&>(m_events.top()).action));
            m_events.pop();
        }
    }
    for (auto& f : due) {
        f();
    }
}

void SimTransport::wakeup()
{
    std::lock_guard g(m_mutex);
    m_woken = true;
}

void SimTransport::schedule(TimePoint at, std::function<void()> action)
{
    std::lock_guard g(m_mutex);
    pushLocked(at, std::move(action));
    m_woken = true;
}

void SimTransport::pushLocked(TimePoint at, std::function<void()> action)
{
    m_events.push(Event{at, m_seq++, std::move(action)});
}

SimProviderCounts SimTransport::counts() const
{
    std::lock_guard g(m_mutex);
    return m_counts;
}

}  // namespace sluice::simulate
