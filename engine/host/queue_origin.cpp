#include "host/queue_origin.h"

#include "store/job_store.h"
#include "store/sqlite.h"

#include <algorithm>
#include <cstdio>

namespace sluice::host {

namespace {

constexpr const char* kCreate =
    "CREATE TABLE IF NOT EXISTS queue_provider_origins ("
    " provider TEXT PRIMARY KEY, flavor TEXT NOT NULL, base_url TEXT NOT NULL, fingerprint TEXT NOT NULL)";

store::Database open(const std::filesystem::path& file)
{
    store::Database db = store::openWorkspaceDatabase(file, store::StoreOptions{}, "opening the queue's provider record");
    db.exec(kCreate);
    return db;
}

}  // namespace

std::string originFingerprint(std::string_view provider, std::string_view flavor, std::string_view baseUrl)
{
    // FNV-1a, 64 bits: stable across builds and platforms (std::hash is
    // not), and the parts are separated so "ab"+"c" differs from "a"+"bc".
    std::uint64_t h = 0xcbf29ce484222325ULL;
    const auto add = [&h](std::string_view s) {
        for (const char c : s) {
            h ^= static_cast<unsigned char>(c);
            h *= 0x100000001b3ULL;
        }
        h ^= 0xff;
        h *= 0x100000001b3ULL;
    };
    add(provider);
    add(flavor);
    add(baseUrl);
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

std::vector<ProviderOrigin> providerOrigins(const nlohmann::json& config)
{
    std::vector<ProviderOrigin> out;
    const auto providers = config.find("providers");
    if (providers == config.end() || !providers->is_array()) {
        return out;
    }
    for (const nlohmann::json& p : *providers) {
        if (!p.is_object()) {
            continue;
        }
        ProviderOrigin o;
        o.provider = p.value("name", "");
        o.flavor = p.value("flavor", "");
        o.baseUrl = p.value("base_url", "");
        o.fingerprint = originFingerprint(o.provider, o.flavor, o.baseUrl);
        out.push_back(std::move(o));
    }
    return out;
}

std::vector<OriginChange> originChanges(const std::vector<ProviderOrigin>& recorded,
                                        const std::vector<ProviderOrigin>& current)
{
    std::vector<OriginChange> out;
    for (const ProviderOrigin& was : recorded) {
        const auto now = std::find_if(current.begin(), current.end(),
                                      [&](const ProviderOrigin& c) { return c.provider == was.provider; });
        if (now == current.end()) {
            out.push_back(OriginChange{was, true, {}});
        } else if (now->fingerprint != was.fingerprint) {
            out.push_back(OriginChange{was, false, *now});
        }
    }
    return out;
}

QueueOrigin::QueueOrigin(std::filesystem::path database) : m_database(std::move(database)) {}

std::vector<ProviderOrigin> QueueOrigin::recorded() const
{
    store::Database db = open(m_database);
    store::Statement s(db, "SELECT provider, flavor, base_url, fingerprint FROM queue_provider_origins ORDER BY provider");
    std::vector<ProviderOrigin> out;
    while (s.step()) {
        out.push_back(ProviderOrigin{s.text(0), s.text(1), s.text(2), s.text(3)});
    }
    return out;
}

void QueueOrigin::record(const std::vector<ProviderOrigin>& providers) const
{
    store::Database db = open(m_database);
    store::Transaction t(db);
    db.exec("DELETE FROM queue_provider_origins");
    for (const ProviderOrigin& p : providers) {
        store::Statement s(db, "INSERT OR REPLACE INTO queue_provider_origins (provider, flavor, base_url, fingerprint) "
                               "VALUES (?1, ?2, ?3, ?4)");
        s.bind(1, p.provider).bind(2, p.flavor).bind(3, p.baseUrl).bind(4, p.fingerprint);
        s.run();
    }
    t.commit();
}

}  // namespace sluice::host
