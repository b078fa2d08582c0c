// Fuzzes the batch input reader (queue/batch_input.h): every line is either
// accepted or rejected with its line number; the reader itself never throws.
#include "queue/batch_input.h"

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    const sluice::BatchInput input = sluice::readBatchInput(in);
    std::size_t lines = 1;
    for (std::size_t i = 0; i < size; ++i) {
        lines += data[i] == '\n' ? 1 : 0;
    }
    for (const sluice::BatchLine& l : input.lines) {
        if (l.line == 0 || l.line > lines || l.job.customId.empty()) {
            std::abort();
        }
    }
    for (const sluice::RejectedLine& r : input.rejects) {
        if (r.line == 0 || r.line > lines || r.error.empty()) {
            std::abort();
        }
    }
    return 0;
}
