// A one-line live progress display for long CLI work, redrawn in place on a
// terminal, plus number formatting shared by the commands' summaries.
//
// Thread-safety: none; one per command.
#pragma once

#include "core/clock.h"
#include "core/numbers.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace sluice::cli {

class ProgressLine {
public:
    // Draws only when enabled (normally: the stream is a terminal).
    ProgressLine(std::FILE* out, bool enabled) : m_out(out), m_enabled(enabled) {}
    ~ProgressLine() { finish(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    void update(const std::string& text);
    void finish();  // leaves the last line on screen
    bool enabled() const noexcept { return m_enabled; }

private:
    std::FILE* m_out;
    bool m_enabled;
    bool m_drawn = false;
};

// "[=========>          ]"
std::string progressBar(double fraction, int width);
// 1m32s, 45s, 2h05m
std::string shortDuration(Duration d);
// "auto": stderr is a terminal; "always"; "never".
bool progressWanted(const std::string& mode, std::FILE* stream);

}  // namespace sluice::cli
