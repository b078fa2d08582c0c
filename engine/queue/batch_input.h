// Reading an OpenAI Batch API input file ({"custom_id","method","url","body"}
// per line) into jobs, with every bad line reported by its line number
// instead of stopping the run.
//
// Thread-safety: none.
#pragma once

#include "dispatch/job.h"

#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace sluice {

struct BatchLine {
    std::size_t line = 0;  // 1-based
    JobSpec job;
    std::string bodyText;  // canonical body, to tell duplicates apart
    std::optional<double> deadlineSeconds;
};

struct RejectedLine {
    std::size_t line = 0;
    std::string customId;  // empty when it could not be read
    std::string error;
    std::string text;      // the line as given (truncated)
};

struct BatchInput {
    std::vector<BatchLine> lines;     // accepted, in input order
    std::vector<RejectedLine> rejects;  // including repeated custom_ids, naming the first line
};

// `accept` is asked about each well-formed line (e.g. the dispatcher's
// validation); a returned message rejects the line.
BatchInput readBatchInput(std::istream& in,
                          const std::function<std::string(const BatchLine&)>& accept = {});

// A check of a batch file that keeps no request: how many lines would be
// queued and every line that would not, as readBatchInput finds them
// (repeated custom_ids included). Memory grows with the file's custom_ids
// (and a hash of each body), not with its requests.
struct BatchCheck {
    std::size_t accepted = 0;
    std::vector<RejectedLine> rejects;  // in input order
};
BatchCheck checkBatchInput(std::istream& in, const std::function<std::string(const BatchLine&)>& accept = {});

// Why `path` cannot be read as a batch file ("PATH: is a directory, not a
// batch file", "PATH: cannot open for reading (reason)"), or empty when it
// can. Asked before reading: a directory opens as a stream that reads
// nothing, which would pass for an empty batch.
std::string batchInputFileProblem(const std::string& path);

// The same reading, streamed: each well-formed line goes to `onLine` as it
// is read, in input order, and nothing is kept, so memory does not grow with
// the file. `onLine` returns an error to reject the line (empty: taken);
// rejected lines, malformed or refused, go to `onReject` with the line as
// given. A repeated custom_id is not detected here (that needs every line
// seen so far): the caller's store tells it (engine/batchfile/batch_stream.h).
void readBatchLines(std::istream& in, const std::function<std::string(BatchLine&&)>& onLine,
                    const std::function<void(RejectedLine&&)>& onReject);

}  // namespace sluice
