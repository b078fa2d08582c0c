#include "metrics/rollup_store.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

namespace sluice::metrics {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kColumns =
    "minute_ms, provider, key_label, model, sent, completed, failed, retries, input_tokens, output_tokens, "
    "estimated_input_tokens, estimated_output_tokens, spend_micro_usd, unpriced, failures, latency, latency_sum_us, "
    "ttft, ttft_sum_us";

std::int64_t toMs(WallTime t)
{
    return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string failuresText(const Tally& t)
{
    json out = json::object();
    for (int c = 1; c < kFailureClassCount; ++c) {
        if (const auto n = t.failuresOf(static_cast<FailureClass>(c)); n != 0) {
            out[std::string(failureClassName(static_cast<FailureClass>(c)))] = n;
        }
    }
    return out.dump();
}

std::string histogramText(const Histogram& h)
{
    json out = json::object();
    for (int i = 0; i < kHistogramBuckets; ++i) {
        if (const auto n = h.bucket(i); n != 0) {
            out[std::to_string(i)] = n;
        }
    }
    return out.dump();
}

// Text that does not parse (a hand-edited row) reads as nothing rather than
// failing the whole report.
json parseObject(const std::string& text)
{
    json j = json::parse(text, nullptr, false);
    return j.is_object() ? j : json::object();
}

void readFailures(const std::string& text, Tally& t)
{
    const json object = parseObject(text);
    for (const auto& [name, n] : object.items()) {
        FailureClass c = FailureClass::None;
        if (parseFailureClass(name, c) && n.is_number_unsigned()) {
            t.failures[static_cast<std::size_t>(c)] = n.get<std::uint32_t>();
        }
    }
}

void readHistogram(const std::string& text, std::int64_t sumUs, Histogram& h)
{
    h = Histogram();
    const json object = parseObject(text);
    for (const auto& [index, n] : object.items()) {
        const int i = std::atoi(index.c_str());
        if (i >= 0 && i < kHistogramBuckets && n.is_number_unsigned()) {
            h.addToBucket(i, n.get<std::uint64_t>(), Duration::zero());
        }
    }
    h.addToBucket(0, 0, std::chrono::microseconds(sumUs));
}

RollupRow readRow(const store::Statement& s)
{
    RollupRow r;
    r.minute = WallTime(milliseconds(s.int64(0)));
    r.provider = s.text(1);
    r.key = s.text(2);
    r.model = s.text(3);
    Tally& t = r.tally;
    t.sent = static_cast<std::uint32_t>(s.int64(4));
    t.completed = static_cast<std::uint32_t>(s.int64(5));
    // column 6 (failed) is the sum of `failures`, kept for SQL readers
    t.retries = static_cast<std::uint32_t>(s.int64(7));
    t.inputTokens = s.int64(8);
    t.outputTokens = s.int64(9);
    t.estimatedInputTokens = s.int64(10);
    t.estimatedOutputTokens = s.int64(11);
    t.spendMicroUsd = s.int64(12);
    t.unpriced = static_cast<std::uint32_t>(s.int64(13));
    readFailures(s.text(14), t);
    readHistogram(s.text(15), s.int64(16), t.latency);
    readHistogram(s.text(17), s.int64(18), t.timeToFirstToken);
    return r;
}

}  // namespace

RollupStore::RollupStore(std::filesystem::path file, store::StoreOptions options)
    : m_file(std::move(file)), m_db(store::openWorkspaceDatabase(m_file, options, "opening the metrics rollups"))
{
}

RollupStore::~RollupStore() = default;

void RollupStore::addRollups(std::span<const RollupRow> rows)
{
    if (rows.empty()) {
        return;
    }
    std::lock_guard guard(m_mutex);
    try {
        store::Transaction t(m_db);
        for (const RollupRow& row : rows) {
            Tally sum = row.tally;
            {
                auto find = m_db.cached(std::string("SELECT ") + kColumns +
                                        " FROM metrics_minutes WHERE minute_ms = ?1 AND provider = ?2 AND "
                                        "key_label = ?3 AND model = ?4");
                find->bind(1, toMs(row.minute)).bind(2, row.provider).bind(3, row.key).bind(4, row.model);
                if (find->step()) {
                    sum.merge(readRow(*find).tally);
                }
            }
            auto put = m_db.cached(std::string("INSERT OR REPLACE INTO metrics_minutes (") + kColumns +
                                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                                   "?16, ?17, ?18, ?19)");
            put->bind(1, toMs(row.minute))
                .bind(2, row.provider)
                .bind(3, row.key)
                .bind(4, row.model)
                .bind(5, std::int64_t{sum.sent})
                .bind(6, std::int64_t{sum.completed})
                .bind(7, static_cast<std::int64_t>(sum.failed()))
                .bind(8, std::int64_t{sum.retries})
                .bind(9, sum.inputTokens)
                .bind(10, sum.outputTokens)
                .bind(11, sum.estimatedInputTokens)
                .bind(12, sum.estimatedOutputTokens)
                .bind(13, sum.spendMicroUsd)
                .bind(14, std::int64_t{sum.unpriced})
                .bind(15, failuresText(sum))
                .bind(16, histogramText(sum.latency))
                .bind(17, sum.latency.sumUs())
                .bind(18, histogramText(sum.timeToFirstToken))
                .bind(19, sum.timeToFirstToken.sumUs());
            put->run();
        }
        t.commit();
    } catch (const store::StoreError& e) {
        throw e.withContext("writing " + std::to_string(rows.size()) + " metrics rollups");
    }
}

std::vector<RollupRow> RollupStore::rows(WallTime from, WallTime to) const
{
    std::lock_guard guard(m_mutex);
    std::vector<RollupRow> out;
    try {
        // One read transaction, so a concurrent flush is seen whole or not at all.
        store::Transaction t(m_db, store::TransactionKind::Deferred);
        auto q = m_db.cached(std::string("SELECT ") + kColumns +
                             " FROM metrics_minutes WHERE minute_ms >= ?1 AND minute_ms < ?2 "
                             "ORDER BY minute_ms, provider, key_label, model");
        q->bind(1, toMs(from)).bind(2, toMs(to));
        while (q->step()) {
            out.push_back(readRow(*q));
        }
    } catch (const store::StoreError& e) {
        throw e.withContext("reading metrics rollups");
    }
    return out;
}

std::optional<std::pair<WallTime, WallTime>> RollupStore::extent() const
{
    std::lock_guard guard(m_mutex);
    try {
        auto q = m_db.cached("SELECT min(minute_ms), max(minute_ms) FROM metrics_minutes");
        if (!q->step() || q->isNull(0)) {
            return std::nullopt;
        }
        return std::make_pair(WallTime(milliseconds(q->int64(0))), WallTime(milliseconds(q->int64(1))));
    } catch (const store::StoreError& e) {
        throw e.withContext("reading metrics rollups");
    }
}

}  // namespace sluice::metrics
