// `sluice-cli tokens`: counts tokens with Sluice's tokenizer. A text (file
// or stdin) under a model's encoding, exactly; or a request body (a Chat
// Completions / Messages JSON object, or a batch line holding one in
// "body") as its prompt tokens through PromptEstimator: exact for OpenAI
// models, else the rule-of-thumb estimate, and says which.
#include "cli/commands.h"

#include "core/json_source.h"
#include "providers/prompt_estimator.h"
#include "tokenize/encodings.h"
#include "tokenize/resource_dir.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

namespace sluice::cli {

namespace {

struct TokensOptions {
    std::string model;
    std::string text;
    std::string request;
    std::string flavor = "openai";
    bool ids = false;
};

bool readInput(const std::string& path, std::string& out)
{
    if (path == "-") {
        out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        return !std::cin.bad();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    std::ostringstream s;
    s << in.rdbuf();
    out = s.str();
    return !in.bad();
}

int runTokens(const TokensOptions& opt)
{
    const auto bad = [](const std::string& message) {
        std::fprintf(stderr, "sluice-cli tokens: %s\n", message.c_str());
        return kExitBadInput;
    };
    if (opt.text.empty() == opt.request.empty()) {
        return bad("give one of --text FILE or --request FILE (\"-\" for stdin)");
    }
    ApiFlavor flavor{};
    if (!parseFlavor(opt.flavor, flavor)) {
        return bad("--flavor: must be openai or anthropic (got \"" + opt.flavor + "\")");
    }
    const tokenize::Encodings encodings(tokenize::tokenizerDir());
    const std::string& path = opt.text.empty() ? opt.request : opt.text;
    std::string input;
    if (!readInput(path, input)) {
        return bad(path + ": cannot read");
    }

    if (!opt.text.empty()) {
        const auto id = tokenize::encodingForModel(opt.model);
        if (opt.model.empty() || !id) {
            return bad("--model: \"" + opt.model +
                       "\" has no public tokenizer; text counts need an OpenAI model (gpt-4o, gpt-4.1, o3, gpt-4, ...)");
        }
        const tokenize::BpeEncoding* enc = encodings.get(*id);
        if (enc == nullptr) {
            std::fprintf(stderr, "sluice-cli tokens: %s\n", encodings.loadError(*id).c_str());
            return kExitFailure;
        }
        const auto tokens = enc->encode(input);
        if (opt.ids) {
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                std::printf(i == 0 ? "%u" : " %u", tokens[i]);
            }
            std::printf("\n");
        }
        std::printf("%zu tokens (%s)\n", tokens.size(), enc->name().c_str());
        return kExitOk;
    }

    nlohmann::json body;
    try {
        body = JsonSource(path, input).root();
    } catch (const InputError& e) {
        return bad(e.what());
    }
    if (body.is_object() && body.contains("body") && body["body"].is_object()) {
        body = body["body"];  // a batch-file line
    }
    if (!opt.model.empty() && body.is_object()) {
        body["model"] = opt.model;
    }
    const PromptEstimator estimator(&encodings, nullptr);
    RequestInfo info;
    try {
        info = analyzeRequest(flavor, body, 4096, &estimator);
    } catch (const InputError& e) {
        return bad(path + ": " + e.what());
    }
    if (info.prompt.method == PromptCountMethod::Exact) {
        const auto id = tokenize::encodingForModel(info.model);
        std::printf("%lld prompt tokens (exact, %s, chat overhead included)\n",
                    static_cast<long long>(info.promptTokens), std::string(tokenize::encodingName(*id)).c_str());
    } else {
        std::string why = "no public tokenizer for " + info.model;
        if (const auto id = tokenize::encodingForModel(info.model); id && flavor == ApiFlavor::OpenAI) {
            why = encodings.loadError(*id);
        }
        std::printf("%lld prompt tokens (estimate, %s: %s)\n", static_cast<long long>(info.promptTokens),
                    std::string(tokenize::languageClassName(info.prompt.language)).c_str(), why.c_str());
    }
    if (info.prompt.mediaParts > 0) {
        std::printf("with %d media part(s): images sized from their own headers, PDFs by their pages "
                    "(estimates, settled to the provider's count)\n",
                    info.prompt.mediaParts);
    }
    return kExitOk;
}

}  // namespace

void addTokensCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<TokensOptions>();
    CLI::App* cmd = app.add_subcommand("tokens", "Count tokens: a text exactly, or a request's prompt (exact for OpenAI models, else estimated)");
    cmd->add_option("--model", opt->model, "Model whose encoding counts (for --request: overrides body.model)");
    cmd->add_option("--text", opt->text, "A text file (\"-\": stdin), counted under --model's encoding");
    cmd->add_option("--request", opt->request, "A request body or batch line (JSON; \"-\": stdin)");
    cmd->add_option("--flavor", opt->flavor, "The request's API flavour: openai (default) or anthropic");
    cmd->add_flag("--ids", opt->ids, "With --text: print the token ids too");
    cmd->callback([opt, &exitCode] { exitCode = runTokens(*opt); });
}

}  // namespace sluice::cli
