// A strict reader of the Prometheus text exposition format (0.0.4) for
// tests: every line must be a comment, a HELP or TYPE line, or a sample
// `name{label="value",…} value`; names and label names must be valid,
// label values escaped; a family's TYPE comes before its samples, once;
// samples are not repeated; histogram buckets are cumulative and their +Inf
// bucket equals _count. It says what is wrong, line by line.
//
// Thread-safety: pure functions.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct PromText {
    std::map<std::string, std::string> types;  // family → counter, gauge, histogram, ...
    std::vector<PromSample> samples;
    std::vector<std::string> errors;

    // The value of the one sample with this name whose labels include `match`.
    std::optional<double> value(const std::string& name, const std::map<std::string, std::string>& match = {}) const
    {
        std::optional<double> found;
        for (const PromSample& s : samples) {
            if (s.name != name) {
                continue;
            }
            bool ok = true;
            for (const auto& [k, v] : match) {
                const auto it = s.labels.find(k);
                ok = ok && it != s.labels.end() && it->second == v;
            }
            if (ok) {
                found = found.value_or(0) + s.value;
            }
        }
        return found;
    }
};

inline std::string promFamilyOf(const std::string& sample, const std::map<std::string, std::string>& types)
{
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string_view s(suffix);
        if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
            const std::string base = sample.substr(0, sample.size() - s.size());
            const auto it = types.find(base);
            if (it != types.end() && (it->second == "histogram" || it->second == "summary")) {
                return base;
            }
        }
    }
    return sample;
}

inline PromText parsePrometheusText(const std::string& text)
{
    PromText out;
    static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
    static const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
    static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
    std::set<std::string> seenSamples;
    std::set<std::string> closedFamilies;
    std::string currentFamily;
    std::size_t lineNo = 0;
    std::size_t pos = 0;
    if (!text.empty() && text.back() != '\n') {
        out.errors.push_back("the text does not end with a newline");
    }
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        const std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        ++lineNo;
        const auto fail = [&](const std::string& why) {
            out.errors.push_back("line " + std::to_string(lineNo) + ": " + why + ": " + line);
        };
        if (line.empty()) {
            continue;
        }
        if (line[0] == '#') {
            if (line.rfind("# TYPE ", 0) == 0 || line.rfind("# HELP ", 0) == 0) {
                const std::string rest = line.substr(7);
                const std::size_t sp = rest.find(' ');
                const std::string name = rest.substr(0, sp);
                if (!std::regex_match(name, kName)) {
                    fail("bad metric name");
                    continue;
                }
                if (line[2] == 'T') {
                    const std::string type = sp == std::string::npos ? "" : rest.substr(sp + 1);
                    if (kTypes.count(type) == 0) {
                        fail("unknown type");
                    }
                    if (out.types.count(name) != 0) {
                        fail("a second TYPE for the family");
                    }
                    out.types[name] = type;
                }
            }
            continue;
        }
        PromSample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') {
            ++i;
        }
        s.name = line.substr(0, i);
        if (!std::regex_match(s.name, kName)) {
            fail("bad metric name");
            continue;
        }
        bool ok = true;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (ok && i < line.size() && line[i] != '}') {
                const std::size_t eq = line.find('=', i);
                if (eq == std::string::npos) {
                    ok = false;
                    break;
                }
                const std::string label = line.substr(i, eq - i);
                if (!std::regex_match(label, kLabelName) || eq + 1 >= line.size() || line[eq + 1] != '"') {
                    ok = false;
                    break;
                }
                std::string value;
                std::size_t j = eq + 2;
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\') {
                        if (j + 1 >= line.size()) {
                            ok = false;
                            break;
                        }
                        const char e = line[++j];
                        if (e == 'n') {
                            value += '\n';
                        } else if (e == '\\' || e == '"') {
                            value += e;
                        } else {
                            ok = false;
                        }
                    } else {
                        value += line[j];
                    }
                }
                if (!ok || j >= line.size()) {
                    ok = false;
                    break;
                }
                if (s.labels.count(label) != 0) {
                    fail("label repeated");
                }
                s.labels[label] = value;
                i = j + 1;
                if (i < line.size() && line[i] == ',') {
                    ++i;
                }
            }
            if (!ok || i >= line.size()) {
                fail("malformed labels");
                continue;
            }
            ++i;  // '}'
        }
        if (i >= line.size() || line[i] != ' ') {
            fail("no value");
            continue;
        }
        const std::string valueText = line.substr(i + 1);
        if (valueText == "+Inf" || valueText == "-Inf" || valueText == "NaN") {
            s.value = valueText == "NaN" ? NAN : (valueText[0] == '+' ? INFINITY : -INFINITY);
        } else {
            char* endp = nullptr;
            s.value = std::strtod(valueText.c_str(), &endp);
            if (endp == valueText.c_str() || (*endp != '\0' && *endp != ' ')) {
                fail("value is not a number");
                continue;
            }
        }
        const std::string family = promFamilyOf(s.name, out.types);
        if (out.types.count(family) == 0) {
            fail("sample before its family's TYPE");
        }
        if (family != currentFamily) {
            if (closedFamilies.count(family) != 0) {
                fail("the family's samples are not together");
            }
            if (!currentFamily.empty()) {
                closedFamilies.insert(currentFamily);
            }
            currentFamily = family;
        }
        std::string id = s.name;
        for (const auto& [k, v] : s.labels) {
            id += "\x1f" + k + "=" + v;
        }
        if (!seenSamples.insert(id).second) {
            fail("sample repeated");
        }
        out.samples.push_back(std::move(s));
    }
    // Histograms: cumulative buckets per label set, +Inf equal to _count.
    for (const auto& [family, type] : out.types) {
        if (type != "histogram") {
            continue;
        }
        std::map<std::string, std::vector<std::pair<double, double>>> buckets;
        std::map<std::string, double> counts;
        for (const PromSample& s : out.samples) {
            auto labels = s.labels;
            const std::string le = labels.count("le") ? labels["le"] : "";
            labels.erase("le");
            std::string id;
            for (const auto& [k, v] : labels) {
                id += k + "=" + v + ";";
            }
            if (s.name == family + "_bucket") {
                buckets[id].emplace_back(le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr), s.value);
            } else if (s.name == family + "_count") {
                counts[id] = s.value;
            }
        }
        for (const auto& [id, list] : buckets) {
            for (std::size_t k = 1; k < list.size(); ++k) {
                if (list[k].first <= list[k - 1].first || list[k].second < list[k - 1].second) {
                    out.errors.push_back(family + "{" + id + "}: buckets not in order or not cumulative");
                }
            }
            if (list.empty() || !std::isinf(list.back().first) || counts.count(id) == 0 ||
                list.back().second != counts[id]) {
                out.errors.push_back(family + "{" + id + "}: no +Inf bucket equal to _count");
            }
        }
    }
    return out;
}

}  // namespace sluice::test
