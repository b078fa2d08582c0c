// json_scan (the hand-written SSE2 scanner the dispatcher runs on every
// response body) against nlohmann's SAX parser and simdjson's DOM parser,
// each doing json_scan's job: check that the text is one well-formed JSON
// value and read the token counts in its "usage" object. Same inputs, same
// run, interleaved; reported as ns per text and as a ratio to json_scan.
// Inputs are shaped as providers send them: OpenAI and Anthropic
// non-streamed answers (short and long), OpenAI stream chunks (the data of
// each SSE event, the last one with usage), and a usage block alone.
//
//   bench_json_scan [--reps N] [--ms M]
#include "core/json_scan.h"
#include "providers/protocol.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace sluice;
using nlohmann::json;

namespace {

// The counts every reader extracts, compared across readers before timing.
struct Counts {
    bool valid = false;
    bool hasUsage = false;
    std::int64_t prompt = 0, completion = 0, cached = 0, input = 0, output = 0, cacheWrite = 0, cacheRead = 0;
    bool operator==(const Counts&) const = default;
};

// Where the usage is: a member of the top-level object ("usage"), or the
// text is the usage object itself.
enum class Shape { Body, UsageBlock };

// Sets the field a usage key names; nested "*_details" are handled by the
// callers (cached_tokens in prompt_tokens_details).
void setCount(Counts& c, std::string_view key, std::int64_t v)
{
    if (key == "prompt_tokens") {
        c.prompt = v;
    } else if (key == "completion_tokens") {
        c.completion = v;
    } else if (key == "input_tokens") {
        c.input = v;
    } else if (key == "output_tokens") {
        c.output = v;
    } else if (key == "cache_creation_input_tokens") {
        c.cacheWrite = v;
    } else if (key == "cache_read_input_tokens") {
        c.cacheRead = v;
    }
}

// ---- json_scan, as the dispatcher calls it (response_reader.cpp, protocol.cpp)

Counts withJsonScan(std::string_view text, Shape shape, ApiFlavor flavor)
{
    Counts c;
    UsageReader reader;
    if (shape == Shape::Body) {
        c.valid = scanJson(
            text,
            [&](std::string_view key, std::string_view value) {
                if (key == "usage") {
                    c.hasUsage = !value.empty() && value.front() == '{';
                }
            },
            "usage", [&reader](std::string_view key, std::string_view value) { reader.member(key, value); });
    } else {
        c.valid = scanJson(text, [&reader](std::string_view key, std::string_view value) { reader.member(key, value); });
        c.hasUsage = c.valid;
    }
    if (c.valid && c.hasUsage) {
        const ResponseUsage u = reader.result(flavor);
        if (flavor == ApiFlavor::OpenAI) {
            c.prompt = u.inputTokens;
            c.completion = u.outputTokens;
            c.cached = u.billed.cachedInputTokens;
        } else {
            c.input = u.billed.inputTokens;
            c.output = u.outputTokens;
            c.cacheWrite = u.billed.cacheWriteTokens;
            c.cacheRead = u.billed.cachedInputTokens;
        }
    }
    return c;
}

// ---- nlohmann's SAX parser: validates the whole text, builds nothing

class UsageSax {
public:
    UsageSax(Counts& c, Shape shape) : m_c(c), m_usageDepth(shape == Shape::Body ? 2 : 1) {}

    bool null() { return value(); }
    bool boolean(bool) { return value(); }
    bool number_integer(json::number_integer_t v) { return number(v); }
    bool number_unsigned(json::number_unsigned_t v) { return number(static_cast<std::int64_t>(v)); }
    bool number_float(json::number_float_t, const json::string_t&) { return value(); }
    bool string(json::string_t&) { return value(); }
    bool binary(json::binary_t&) { return value(); }
    bool start_object(std::size_t)
    {
        ++m_depth;
        if (m_depth == m_usageDepth && (m_usageDepth == 1 || m_key == Key::Usage)) {
            m_inUsage = true;
            m_c.hasUsage = true;
        } else if (m_inUsage && m_depth == m_usageDepth + 1 && m_key == Key::PromptDetails) {
            m_inDetails = true;
        }
        m_key = Key::Other;
        return true;
    }
    bool end_object()
    {
        if (m_inDetails && m_depth == m_usageDepth + 1) {
            m_inDetails = false;
        } else if (m_inUsage && m_depth == m_usageDepth) {
            m_inUsage = false;
        }
        --m_depth;
        m_key = Key::Other;
        return true;
    }
    bool start_array(std::size_t)
    {
        ++m_depth;
        m_key = Key::Other;
        return true;
    }
    bool end_array()
    {
        --m_depth;
        return true;
    }
    bool key(json::string_t& k)
    {
        m_key = Key::Other;
        m_name = {};
        if (m_depth == m_usageDepth - 1 && k == "usage") {
            m_key = Key::Usage;
        } else if (m_inUsage && m_depth == m_usageDepth) {
            m_key = k == "prompt_tokens_details" ? Key::PromptDetails : Key::Count;
            m_name = k;
        } else if (m_inDetails && m_depth == m_usageDepth + 1 && k == "cached_tokens") {
            m_key = Key::Cached;
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

private:
    enum class Key { Other, Usage, PromptDetails, Count, Cached };
    bool value()
    {
        m_key = Key::Other;
        return true;
    }
    bool number(std::int64_t v)
    {
        if (m_key == Key::Count) {
            setCount(m_c, m_name, v);
        } else if (m_key == Key::Cached) {
            m_c.cached = v;
        }
        m_key = Key::Other;
        return true;
    }

    Counts& m_c;
    const int m_usageDepth;
    int m_depth = 0;
    bool m_inUsage = false;
    bool m_inDetails = false;
    Key m_key = Key::Other;
    std::string m_name;
};

Counts withNlohmannSax(std::string_view text, Shape shape, ApiFlavor)
{
    Counts c;
    UsageSax sax(c, shape);
    c.valid = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true);
    if (!c.valid) {
        return Counts{};
    }
    return c;
}

// ---- nlohmann DOM: what the code did before json_scan (for reference)

Counts withNlohmannDom(std::string_view text, Shape shape, ApiFlavor)
{
    Counts c;
    const json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        return c;
    }
    c.valid = true;
    const json* usage = shape == Shape::UsageBlock ? &doc : nullptr;
    if (shape == Shape::Body && doc.is_object()) {
        const auto it = doc.find("usage");
        usage = it != doc.end() && it->is_object() ? &*it : nullptr;
    }
    if (usage == nullptr || !usage->is_object()) {
        return c;
    }
    c.hasUsage = true;
    for (const auto& [k, v] : usage->items()) {
        if (v.is_number_integer()) {
            setCount(c, k, v.get<std::int64_t>());
        } else if (k == "prompt_tokens_details" && v.is_object()) {
            const auto cached = v.find("cached_tokens");
            if (cached != v.end() && cached->is_number_integer()) {
                c.cached = cached->get<std::int64_t>();
            }
        }
    }
    return c;
}

// ---- simdjson DOM: validates the whole text (stage 1 and 2), then looks up

class SimdReader {
public:
    Counts operator()(const std::string& padded, std::size_t length, Shape shape)
    {
        Counts c;
        simdjson::dom::element doc;
        if (m_parser.parse(padded.data(), length, false).get(doc) != simdjson::SUCCESS) {
            return c;
        }
        c.valid = true;
        simdjson::dom::object usage;
        const bool found = shape == Shape::UsageBlock ? doc.get_object().get(usage) == simdjson::SUCCESS
                                                      : doc["usage"].get_object().get(usage) == simdjson::SUCCESS;
        if (!found) {
            return c;
        }
        c.hasUsage = true;
        for (const auto field : usage) {
            std::int64_t v = 0;
            if (field.value.get_int64().get(v) == simdjson::SUCCESS) {
                setCount(c, field.key, v);
            } else if (field.key == "prompt_tokens_details") {
                std::int64_t cached = 0;
                if (field.value["cached_tokens"].get_int64().get(cached) == simdjson::SUCCESS) {
                    c.cached = cached;
                }
            }
        }
        return c;
    }

private:
    simdjson::dom::parser m_parser;
};

// ---- inputs

std::string prose(std::size_t chars)
{
    // An answer's text with what JSON escapes in real answers: newlines,
    // quotes, a backslash, non-ASCII.
    static const std::string kPara =
        "Here is a short answer to your question.\\n\\n1. The \\\"limit\\\" applies per key and per model; "
        "requests above it receive HTTP 429.\\n2. Tokens are counted on arrival (prompt + max_tokens), "
        "then corrected \\u2014 caf\u00e9, na\u00efve, \u65e5\u672c\u8a9e.\\n3. Paths like C:\\\\data are escaped. ";
    std::string out;
    while (out.size() < chars) {
        out += kPara;
    }
    return out;
}

std::string openAiCompletion(std::size_t contentChars)
{
    return R"({"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion","created":1741570283,)"
           R"("model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":")" +
           prose(contentChars) +
           R"(","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],)"
           R"("usage":{"prompt_tokens":1117,"completion_tokens":946,"total_tokens":2063,)"
           R"("prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},)"
           R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,)"
           R"("rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_06737a9306"})";
}

std::string anthropicMessage(std::size_t contentChars)
{
    return R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-haiku-4-5",)"
           R"("content":[{"type":"text","text":")" +
           prose(contentChars) +
           R"("}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2095,)"
           R"("cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":503,)"
           R"("service_tier":"standard"}})";
}

// The data of each event of a streamed chat completion with
// stream_options.include_usage: a role chunk, content deltas, the finish
// chunk, then the usage chunk (choices empty).
std::vector<std::string> openAiStreamChunks(int deltas)
{
    const std::string head =
        R"({"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,)"
        R"("model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306",)";
    std::vector<std::string> out;
    out.push_back(head + R"("choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},)"
                         R"("logprobs":null,"finish_reason":null}],"usage":null})");
    const char* words[] = {"The", " limit", " applies", " per", " key", " and", " per", " model", ";", " caf\u00e9",
                           "\\n", " \\\"429\\\"", " means", " slow", " down", "."};
    for (int i = 0; i < deltas; ++i) {
        out.push_back(head + R"("choices":[{"index":0,"delta":{"content":")" + words[i % 16] +
                      R"("},"logprobs":null,"finish_reason":null}],"usage":null})");
    }
    out.push_back(head + R"("choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})");
    out.push_back(head + R"("choices":[],"usage":{"prompt_tokens":1117,"completion_tokens":946,"total_tokens":2063,)"
                         R"("prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},)"
                         R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
                         R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})");
    return out;
}

struct Corpus {
    const char* name;
    Shape shape;
    ApiFlavor flavor;
    std::vector<std::string> texts;
    std::vector<std::string> padded;  // each text with simdjson's padding
    std::size_t bytes = 0;
};

Corpus corpus(const char* name, Shape shape, ApiFlavor flavor, std::vector<std::string> texts)
{
    Corpus c{name, shape, flavor, std::move(texts), {}, 0};
    for (const std::string& t : c.texts) {
        std::string p = t;
        p.append(simdjson::SIMDJSON_PADDING, ' ');
        c.padded.push_back(std::move(p));
        c.bytes += t.size();
    }
    return c;
}

using Clock = std::chrono::steady_clock;

// ns per text over one timed pass of at least `ms` milliseconds.
template <typename F>
double timePass(const Corpus& c, int ms, F&& read)
{
    std::int64_t sink = 0;
    std::size_t texts = 0;
    const auto start = Clock::now();
    const auto until = start + std::chrono::milliseconds(ms);
    auto now = start;
    do {
        for (std::size_t i = 0; i < c.texts.size(); ++i) {
            const Counts r = read(i);
            sink += r.prompt + r.input + (r.valid ? 1 : 0);
        }
        texts += c.texts.size();
        now = Clock::now();
    } while (now < until);
    if (sink == 42) {
        std::puts("");  // keeps the work observable
    }
    return std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(texts);
}

}  // namespace

int main(int argc, char** argv)
{
    int reps = 7;
    int ms = 150;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--reps") == 0) {
            reps = std::max(1, std::atoi(argv[i + 1]));
        } else if (std::strcmp(argv[i], "--ms") == 0) {
            ms = std::max(10, std::atoi(argv[i + 1]));
        }
    }

    std::vector<Corpus> corpora;
    corpora.push_back(corpus("OpenAI answer, 600 B text", Shape::Body, ApiFlavor::OpenAI, {openAiCompletion(600)}));
    corpora.push_back(corpus("OpenAI answer, 8 KB text", Shape::Body, ApiFlavor::OpenAI, {openAiCompletion(8000)}));
    corpora.push_back(corpus("Anthropic answer, 2 KB text", Shape::Body, ApiFlavor::Anthropic, {anthropicMessage(2000)}));
    corpora.push_back(corpus("OpenAI stream, 60 chunks", Shape::Body, ApiFlavor::OpenAI, openAiStreamChunks(60)));
    corpora.push_back(corpus("usage block alone", Shape::UsageBlock, ApiFlavor::OpenAI,
                             {json::parse(openAiCompletion(10))["usage"].dump()}));

    SimdReader simd;
    // The readers agree on every text (and on a broken one) before any timing.
    for (Corpus& c : corpora) {
        for (std::size_t i = 0; i < c.texts.size(); ++i) {
            const Counts a = withJsonScan(c.texts[i], c.shape, c.flavor);
            const Counts b = withNlohmannSax(c.texts[i], c.shape, c.flavor);
            const Counts d = withNlohmannDom(c.texts[i], c.shape, c.flavor);
            const Counts s = simd(c.padded[i], c.texts[i].size(), c.shape);
            if (!a.valid || !(a == b) || !(a == d) || !(a == s)) {
                std::fprintf(stderr, "bench_json_scan: readers disagree on %s text %zu\n", c.name, i);
                for (const Counts& x : {a, b, d, s}) {
                    std::fprintf(stderr, "  valid %d usage %d prompt %lld completion %lld cached %lld input %lld output %lld\n",
                                 x.valid, x.hasUsage, static_cast<long long>(x.prompt), static_cast<long long>(x.completion),
                                 static_cast<long long>(x.cached), static_cast<long long>(x.input), static_cast<long long>(x.output));
                }
                return 1;
            }
        }
        const std::string broken = c.texts[0].substr(0, c.texts[0].size() - 1);
        std::string brokenPadded = broken;
        brokenPadded.append(simdjson::SIMDJSON_PADDING, ' ');
        if (withJsonScan(broken, c.shape, c.flavor).valid || withNlohmannSax(broken, c.shape, c.flavor).valid ||
            simd(brokenPadded, broken.size(), c.shape).valid) {
            std::fprintf(stderr, "bench_json_scan: a truncated text passed for valid (%s)\n", c.name);
            return 1;
        }
    }

    std::printf("simdjson %d.%d.%d, implementation %s; best of %d passes of %d ms each, interleaved\n\n",
                int(simdjson::SIMDJSON_VERSION_MAJOR), int(simdjson::SIMDJSON_VERSION_MINOR),
                int(simdjson::SIMDJSON_VERSION_REVISION), simdjson::get_active_implementation()->name().c_str(), reps, ms);
    std::printf("%-28s %9s | %12s %12s %12s %12s | %9s %9s %9s\n", "input (bytes per text)", "bytes",
                "json_scan", "nlohmann SAX", "simdjson DOM", "nlohmann DOM", "SAX/scan", "simd/scan", "DOM/scan");
    for (const Corpus& c : corpora) {
        double best[4] = {1e300, 1e300, 1e300, 1e300};
        for (int r = 0; r < reps; ++r) {
            best[0] = std::min(best[0], timePass(c, ms, [&](std::size_t i) { return withJsonScan(c.texts[i], c.shape, c.flavor); }));
            best[1] = std::min(best[1], timePass(c, ms, [&](std::size_t i) { return withNlohmannSax(c.texts[i], c.shape, c.flavor); }));
            best[2] = std::min(best[2], timePass(c, ms, [&](std::size_t i) { return simd(c.padded[i], c.texts[i].size(), c.shape); }));
            best[3] = std::min(best[3], timePass(c, ms, [&](std::size_t i) { return withNlohmannDom(c.texts[i], c.shape, c.flavor); }));
        }
        const double perText = static_cast<double>(c.bytes) / static_cast<double>(c.texts.size());
        std::printf("%-28s %9.0f | %9.0f ns %9.0f ns %9.0f ns %9.0f ns | %8.2fx %8.2fx %8.2fx\n", c.name, perText,
                    best[0], best[1], best[2], best[3], best[1] / best[0], best[2] / best[0], best[3] / best[0]);
    }
    std::printf("\nns per text (lower is faster); ratios above 1: json_scan is faster.\n");

    // What the dispatcher does with each event of a streamed answer: the
    // whole StreamAccumulator (SSE framing, reading the chunk, the text kept
    // for the assembled body), against parsing each chunk into a document
    // and nothing more.
    const std::vector<std::string>& chunks = corpora[3].texts;
    std::vector<std::string> events;
    for (const std::string& c : chunks) {
        events.push_back("data: " + c + "\n\n");
    }
    events.push_back("data: [DONE]\n\n");
    double bestAcc = 1e300;
    double bestDom = 1e300;
    std::size_t sink = 0;
    for (int r = 0; r < reps; ++r) {
        std::size_t n = 0;
        auto start = Clock::now();
        auto until = start + std::chrono::milliseconds(ms);
        auto now = start;
        do {
            StreamAccumulator acc(ApiFlavor::OpenAI);
            for (const std::string& e : events) {
                acc.feed(e);
            }
            sink += acc.complete() && acc.usage() ? 1 : 0;
            n += events.size();
            now = Clock::now();
        } while (now < until);
        bestAcc = std::min(bestAcc, std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(n));
        n = 0;
        start = Clock::now();
        until = start + std::chrono::milliseconds(ms);
        do {
            for (const std::string& c : chunks) {
                sink += json::parse(c).size();
            }
            n += chunks.size();
            now = Clock::now();
        } while (now < until);
        bestDom = std::min(bestDom, std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(n));
    }
    std::printf("\nStreamAccumulator, OpenAI chat stream (%zu events): %.0f ns per event; nlohmann DOM parse of each "
                "chunk alone: %.0f ns (%.2fx)%s\n",
                events.size(), bestAcc, bestDom, bestDom / bestAcc, sink == 0 ? " (no usage read)" : "");
    return 0;
}
