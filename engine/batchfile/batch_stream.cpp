#include "batchfile/batch_stream.h"

#include "batchfile/batch_submission.h"

#include <algorithm>
#include <utility>

namespace sluice {

BatchStreamQueue::BatchStreamQueue(store::JobStore& store, Options options, Listener listener)
    : m_store(store), m_options(std::move(options)), m_listener(std::move(listener))
{
    m_chunk.reserve(m_options.chunkLines);
    m_lines.reserve(m_options.chunkLines);
}

bool BatchStreamQueue::full() const noexcept
{
    return m_chunk.size() >= m_options.chunkLines || m_chunkBytes >= m_options.chunkBytes;
}

void BatchStreamQueue::add(const BatchLine& line)
{
    m_chunk.push_back(batchLineToJob(line, m_options.defaultPriority, m_options.start));
    m_lines.push_back(line.line);
    m_chunkBytes += m_chunk.back().body.size();
    if (full()) {
        flush();
    }
}

void BatchStreamQueue::flush()
{
    if (m_chunk.empty()) {
        return;
    }
    std::vector<store::NewJob> chunk;
    chunk.swap(m_chunk);
    std::vector<std::size_t> lines;
    lines.swap(m_lines);
    m_chunkBytes = 0;
    m_chunk.reserve(m_options.chunkLines);
    m_lines.reserve(m_options.chunkLines);
    const std::vector<store::EnqueueResult> results = m_store.enqueueMany(chunk);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const store::EnqueueResult& r = results[i];
        const store::NewJob& job = chunk[i];
        Queued q{i, lines[i], r.id, Fate::Added};
        if (const auto first = m_ids.lineOf(r.id)) {
            // This run already holds that job: the line repeats an earlier one.
            q.fate = Fate::Rejected;
            m_rejects.push_back(RejectedLine{
                lines[i], job.customId,
                "custom_id: \"" + job.customId + "\" repeats line " + std::to_string(*first) +
                    (r.status == store::EnqueueStatus::Conflict ? " with a different body" : " (the same request)"),
                job.body.substr(0, 4096)});
        } else if (r.status == store::EnqueueStatus::Conflict) {
            q.fate = Fate::Rejected;
            m_rejects.push_back(RejectedLine{lines[i], job.customId,
                                             "custom_id: \"" + job.customId + "\" is already in " +
                                                 m_options.storeName + " with a different request",
                                             job.body.substr(0, 4096)});
        } else {
            if (r.status == store::EnqueueStatus::Duplicate) {
                q.fate = Fate::Resumed;
                ++m_resumed;
            }
            m_ids.add(r.id, lines[i]);
        }
        if (m_listener) {
            m_listener(q);
        }
    }
}

QueuedBatch queueBatchFile(store::JobStore& store, std::istream& in,
                           const std::function<std::string(const BatchLine&)>& accept,
                           BatchStreamQueue::Options options, BatchStreamQueue::Listener listener)
{
    BatchStreamQueue queue(store, std::move(options), std::move(listener));
    QueuedBatch result;
    readBatchLines(
        in,
        [&](BatchLine&& line) -> std::string {
            if (accept) {
                if (std::string error = accept(line); !error.empty()) {
                    return error;
                }
            }
            queue.add(line);
            return {};
        },
        [&](RejectedLine&& r) { result.rejects.push_back(std::move(r)); });
    queue.flush();
    result.ids = queue.ids();
    result.resumed = queue.resumed();
    std::vector<RejectedLine>& repeats = queue.rejects();
    result.rejects.insert(result.rejects.end(), std::make_move_iterator(repeats.begin()),
                          std::make_move_iterator(repeats.end()));
    std::stable_sort(result.rejects.begin(), result.rejects.end(),
                     [](const RejectedLine& a, const RejectedLine& b) { return a.line < b.line; });
    return result;
}

}  // namespace sluice
