#include "cli/progress.h"

#include <cmath>
#include <unistd.h>

namespace sluice::cli {

void ProgressLine::update(const std::string& text)
{
    if (!m_enabled) {
        return;
    }
    // \r returns to the line start; ESC[K clears what the last draw left.
    std::fprintf(m_out, "\r%s\x1b[K", text.c_str());
    std::fflush(m_out);
    m_drawn = true;
}

void ProgressLine::finish()
{
    if (m_enabled && m_drawn) {
        std::fputc('\n', m_out);
        std::fflush(m_out);
        m_drawn = false;
    }
}

std::string progressBar(double fraction, int width)
{
    fraction = std::clamp(fraction, 0.0, 1.0);
    const int filled = static_cast<int>(std::floor(fraction * width));
    std::string s = "[";
    for (int i = 0; i < width; ++i) {
        s.push_back(i < filled ? '=' : (i == filled ? '>' : ' '));
    }
    if (filled >= width) {
        s.back() = '=';
    }
    s.push_back(']');
    return s;
}

std::string shortDuration(Duration d)
{
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0) {
        s = 0;
    }
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
    } else if (s >= 60) {
        std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
    }
    return buf;
}

bool progressWanted(const std::string& mode, std::FILE* stream)
{
    if (mode == "always") {
        return true;
    }
    if (mode == "never") {
        return false;
    }
    return isatty(fileno(stream)) != 0;
}

}  // namespace sluice::cli
