// RemoteStore: a key-value map kept outside this process, seen by every
// instance that shares it, as three functions so that whoever uses one need
// not depend on what keeps it (shared::sharedDirectoryStore: Redis).
// put and erase must return at once (the write may land later); get may
// wait one round trip and answers nullopt when it does not know or cannot
// tell.
//
// Thread-safety: as the functions given; those made by
// sharedDirectoryStore may be called from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace sluice {

struct RemoteStore {
    std::function<void(const std::string& name, std::string value)> put;
    std::function<void(const std::string& name)> erase;
    std::function<std::optional<std::string>(const std::string& name)> get;
};

}  // namespace sluice
