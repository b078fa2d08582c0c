// QueueOrigin: which provider configuration the jobs queued in a workspace
// were queued under, kept in the workspace's database (table
// queue_provider_origins), so that jobs queued for one provider are never
// sent to a different one without the operator saying so. A provider's
// configuration is identified by a fingerprint of its name, flavour and base
// URL as the workspace file states them; keys are not part of it (a key may
// change without the jobs changing destination) and never stored.
//
// The console records the providers when it opens a workspace whose queue
// is not held, and again when the operator accepts the change; on the next
// open, a recorded provider that is gone or points elsewhere while jobs are
// queued holds the queue.
//
// Thread-safety: none; each member opens its own connection, so call them
// off the GUI thread (they wait on the disk).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace sluice::host {

struct ProviderOrigin {
    std::string provider;
    std::string flavor;
    std::string baseUrl;
    std::string fingerprint;  // 16 hex digits over provider, flavour and base URL
};

// A recorded provider the queued jobs would no longer reach as queued.
struct OriginChange {
    ProviderOrigin was;
    bool removed = false;  // no provider of that name now
    ProviderOrigin now;    // when not removed: the provider as configured now
};

// The providers of a workspace's "config" object, fingerprinted.
std::vector<ProviderOrigin> providerOrigins(const nlohmann::json& config);
std::string originFingerprint(std::string_view provider, std::string_view flavor, std::string_view baseUrl);

// Recorded providers that are gone or changed in `current`. Providers added
// since are not changes: no queued job was meant for them.
std::vector<OriginChange> originChanges(const std::vector<ProviderOrigin>& recorded,
                                        const std::vector<ProviderOrigin>& current);

class QueueOrigin {
public:
    // The workspace database (NAME.db), which must exist (the JobStore
    // creates it).
    explicit QueueOrigin(std::filesystem::path database);

    // Empty when nothing was recorded yet. Throws store::StoreError.
    std::vector<ProviderOrigin> recorded() const;
    // Replaces what is recorded, in one transaction. Throws store::StoreError.
    void record(const std::vector<ProviderOrigin>& providers) const;

private:
    std::filesystem::path m_database;
};

}  // namespace sluice::host
