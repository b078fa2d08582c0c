// bench_soak_batch: does a long `sluice-cli batch` run stay flat? (Issue 13,
// "Soak".) It writes a batch of --requests requests, starts the real
// `sluice-cli mock` with faults on (server errors, overload, resets, stalls;
// limits a little under what Sluice is told, so 429s happen too) and the
// real `sluice-cli batch` against it at --rate requests/s, and samples the
// batch process every --sample-s seconds: resident memory, open file
// descriptors, threads, the state database's size (with its WAL), requests
// sent, and how late the process answers its /metrics endpoint (scraped
// every second; the metrics thread reads the dispatcher's and admission's
// state under their locks, so a stalled dispatcher shows there). At the end it
// checks the bar: after warm-up (--warmup-s) memory stays within 10% of the
// first steady sample, every input line has exactly one output line, and
// every one is a result or a dead letter with its reason. Exit 0 only when
// the bar is met.
//
//   build/release/bench/bench_soak_batch --requests 500000 --rate 600
//
// With --no-limits it measures throughput and memory instead (issue 12): no
// limits in the config or the mock, no faults, answers at once; it reports
// the peak resident memory from start to end (--max-rss-mb sets a bar on it)
// and the requests per second, reading and writing included:
//
//   build/release/bench/bench_soak_batch --no-limits --requests 1000000 --max-rss-mb 300
//
// Figures: docs/benchmarks.md, "Soak (issue 13)".
#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
    std::string cli = SLUICE_CLI_PATH;
    std::string dir;
    long requests = 500000;
    double rate = 600;
    int sampleSeconds = 60;
    int warmupSeconds = 120;
    // --no-limits: throughput and memory, not faults: no limits, no faults,
    // answers at once (issue 12: a batch's memory is bounded).
    bool noLimits = false;
    double maxRssMb = 0;  // --max-rss-mb: the bar on peak resident memory (0: none)
    bool compact = false;  // --compact: sluice-cli batch compacts its state after the output
};

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "bench_soak_batch: %s\n", what.c_str());
    std::exit(2);
}

std::uint16_t freePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        fail("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// Starts a child with stdout and stderr to `log`, and `env` added.
pid_t spawn(const std::vector<std::string>& args, const std::string& log, const std::vector<std::string>& env)
{
    const pid_t pid = ::fork();
    if (pid < 0) {
        fail("fork failed");
    }
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        for (const std::string& e : env) {
            ::putenv(const_cast<char*>(e.c_str()));
        }
        std::vector<char*> argv;
        for (const std::string& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::_Exit(127);
    }
    return pid;
}

size_t collect(char* data, size_t size, size_t n, void* out)
{
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// GET url; the body, or nullopt. `seconds` gets the time to the last byte.
std::optional<std::string> httpGet(const std::string& url, double* seconds = nullptr)
{
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    std::string body;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10000L);
    const auto start = Clock::now();
    const CURLcode rc = curl_easy_perform(curl.get());
    if (seconds != nullptr) {
        *seconds = std::chrono::duration<double>(Clock::now() - start).count();
    }
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        return std::nullopt;
    }
    return body;
}

long procStatus(pid_t pid, const char* field)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0) {
            return std::atol(line.c_str() + std::strlen(field));
        }
    }
    return -1;
}

long openFds(pid_t pid)
{
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (d == nullptr) {
        return -1;
    }
    long n = 0;
    while (const dirent* e = ::readdir(d)) {
        n += e->d_name[0] != '.' ? 1 : 0;
    }
    ::closedir(d);
    return n;
}

long long fileSize(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

// The sum of every sample of a Prometheus counter family.
double metricSum(const std::string& text, const std::string& family)
{
    double sum = 0;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(family, 0) == 0 && line.size() > family.size() &&
            (line[family.size()] == '{' || line[family.size()] == ' ')) {
            sum += std::atof(line.c_str() + line.rfind(' ') + 1);
        }
    }
    return sum;
}

struct Sample {
    int second = 0;
    double sent = 0;
    double rate = 0;  // requests sent per second since the previous sample
    long rssKb = 0;
    long fds = 0;
    long threads = 0;
    long long stateBytes = 0;
    double scrapeMaxMs = 0;
    double scrapeP99Ms = 0;
};

void writeNoLimitConfigs(const std::string& dir, std::uint16_t mockPort)
{
    const json mock = {{"seed", 13},
                       {"ioThreads", 2},
                       {"models", {{"gpt-4o-mini", {{"flavor", "openai"}}}, {"gpt-4o", {{"flavor", "openai"}}}}},
                       {"keys", {{"sk-mock", json::object()}}},
                       {"latency", {{"baseMs", 0}, {"perOutputTokenMs", 0}}},
                       {"output", {{"distribution", "uniform"}, {"min", 5}, {"max", 40}}}};
    std::ofstream(dir + "/mock.json") << mock.dump(2);
    const json config = {
        {"providers",
         {{{"name", "mock"},
           {"flavor", "openai"},
           {"base_url", "http://127.0.0.1:" + std::to_string(mockPort)},
           {"models", {{"gpt-4o-mini", json::object()}, {"gpt-4o", json::object()}}},
           {"keys", {{{"name", "mock"}, {"env", "MOCK_API_KEY"}}}}}}}};
    std::ofstream(dir + "/config.json") << config.dump(2);
}

void writeInputs(const Options& o, const std::string& dir, std::uint16_t mockPort)
{
    // 95% to gpt-4o-mini, where Sluice's limit sits under the mock's; 5% to
    // gpt-4o, where the mock's is under Sluice's (as if a neighbour shared
    // the key), so 429s keep coming until Sluice learns the lower limit.
    const double rpm = o.rate * 60;
    const json mock = {
        {"seed", 13},
        {"ioThreads", 2},
        {"models",
         {{"gpt-4o-mini", {{"flavor", "openai"}, {"limits", {{"rpm", static_cast<long>(rpm * 0.95 * 1.2)}, {"granularity", "1s"}}}}},
          {"gpt-4o", {{"flavor", "openai"}, {"limits", {{"rpm", static_cast<long>(rpm * 0.05 * 0.8)}, {"granularity", "1s"}}}}}}},
        {"keys", {{"sk-mock", json::object()}}},
        {"latency", {{"baseMs", 30}, {"perOutputTokenMs", 0.5}, {"jitter", "lognormal"}, {"spread", 0.3}}},
        {"output", {{"distribution", "uniform"}, {"min", 5}, {"max", 40}}},
        {"faults",
         {{"http500", 0.01}, {"http503", 0.005}, {"http529", 0.005}, {"connectionReset", 0.005}, {"stall", 0.001}}}};
    std::ofstream(dir + "/mock.json") << mock.dump(2);
    const json config = {
        {"providers",
         {{{"name", "mock"},
           {"flavor", "openai"},
           {"base_url", "http://127.0.0.1:" + std::to_string(mockPort)},
           {"timeouts", {{"connect_s", 5}, {"total_s", 3}}},
           {"models",
            {{"gpt-4o-mini", {{"limits", {{"rpm", static_cast<long>(rpm * 0.95)}, {"granularity_s", 1}}}}},
             {"gpt-4o", {{"limits", {{"rpm", static_cast<long>(rpm * 0.05)}, {"granularity_s", 1}}}}}}},
           {"keys", {{{"name", "mock"}, {"env", "MOCK_API_KEY"}}}}}}},
        {"retry", {{"max_attempts", 5}, {"base_delay_s", 0.2}, {"max_delay_s", 4}}}};
    std::ofstream(dir + "/config.json") << config.dump(2);
    if (o.noLimits) {
        writeNoLimitConfigs(dir, mockPort);
    }
    std::ofstream in(dir + "/input.jsonl");
    if (!in) {
        fail("cannot write " + dir + "/input.jsonl");
    }
    for (long i = 0; i < o.requests; ++i) {
        const char* model = i % 20 == 7 ? "gpt-4o" : "gpt-4o-mini";
        in << R"({"custom_id":"soak-)" << i << R"(","method":"POST","url":"/v1/chat/completions","body":{"model":")"
           << model << R"(","max_tokens":40,"messages":[{"role":"user","content":"Soak request )" << i
           << R"(: say something short."}]}})" << '\n';
    }
}

Options parse(int argc, char** argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                fail(a + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--cli") {
            o.cli = next();
        } else if (a == "--dir") {
            o.dir = next();
        } else if (a == "--requests") {
            o.requests = std::stol(next());
        } else if (a == "--rate") {
            o.rate = std::stod(next());
        } else if (a == "--sample-s") {
            o.sampleSeconds = std::stoi(next());
        } else if (a == "--warmup-s") {
            o.warmupSeconds = std::stoi(next());
        } else if (a == "--no-limits") {
            o.noLimits = true;
        } else if (a == "--compact") {
            o.compact = true;
        } else if (a == "--max-rss-mb") {
            o.maxRssMb = std::stod(next());
        } else {
            fail("unknown option " + a +
                 " (options: --cli PATH --dir DIR --requests N --rate PER_S --sample-s S --warmup-s S --no-limits "
                 "--max-rss-mb MB --compact)");
        }
    }
    if (o.requests < 1 || o.rate <= 0 || o.sampleSeconds < 1) {
        fail("--requests, --rate and --sample-s must be positive");
    }
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    Options o = parse(argc, argv);
    if (o.dir.empty()) {
        std::string tmpl = "/tmp/sluice-soak-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            fail("cannot create a temporary directory");
        }
        o.dir = tmpl;
    } else if (::mkdir(o.dir.c_str(), 0755) != 0 && errno != EEXIST) {
        fail("cannot create " + o.dir);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const std::uint16_t mockPort = freePort();
    const std::uint16_t metricsPort = freePort();
    writeInputs(o, o.dir, mockPort);
    std::printf("soak: %ld requests at %.0f/s, files in %s\n", o.requests, o.rate, o.dir.c_str());

    const pid_t mock = spawn({o.cli, "mock", "--config", o.dir + "/mock.json", "--listen",
                              "127.0.0.1:" + std::to_string(mockPort), "--threads", "2"},
                             o.dir + "/mock.log", {});
    const std::string mockStats = "http://127.0.0.1:" + std::to_string(mockPort) + "/mock/stats";
    for (int i = 0; !httpGet(mockStats); ++i) {
        if (i == 100 || ::waitpid(mock, nullptr, WNOHANG) == mock) {
            fail("the mock did not start; see " + o.dir + "/mock.log");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string state = o.dir + "/state.db";
    const auto started = Clock::now();
    std::vector<std::string> batchArgs{o.cli, "batch", "--config", o.dir + "/config.json", "--input",
                                       o.dir + "/input.jsonl", "--output", o.dir + "/output.jsonl", "--state", state,
                                       "--progress", "never", "--seed", "13", "--metrics",
                                       "127.0.0.1:" + std::to_string(metricsPort)};
    if (o.compact) {
        // The state file compacted once the output is written: its size
        // before and after is in the batch's summary below.
        batchArgs.push_back("--compact");
    }
    const pid_t batch = spawn(batchArgs, o.dir + "/batch.log", {"MOCK_API_KEY=sk-mock"});
    const std::string metricsUrl = "http://127.0.0.1:" + std::to_string(metricsPort) + "/metrics";

    std::printf("%6s %10s %8s %9s %5s %8s %12s %12s %12s\n", "min", "sent", "req/s", "RSS MB", "fds", "threads",
                "state MB", "scrape p99", "scrape max");
    std::vector<Sample> samples;
    std::vector<double> scrapes;
    double lastSent = 0;
    auto lastSampleAt = started;
    int status = 0;
    bool exited = false;
    // Resident memory from start to end, polled five times a second: the
    // kernel's high-water mark (VmHWM) covers what falls between polls.
    long peakKb = 0;
    long peakBeforeSendKb = 0;
    double sent = 0;
    auto lastScrapeAt = started;
    while (!exited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (const long hwm = procStatus(batch, "VmHWM:"); hwm > 0) {
            peakKb = std::max(peakKb, hwm);
            if (sent <= 0) {
                peakBeforeSendKb = std::max(peakBeforeSendKb, hwm);
            }
        }
        if (Clock::now() - lastScrapeAt < std::chrono::seconds(1)) {
            exited = ::waitpid(batch, &status, WNOHANG) == batch;
            continue;
        }
        lastScrapeAt = Clock::now();
        double secs = 0;
        const std::optional<std::string> text = httpGet(metricsUrl, &secs);
        if (text) {
            scrapes.push_back(secs * 1000);
        }
        sent = text ? metricSum(*text, "sluice_requests_sent_total") : lastSent;
        const auto now = Clock::now();
        if (now - lastSampleAt >= std::chrono::seconds(o.sampleSeconds)) {
            Sample s;
            s.second = static_cast<int>(std::chrono::duration<double>(now - started).count());
            s.sent = sent;
            s.rate = (sent - lastSent) / std::chrono::duration<double>(now - lastSampleAt).count();
            s.rssKb = procStatus(batch, "VmRSS:");
            s.threads = procStatus(batch, "Threads:");
            s.fds = openFds(batch);
            s.stateBytes = fileSize(state) + fileSize(state + "-wal");
            std::sort(scrapes.begin(), scrapes.end());
            if (!scrapes.empty()) {
                s.scrapeMaxMs = scrapes.back();
                s.scrapeP99Ms = scrapes[std::min(scrapes.size() - 1, scrapes.size() * 99 / 100)];
            }
            scrapes.clear();
            samples.push_back(s);
            std::printf("%6.1f %10.0f %8.1f %9.1f %5ld %8ld %12.1f %10.1fms %10.1fms\n", s.second / 60.0, s.sent, s.rate,
                        static_cast<double>(s.rssKb) / 1024, s.fds, s.threads,
                        static_cast<double>(s.stateBytes) / 1e6, s.scrapeP99Ms, s.scrapeMaxMs);
            std::fflush(stdout);
            lastSent = sent;
            lastSampleAt = now;
        }
        exited = ::waitpid(batch, &status, WNOHANG) == batch;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const std::optional<std::string> finalStats = httpGet(mockStats);
    ::kill(mock, SIGINT);
    ::waitpid(mock, nullptr, 0);
    std::printf("batch exited with %d after %.1f s (%.1f requests/s overall, reading the input and writing the "
                "output included); its summary:\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, elapsed, static_cast<double>(o.requests) / elapsed);
    std::printf("peak resident memory (VmHWM), start to end: %.1f MB; before the first request was sent: %.1f MB\n",
                static_cast<double>(peakKb) / 1024, static_cast<double>(peakBeforeSendKb) / 1024);
    std::printf("state file at the end (with its WAL): %.1f MB\n",
                static_cast<double>(fileSize(state) + fileSize(state + "-wal")) / 1e6);
    {
        std::ifstream log(o.dir + "/batch.log");
        std::cout << log.rdbuf();
    }
    if (finalStats) {
        const json st = json::parse(*finalStats, nullptr, false);
        if (st.is_object()) {
            std::printf("mock: %s\n", json{{"requests", st.value("requests", json())},
                                           {"rateLimited", st.value("rateLimited", json())},
                                           {"faults", st.value("faults", json())}}
                                          .dump()
                                          .c_str());
        }
    }

    // Exactly one output line per custom_id, each done or dead with a reason.
    std::unordered_set<std::string> seen;
    long lines = 0, done = 0, dead = 0, duplicates = 0, unexplained = 0, foreign = 0;
    std::ifstream out(o.dir + "/output.jsonl");
    std::string line;
    while (std::getline(out, line)) {
        ++lines;
        const json j = json::parse(line, nullptr, false);
        const std::string id = j.is_object() ? j.value("custom_id", "") : "";
        if (id.rfind("soak-", 0) != 0 || std::atol(id.c_str() + 5) >= o.requests) {
            ++foreign;
            continue;
        }
        if (!seen.insert(id).second) {
            ++duplicates;
        }
        if (j["error"].is_null() && j["response"].is_object() && j["response"].value("status_code", 0) == 200) {
            ++done;
        } else if (j["error"].is_object() && !j["error"].value("code", "").empty() &&
                   !j["error"].value("message", "").empty()) {
            ++dead;
        } else {
            ++unexplained;
        }
    }
    const long missing = o.requests - static_cast<long>(seen.size());
    std::printf("output: %ld lines, %ld done, %ld dead-lettered with a reason, %ld without one, %ld duplicates, "
                "%ld missing, %ld foreign\n",
                lines, done, dead, unexplained, duplicates, missing, foreign);

    // Flat after warm-up: the warm-up is --warmup-s from the first request
    // sent (before that the batch is reading and queueing its input), and
    // the steady samples are those while requests are still being sent
    // (after that it writes its output file). Memory stays within 10% of the
    // first steady sample; threads do not grow; open descriptors (mostly
    // connections in flight, which come and go) stay under 1.5 times the
    // first steady sample's plus 16.
    bool flat = true;
    const Sample* base = nullptr;
    int firstSent = -1;
    for (const Sample& s : samples) {
        if (firstSent < 0 && s.sent > 0) {
            firstSent = s.second;
        }
        if (firstSent < 0 || s.second < firstSent + o.warmupSeconds || s.rate <= 0 || s.rssKb < 0) {
            continue;
        }
        if (base == nullptr) {
            base = &s;
            continue;
        }
        if (static_cast<double>(s.rssKb) > static_cast<double>(base->rssKb) * 1.10 ||
            static_cast<double>(s.fds) > static_cast<double>(base->fds) * 1.5 + 16 || s.threads > base->threads) {
            flat = false;
        }
    }
    // Faults are retried, so with five attempts a dead letter is rare; a
    // soak where many requests die measured the wrong thing.
    const bool exact = lines == o.requests && duplicates == 0 && missing == 0 && unexplained == 0 && foreign == 0 &&
                       dead * 100 <= o.requests;
    std::printf("bar: flat after warm-up %s (first steady sample at %.1f min), exactly one result per custom_id (at most 1%% dead-lettered) %s\n",
                base == nullptr ? "UNKNOWN (run shorter than warm-up)" : flat ? "yes" : "NO",
                base != nullptr ? base->second / 60.0 : 0.0, exact ? "yes" : "NO");
    const bool bounded = o.maxRssMb <= 0 || static_cast<double>(peakKb) / 1024 <= o.maxRssMb;
    if (o.maxRssMb > 0) {
        std::printf("bar: peak resident memory within %.0f MB %s\n", o.maxRssMb, bounded ? "yes" : "NO");
    }
    curl_global_cleanup();
    if (o.noLimits) {
        // No warm-up to speak of: the bar is the memory and the results.
        return bounded && exact ? 0 : 1;
    }
    return base != nullptr && flat && exact && bounded ? 0 : 1;
}
