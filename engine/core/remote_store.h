// RemoteStore: a key-value map kept outside this process, seen by every
// instance that shares it, as functions so that whoever uses one need not
// depend on what keeps it (shared::sharedDirectoryStore: Redis).
// put and erase return at once (the write may land later). lookup returns
// at once too and calls `done` with the value, or nullopt when the store
// does not know or cannot tell: on a thread of the store's after one round
// trip, or on the caller's thread when the store can tell at once (it is
// known to be unreachable). Nothing waits for the store on the caller's
// thread, which may be an event loop serving everyone else. close() stops
// lookups: it returns once no `done` runs any more, and those still
// waiting are dropped uncalled; call it before what the callbacks use is
// destroyed.
//
// Thread-safety: as the functions given; those made by
// sharedDirectoryStore may be called from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace sluice {

struct RemoteStore {
    using Answer = std::function<void(std::optional<std::string> value)>;
    std::function<void(const std::string& name, std::string value)> put;
    std::function<void(const std::string& name)> erase;
    std::function<void(const std::string& name, Answer done)> lookup;
    std::function<void()> close;
};

}  // namespace sluice
