// Tokens per second of Sluice's tokenizer (engine/tokenize) against
// js-tiktoken, its reference, on the same texts in the same run: English
// prose, source code and Japanese, under o200k_base and cl100k_base. The
// texts are the corpus files of tests/data/tokenize repeated to ~256 KB; both
// sides encode each for at least --seconds after a warm-up, single-threaded,
// and must agree on the token count. js-tiktoken runs as a child process
// (node tools/tiktoken/bench.mjs); without node or tools/tiktoken/node_modules
// only the C++ figures are printed.
//
// Run: build/release/bench/tokenizer_bench [--seconds S]  (docs/benchmarks.md)
#include "tokenize/bpe_encoding.h"
#include "tokenize/encodings.h"
#include "tokenize/resource_dir.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sluice::tokenize;
namespace fs = std::filesystem;

namespace {

struct PipeClose {
    void operator()(FILE* f) const noexcept { pclose(f); }
};

std::string readFile(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        throw std::runtime_error(p.string() + ": cannot read");
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Text {
    std::string name;
    std::string body;
};

std::vector<Text> buildTexts(const fs::path& corpus)
{
    const std::vector<std::pair<std::string, std::vector<std::string>>> kinds = {
        {"english", {"english.txt", "contractions.txt"}},
        {"code", {"code_cpp.txt", "code_python_crlf.txt", "json.txt"}},
        {"japanese", {"japanese.txt"}},
    };
    std::vector<Text> out;
    for (const auto& [name, files] : kinds) {
        std::string unit;
        for (const auto& f : files) {
            unit += readFile(corpus / f);
        }
        std::string body;
        while (body.size() < 256 * 1024) {
            body += unit;
        }
        out.push_back({name, std::move(body)});
    }
    return out;
}

// name → (tokens, tokens per second) from js-tiktoken, or empty.
std::map<std::string, std::pair<std::size_t, double>> runJs(const fs::path& source, const std::string& encoding,
                                                            const fs::path& dir, double seconds)
{
    std::map<std::string, std::pair<std::size_t, double>> out;
    const fs::path script = source / "tools/tiktoken/bench.mjs";
    if (!fs::is_directory(source / "tools/tiktoken/node_modules/js-tiktoken") || std::system("node --version >/dev/null 2>&1") != 0) {
        return out;
    }
    const std::string cmd = "node '" + script.string() + "' " + encoding + " '" + dir.string() + "' " + std::to_string(seconds);
    const std::unique_ptr<FILE, PipeClose> pipe(popen(cmd.c_str(), "r"));
    if (!pipe) {
        return out;
    }
    char line[512];
    while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
        std::istringstream in(line);
        std::string name;
        std::size_t tokens = 0;
        double rate = 0;
        if (in >> name >> tokens >> rate) {
            out[name] = {tokens, rate};
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv)
{
    double seconds = 2.0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: tokenizer_bench [--seconds S]\n");
            return 2;
        }
    }
    const fs::path source = SLUICE_SOURCE_DIR;
    try {
        const auto texts = buildTexts(source / "tests/data/tokenize/corpus");
        const fs::path dir = fs::temp_directory_path() / ("sluice-tokenizer-bench-" + std::to_string(::getpid()));
        fs::create_directories(dir);
        for (const auto& t : texts) {
            std::ofstream(dir / t.name, std::ios::binary) << t.body;
        }
        const Encodings encodings(tokenizerDir());
        std::printf("%-12s %-9s %8s %14s %14s %7s\n", "encoding", "text", "tokens", "C++ tok/s", "js tok/s", "ratio");
        int status = 0;
        for (const EncodingId id : {EncodingId::O200kBase, EncodingId::Cl100kBase}) {
            const auto loadStart = std::chrono::steady_clock::now();
            const BpeEncoding* enc = encodings.get(id);
            if (enc == nullptr) {
                std::fprintf(stderr, "%s\n", encodings.loadError(id).c_str());
                return 1;
            }
            const double loadMs =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - loadStart).count();
            const auto js = runJs(source, std::string(encodingName(id)), dir, seconds);
            for (const auto& t : texts) {
                std::vector<std::uint32_t> ids;
                enc->encode(t.body, ids);  // warm-up and the count to compare
                const std::size_t tokens = ids.size();
                std::size_t rounds = 0;
                double elapsed = 0;
                const auto start = std::chrono::steady_clock::now();
                do {
                    ids.clear();
                    enc->encode(t.body, ids);
                    ++rounds;
                    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                } while (elapsed < seconds);
                const double rate = static_cast<double>(tokens * rounds) / elapsed;
                const auto it = js.find(t.name);
                if (it == js.end()) {
                    std::printf("%-12s %-9s %8zu %14.0f %14s %7s\n", std::string(encodingName(id)).c_str(), t.name.c_str(),
                                tokens, rate, "-", "-");
                    continue;
                }
                if (it->second.first != tokens) {
                    std::fprintf(stderr, "%s/%s: C++ %zu tokens, js-tiktoken %zu\n",
                                 std::string(encodingName(id)).c_str(), t.name.c_str(), tokens, it->second.first);
                    status = 1;
                }
                std::printf("%-12s %-9s %8zu %14.0f %14.0f %6.1fx\n", std::string(encodingName(id)).c_str(),
                            t.name.c_str(), tokens, rate, it->second.second, rate / it->second.second);
            }
            std::printf("%-12s loaded in %.0f ms\n", std::string(encodingName(id)).c_str(), loadMs);
        }
        fs::remove_all(dir);
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
        return 1;
    }
}
