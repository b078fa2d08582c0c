// ResponseOwners: which provider key made each Responses API response the
// gateway passed on, and for which tenant. A stored response is known only
// to the project of the key that made it: a request that continues it
// (previous_response_id), or reads, deletes or cancels it, must go on that
// key, and only the tenant that made it may reach it through the gateway.
// Bounded: past `capacity` the oldest are forgotten first (a request that
// names a forgotten response is routed as any other).
//
// Thread-safety: every member from any thread (one internal mutex).
#pragma once

#include "core/remote_store.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace sluice::gateway {

struct ResponseOwner {
    std::string provider;
    std::string key;  // the key's name, never its value
    std::string model;
    std::string tenant;
    // What a continuation of it carries as input besides its own: its input
    // and output tokens as the provider reported them (0: not known, as for
    // a response still running in the background). OpenAI counts the whole
    // conversation as the continuation's input, for the token limits too.
    std::int64_t contextTokens = 0;
};

// Where instances sharing a namespace keep the same map, so that a request
// a load balancer sends to another gateway still finds the key.
using SharedOwnerStore = RemoteStore;
// Where in a namespace the owners are kept, and for how long: as long as
// OpenAI keeps a stored response.
inline constexpr std::string_view kSharedOwnersSection = "responses";
inline constexpr std::chrono::hours kSharedOwnersTtl{24 * 30};

class ResponseOwners {
public:
    explicit ResponseOwners(std::size_t capacity = 100'000) : m_capacity(capacity == 0 ? 1 : capacity) {}

    // Shares every entry from now on, and asks `store` for an id not known
    // here (fetch). Before the gateway serves.
    void share(SharedOwnerStore store);
    // No fetch answers after this returns (RemoteStore::close); before what
    // the callbacks given to fetch use is destroyed.
    void stopFetching();

    void remember(const std::string& id, ResponseOwner owner);
    // Known here (remembered, or fetched before).
    std::optional<ResponseOwner> find(std::string_view id);
    // Whether `id` is unknown here and the shared store may know it.
    bool worthFetching(std::string_view id);
    // Asks the shared store for `id` without waiting: done(owner or
    // nullopt) on the store's thread, or at once on this one when the store
    // can tell at once. What it finds is kept here, so the next request of
    // the same conversation asks nobody.
    void fetch(const std::string& id, std::function<void(std::optional<ResponseOwner>)> done);
    void forget(std::string_view id);
    // The conversation size of a response known here, learnt after it was
    // made (a response run in the background reports its usage only when
    // read back finished); shared like a new entry. Unknown ids: nothing.
    void learnContext(std::string_view id, std::int64_t contextTokens);
    std::size_t size() const;

    // The text a shared store keeps, and back (nullopt: not one of ours).
    static std::string encode(const ResponseOwner& owner);
    static std::optional<ResponseOwner> decode(std::string_view text);

private:
    struct Entry {
        ResponseOwner owner;
        std::uint64_t generation = 0;
    };
    // Here only, without telling the shared store.
    void keep(const std::string& id, ResponseOwner owner);

    mutable std::mutex m_mutex;
    std::size_t m_capacity;
    std::uint64_t m_generation = 0;
    std::unordered_map<std::string, Entry> m_owners;
    // Oldest first; an entry forgotten or remembered again since leaves a
    // stale pair here, skipped by its generation.
    std::deque<std::pair<std::string, std::uint64_t>> m_order;
    // Set before serving, then only read. Declared last, so destroyed
    // first: its lookups end before the map they write into.
    std::optional<SharedOwnerStore> m_shared;
};

}  // namespace sluice::gateway
