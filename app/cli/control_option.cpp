#include "cli/control_option.h"

#include "core/json_source.h"
#include "gateway/gateway_config.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

namespace sluice::cli {

void addControlOptions(CLI::App* command, ControlFlags& flags)
{
    command->add_option("--control", flags.address,
                        "Serve the control endpoint the console attaches to at HOST:PORT (e.g. 127.0.0.1:7070; port 0 "
                        "picks a free one; an address other than loopback needs --control-token-env)");
    command->add_option("--control-token-env", flags.tokenEnv,
                        "Environment variable holding the bearer token every control request must carry");
}

std::optional<control::ControlOptions> parseControlFlags(const ControlFlags& flags)
{
    if (flags.address.empty()) {
        if (!flags.tokenEnv.empty()) {
            throw InputError("--control-token-env needs --control HOST:PORT");
        }
        return std::nullopt;
    }
    control::ControlOptions o;
    gateway::parseListen(flags.address, "--control", o.host, o.port);
    if (!flags.tokenEnv.empty()) {
        const char* value = std::getenv(flags.tokenEnv.c_str());
        if (value == nullptr || *value == '\0') {
            throw InputError("--control-token-env " + flags.tokenEnv + ": the variable is not set or empty");
        }
        o.token = Secret(value);
    }
    if (!control::isLoopback(o.host) && !o.token) {
        throw InputError("--control " + flags.address +
                         ": an address other than loopback needs a token (--control-token-env VAR)");
    }
    return o;
}

std::unique_ptr<control::ControlServer> startControl(const std::optional<control::ControlOptions>& options,
                                                     control::ControlTarget target, const char* command)
{
    if (!options) {
        return nullptr;
    }
    auto server = std::make_unique<control::ControlServer>(*options, std::move(target));
    server->start();
    std::fprintf(stderr, "sluice-cli %s: control at %s%s\n", command, server->url().c_str(),
                 options->token ? " (bearer token required)" : "");
    std::fflush(stderr);
    return server;
}

}  // namespace sluice::cli
