// A process for tst_job_store's crash test to kill: it enqueues, leases and
// records outcomes in rounds, printing one line after each commit, and can
// pause (blocked on stdin) at a named point of a round so the test kills it
// exactly there. "drain" mode is the restart: it re-enqueues the whole input
// (idempotent) and works until every job is finished, like a resumed batch.
//
//   store_crash_helper FILE rounds N [enqueued|leased|recorded ROUND]
//   store_crash_helper FILE drain TOTAL
//   store_crash_helper FILE compact CHUNK PAUSE_AFTER
//
// "compact" compacts the file CHUNK jobs a transaction, printing
// "compacted THROUGH JOBS" after each commit, and pauses after the
// PAUSE_AFTER-th chunk so the test kills it in the middle of a compaction.
// "rounds" waits to be killed when it is done. Exit status: 0 drained, 2 bad
// arguments, 3 a broken store invariant, 4 a StoreError.
#include "core/clock.h"
#include "store/job_store.h"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::store;

namespace {

constexpr int kPerRound = 200;
constexpr std::size_t kLeasePerRound = 150;

NewJob inputLine(int i)
{
    char id[32];
    std::snprintf(id, sizeof id, "job-%06d", i);
    NewJob j;
    j.customId = id;
    j.url = std::string("/v1/chat/completions");
    j.body = R"({"model":"m","i":)" + std::to_string(i) + "}";
    // Moved in: GCC 12 at -O3 warns falsely (-Wrestrict) on assigning a
    // short literal here.
    j.model = std::string("m");
    return j;
}

std::vector<NewJob> inputLines(int from, int to)
{
    std::vector<NewJob> jobs;
    for (int i = from; i < to; ++i) {
        jobs.push_back(inputLine(i));
    }
    return jobs;
}

bool enqueue(JobStore& store, int from, int to)
{
    for (const EnqueueResult& r : store.enqueueMany(inputLines(from, to))) {
        if (r.status == EnqueueStatus::Conflict) {
            std::cerr << "conflict on re-enqueue of job " << r.id << '\n';
            return false;
        }
    }
    return true;
}

// Completes most of the leased jobs, retries some and dead-letters a few,
// all in one commit.
void recordOutcomes(JobStore& store, const std::vector<Job>& leased, const std::string& owner, const Clock& clock)
{
    Updates u;
    for (std::size_t i = 0; i < leased.size(); ++i) {
        const Job& j = leased[i];
        if (i % 6 == 5) {
            u.retries.push_back({j.id, owner, {"server_error", 500, "boom", "k1", true, {}, {}}, clock.wallNow()});
        } else if (i % 25 == 24) {
            u.failures.push_back({j.id, owner, {"bad_request", 400, "no", "k1", true, {}, {}}});
        } else {
            u.completions.push_back({j.id, {200, R"({"ok":true,"i":")" + j.customId + "\"}", "req-" + j.customId, "k1", {}}});
        }
    }
    store.recordMany(u);
}

void say(const std::string& line)
{
    std::cout << line << std::endl;  // flushed: the test reads it at once
}

void pause()
{
    say("paused");
    std::string ignored;
    std::getline(std::cin, ignored);  // blocks until the test kills us
}

int rounds(JobStore& store, int n, const std::string& pauseAt, int pauseRound, const Clock& clock)
{
    const std::string owner = "helper";
    for (int r = 0; r < n; ++r) {
        if (!enqueue(store, r * kPerRound, (r + 1) * kPerRound)) {
            return 3;
        }
        say("enqueued " + std::to_string(r) + " " + std::to_string((r + 1) * kPerRound));
        if (pauseAt == "enqueued" && pauseRound == r) {
            pause();
        }
        const std::vector<Job> leased = store.lease({owner, kLeasePerRound, std::chrono::seconds(30), {}});
        say("leased " + std::to_string(r) + " " + std::to_string(leased.size()));
        if (pauseAt == "leased" && pauseRound == r) {
            pause();
        }
        recordOutcomes(store, leased, owner, clock);
        say("recorded " + std::to_string(r));
        if (pauseAt == "recorded" && pauseRound == r) {
            pause();
        }
    }
    // Never exits by itself: a test that is slow to kill it still kills it.
    say("finished");
    pause();
    return 0;
}

int drain(JobStore& store, int total)
{
    if (!enqueue(store, 0, total)) {
        return 3;
    }
    // The only user of this file: a killed predecessor's leases need not
    // wait out their expiry.
    store.releaseAllLeases();
    const std::string owner = "drainer";
    for (;;) {
        const std::vector<Job> leased = store.lease({owner, 500, std::chrono::seconds(30), {}});
        if (leased.empty()) {
            break;
        }
        Updates u;
        for (const Job& j : leased) {
            u.completions.push_back({j.id, {200, R"({"ok":true})", "req-" + j.customId, "k2", {}}});
        }
        for (const bool applied : store.recordMany(u).completed) {
            if (!applied) {
                std::cerr << "a leased job already had a result\n";
                return 3;
            }
        }
    }
    const Counts c = store.counts();
    if (c.pending != 0 || c.leased != 0 || c.total() != total) {
        std::cerr << "not drained: " << c.pending << " pending, " << c.leased << " leased, " << c.total()
                  << " total\n";
        return 3;
    }
    say("drained " + std::to_string(c.done) + " " + std::to_string(c.dead));
    return 0;
}

int compact(JobStore& store, int chunk, int pauseAfter)
{
    CompactRequest request;
    request.chunk = static_cast<std::size_t>(chunk);
    request.note = "after writing out.jsonl";
    int chunks = 0;
    request.onChunk = [&](JobId through, std::int64_t jobs) {
        say("compacted " + std::to_string(through) + " " + std::to_string(jobs));
        if (++chunks == pauseAfter) {
            pause();
        }
    };
    store.compact(request);
    say("finished");
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 3) {
        std::cerr << "usage: store_crash_helper FILE rounds N [POINT ROUND] | FILE drain TOTAL\n";
        return 2;
    }
    try {
        SystemClock clock;
        JobStore store(args[0], clock);
        if (args[1] == "rounds") {
            const std::string pauseAt = args.size() >= 5 ? args[3] : "";
            const int pauseRound = args.size() >= 5 ? std::stoi(args[4]) : -1;
            return rounds(store, std::stoi(args[2]), pauseAt, pauseRound, clock);
        }
        if (args[1] == "compact" && args.size() >= 4) {
            return compact(store, std::stoi(args[2]), std::stoi(args[3]));
        }
        if (args[1] == "drain") {
            return drain(store, std::stoi(args[2]));
        }
        return 2;
    } catch (const StoreError& e) {
        std::cerr << e.what() << '\n';
        return 4;
    }
}
