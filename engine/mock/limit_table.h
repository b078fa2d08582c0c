// The mock's rate limits: one set of buckets per API key and model, and the
// all-or-nothing decision a provider makes when a request arrives.
//
// Thread-safety: none; MockProvider serialises access.
#pragma once

#include "core/clock.h"
#include "mock/mock_config.h"
#include "mock/acceleration.h"
#include "mock/fixed_window.h"
#include "mock/rate_bucket.h"
#include "mock/sliding_window.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

namespace sluice::mock {

enum class LimitKind : std::uint8_t { Requests, Tokens, InputTokens, OutputTokens, RequestsPerDay };
inline constexpr std::size_t kLimitKinds = 5;
std::string_view limitKindName(LimitKind k) noexcept;  // "requests", "tokens", ... (stats fields)

// What one request costs on arrival; it always costs one request.
struct Charge {
    std::int64_t tokens = 0;        // TPM
    std::int64_t inputTokens = 0;   // ITPM
    std::int64_t outputTokens = 0;  // OTPM (zero when only actual output counts)
};

// One limit as the rate-limit headers report it.
struct LimitState {
    bool enforced = false;
    std::int64_t limit = 0;      // per minute (per day for RequestsPerDay)
    std::int64_t remaining = 0;  // whole units available now, never negative
    Duration untilFull{};        // until the bucket is full again
};
using LimitStates = std::array<LimitState, kLimitKinds>;

enum class LimitOutcome : std::uint8_t {
    Admitted,
    RateLimited,  // would fit later: retry after `retryAfter`
    TooLarge      // costs more than the whole limit: never fits
};

struct LimitDecision {
    LimitOutcome outcome = LimitOutcome::Admitted;
    // For a refusal: the limit that binds (the longest wait), its figures
    // as the provider's message states them.
    LimitKind binding = LimitKind::Requests;
    std::int64_t limit = 0;
    std::int64_t used = 0;
    std::int64_t requested = 0;
    Duration retryAfter{};
    // Refused by the acceleration limit (a ramp after idle), not the
    // per-minute limit itself.
    bool acceleration = false;
    LimitStates states;  // after the decision
};

// One enforced limit: a token bucket, a sliding or a fixed window, as
// configured.
class Meter {
public:
    template <typename M>
    explicit Meter(M m) : m_impl(std::move(m))
    {
    }
    static Meter make(Enforcement kind, std::int64_t limit, Duration period, Duration span, std::int64_t capacity,
                      TimePoint now);
    Duration waitFor(std::int64_t cost, TimePoint now) const
    {
        return std::visit([&](const auto& m) { return m.waitFor(cost, now); }, m_impl);
    }
    void take(std::int64_t cost, TimePoint now)
    {
        std::visit([&](auto& m) { m.take(cost, now); }, m_impl);
    }
    void give(std::int64_t amount, TimePoint now)
    {
        std::visit([&](auto& m) { m.give(amount, now); }, m_impl);
    }
    std::int64_t available(TimePoint now) const
    {
        return std::visit([&](const auto& m) { return m.available(now); }, m_impl);
    }
    Duration untilFull(TimePoint now) const
    {
        return std::visit([&](const auto& m) { return m.untilFull(now); }, m_impl);
    }
    std::int64_t limit() const
    {
        return std::visit([](const auto& m) { return m.limit(); }, m_impl);
    }
    std::int64_t capacity() const
    {
        return std::visit([](const auto& m) { return m.capacity(); }, m_impl);
    }
    Enforcement enforcement() const noexcept { return static_cast<Enforcement>(m_impl.index()); }
    // Same kind: keeps usage under the new figures. Another kind: replaced.
    void reconfigure(Enforcement kind, std::int64_t limit, Duration period, Duration span, std::int64_t capacity,
                     TimePoint now);

private:
    // In Enforcement's order, so the index names the kind.
    std::variant<RateBucket, SlidingWindow, FixedWindow> m_impl;
};

class LimitTable {
public:
    // Debits every limit when all have room, none otherwise. Buckets appear
    // on first use and follow `limits` when they change, keeping usage.
    LimitDecision admit(const std::string& key, const std::string& model, const RateLimits& limits,
                        const Charge& charge, TimePoint now);
    // Corrects the output-token charge when a response ends: debits `delta`
    // (actual minus reserved), or credits it back when negative.
    void adjustOutput(const std::string& key, const std::string& model, std::int64_t delta, TimePoint now);
    // Settles the tokens-per-minute limit when a response ends, as it is
    // charged: TokenCharging::Refunded gives back the `unused` output,
    // OnCompletion debits the output `produced`, OnArrival does nothing.
    void settleTokens(const std::string& key, const std::string& model, std::int64_t unused, std::int64_t produced,
                      TimePoint now);
    // Gives back what admit() debited for `charge`, when a limit checked
    // after this table's (a provider-wide one, in the what-if replay's
    // simulated provider) refused the request.
    void refund(const std::string& key, const std::string& model, const Charge& charge, TimePoint now);
    // Applies a new configuration at `now` to every bucket already in use,
    // so time from here on refills at the new rates; buckets of keys or
    // models that are gone are dropped.
    void reconfigure(const MockConfig& config, TimePoint now);

private:
    struct Entry {
        std::string key;
        std::string model;
        RateLimits limits;
        std::array<std::optional<Meter>, kLimitKinds> buckets;
        AccelerationGate acceleration;
    };
    Entry& entry(const std::string& key, const std::string& model, const RateLimits& limits, TimePoint now);
    static void apply(Entry& e, const RateLimits& limits, TimePoint now);
    static LimitStates statesOf(const Entry& e, TimePoint now);

    std::unordered_map<std::string, Entry> m_entries;
};

}  // namespace sluice::mock
