// NaiveClient: the baseline Sluice is measured against, the code teams
// write before they have Sluice: a semaphore of N requests in flight and the
// official SDKs' retry rule. No admission, no limits, no key pool: it sends
// as soon as a slot is free, and on a 408, 409, 429, 5xx, timeout or broken
// connection waits (retry-after when the provider gives one of at most 60 s,
// else min(0.5 s × 2^n, 8 s) less up to 25% jitter) and tries again, up to
// maxRetries times, holding its slot while it waits, as a call inside the
// semaphore does. It uses the first enabled key of the provider a request
// routes to.
//
// Built on the same libcurl client as the dispatcher (http/http_client.h)
// and reporting like it (JobOutcome with attempts and timeline), so a load
// test runs either unchanged, and a benchmark can drive it directly:
//     NaiveClient naive(config, clock, listener, {.concurrency = 5});
//     naive.start(); naive.submit(job); ... naive.waitIdle(timeout);
//
// Thread-safety: every public member from any thread; one internal thread
// does the I/O and calls the listener, whose callbacks must not block.
#pragma once

#include "loadtest/load_target.h"

#include <memory>

namespace sluice::loadtest {

struct NaiveClientOptions {
    int concurrency = 5;
    int maxRetries = 2;  // openai-python and anthropic-sdk-python: 3 attempts
    Duration baseDelay = std::chrono::milliseconds(500);
    Duration maxDelay = std::chrono::seconds(8);
    // A longer retry-after is ignored (the SDKs fall back to their backoff).
    Duration maxRetryAfter = std::chrono::seconds(60);
    std::uint64_t seed = 1;  // jitter
};

class NaiveClient final : public LoadTarget {
public:
    NaiveClient(const Config& config, Clock& clock, DispatchListener& listener, NaiveClientOptions options = {});
    ~NaiveClient() override;
    NaiveClient(const NaiveClient&) = delete;
    NaiveClient& operator=(const NaiveClient&) = delete;

    void start() override;
    void stop() override;
    std::string validate(const JobSpec& job) const override;
    void submit(JobSpec job) override;
    void cancel(const std::string& customId) override;
    void pause() override;
    DispatcherStats stats() const override;
    // Blocks until every submitted job has finished, or the timeout passes.
    bool waitIdle(Duration timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

TargetFactory naiveTarget(const Config& config, Clock& clock, NaiveClientOptions options = {});

}  // namespace sluice::loadtest
