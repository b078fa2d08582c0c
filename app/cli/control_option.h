// `--control HOST:PORT` and `--control-token-env VAR` for the commands that
// run a Dispatcher headless (serve, batch, worker): the flags, their
// checking, and starting the instance's ControlServer, which the console
// attaches to (File → Attach to instance…).
//
// Thread-safety: the controlling thread only.
#pragma once

#include "control/control_server.h"

#include <memory>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace sluice::cli {

struct ControlFlags {
    std::string address;   // empty: no control endpoint
    std::string tokenEnv;  // the variable holding the bearer token
};

void addControlOptions(CLI::App* command, ControlFlags& flags);

// The endpoint's options, or nullopt without --control. Throws InputError
// naming the flag: a bad address, a token variable unset or empty, an
// address other than loopback without a token.
std::optional<control::ControlOptions> parseControlFlags(const ControlFlags& flags);

// Builds and starts the endpoint and says where it is on stderr
// ("COMMAND: control at http://HOST:PORT"; the token is never printed).
// Null without options. Throws what ControlServer throws.
std::unique_ptr<control::ControlServer> startControl(const std::optional<control::ControlOptions>& options,
                                                     control::ControlTarget target, const char* command);

}  // namespace sluice::cli
