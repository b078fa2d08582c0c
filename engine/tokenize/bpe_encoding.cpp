#include "tokenize/bpe_encoding.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

namespace sluice::tokenize {

namespace {

constexpr std::uint32_t kNone = RankTable::kNone;

// Base64 (standard alphabet, '=' padding) to bytes; false when malformed.
bool decodeBase64(std::string_view in, std::string& out)
{
    static const std::array<std::int8_t, 256> table = [] {
        std::array<std::int8_t, 256> t{};
        t.fill(-1);
        const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (std::size_t i = 0; i < alphabet.size(); ++i) {
            t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
        }
        return t;
    }();
    out.clear();
    if (in.empty() || in.size() % 4 != 0) {
        return false;
    }
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '=') {
            if (i + 2 < in.size()) {
                return false;
            }
            ++padding;
            continue;
        }
        if (padding > 0) {
            return false;
        }
        const int v = table[static_cast<unsigned char>(c)];
        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return !out.empty();
}

bool parseUint(std::string_view text, std::uint32_t& out)
{
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
}

// A rank file's lines, one at a time, with errors naming the file and line.
struct RankFileLines {
    std::string_view text;
    const std::string& origin;
    std::size_t pos = 0;
    int lineNo = 0;

    bool next(std::string_view& line)
    {
        if (pos >= text.size()) {
            return false;
        }
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        line = text.substr(pos, end - pos);
        pos = end + 1;
        ++lineNo;
        return true;
    }

    TokenizerError fail(const std::string& what) const
    {
        return TokenizerError(origin + ":" + std::to_string(lineNo) + ": " + what);
    }
};

// The records before the ranks: up to and including "count N".
struct RankFileHeader {
    std::string name;
    std::string source;
    std::string pattern;
    std::vector<std::pair<std::string, std::uint32_t>> special;
    std::uint32_t count = 0;
};

bool recordField(std::string_view line, std::string_view key, std::string_view& value)
{
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
        value = line.substr(key.size() + 1);
        return true;
    }
    return false;
}

RankFileHeader readHeader(RankFileLines& in)
{
    RankFileHeader h;
    std::string_view line;
    for (;;) {
        if (!in.next(line)) {
            throw in.fail("ends before its \"count\" line");
        }
        std::string_view value;
        if (recordField(line, "name", value)) {
            h.name = value;
        } else if (recordField(line, "source", value)) {
            h.source = value;
        } else if (recordField(line, "pattern", value)) {
            h.pattern = value;
        } else if (recordField(line, "special", value)) {
            const std::size_t sp = value.find(' ');
            std::uint32_t rank = 0;
            if (sp == std::string_view::npos || !parseUint(value.substr(0, sp), rank) || sp + 1 >= value.size()) {
                throw in.fail("expected \"special RANK TEXT\"");
            }
            h.special.emplace_back(std::string(value.substr(sp + 1)), rank);
        } else if (recordField(line, "count", value)) {
            if (!parseUint(value, h.count) || h.count < 256 || h.count > RankTable::kMaxRanks) {
                throw in.fail("expected \"count N\" with N from 256 (every byte has a token) to " +
                              std::to_string(RankTable::kMaxRanks));
            }
            return h;
        } else {
            throw in.fail("unknown record \"" + std::string(line.substr(0, 40)) + "\"");
        }
    }
}

// A thread's counting scratch is let go once it has grown past this.
constexpr std::size_t kKeepScratchPieces = 1U << 14;

}  // namespace

struct BpeEncoding::Scratch {
    std::vector<Piece> pieces;
    // Linear merge: (start, rank of merging this part with the next).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> parts;
    // Heap merge: the linked list of parts and the candidate merges.
    std::vector<std::uint32_t> next, prev;
    struct Candidate {
        std::uint32_t rank, start, end;
        bool operator>(const Candidate& o) const noexcept
        {
            return rank != o.rank ? rank > o.rank : start > o.start;
        }
    };
    std::vector<Candidate> heap;
};

BpeEncoding::BpeEncoding(std::string name, std::string source, std::string_view pattern)
    : m_name(std::move(name)), m_source(std::move(source)), m_pattern(pattern)
{
}

std::shared_ptr<const BpeEncoding> BpeEncoding::loadFile(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw TokenizerError(path.string() + ": cannot open the rank file");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw TokenizerError(path.string() + ": cannot read the rank file");
    }
    return parse(text.str(), path.string());
}

std::shared_ptr<const BpeEncoding> BpeEncoding::parse(std::string_view text, const std::string& origin)
{
    RankFileLines in{text, origin};
    std::string_view line;
    if (!in.next(line) || line != "sluice-bpe-ranks 1") {
        throw in.fail("not a Sluice rank file (expected the header \"sluice-bpe-ranks 1\")");
    }
    RankFileHeader header = readHeader(in);
    const std::string& name = header.name;
    const std::string& pattern = header.pattern;
    const std::uint32_t count = header.count;
    if (name.empty() || pattern.empty()) {
        throw in.fail("the \"name\" and \"pattern\" records are required before \"count\"");
    }
    std::shared_ptr<BpeEncoding> enc;
    try {
        enc.reset(new BpeEncoding(name, header.source, pattern));
    } catch (const TokenizerError& e) {
        throw TokenizerError(origin + ": pattern: " + e.what());
    }
    enc->m_special = std::move(header.special);
    std::string bytes;
    for (std::uint32_t r = 0; r < count; ++r) {
        if (!in.next(line)) {
            throw in.fail("ends after " + std::to_string(r) + " of its " + std::to_string(count) + " ranks");
        }
        if (!decodeBase64(line, bytes)) {
            throw in.fail("rank " + std::to_string(r) + ": not base64");
        }
        enc->m_ranks.add(bytes);
    }
    if (in.next(line) && !line.empty()) {
        throw in.fail("more lines than the " + std::to_string(count) + " ranks announced");
    }
    if (const std::uint32_t dup = enc->m_ranks.freeze(); dup != kNone) {
        throw TokenizerError(origin + ": rank " + std::to_string(dup) + " repeats an earlier token");
    }
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        if (enc->m_ranks.find(&c, 1) == kNone) {
            throw TokenizerError(origin + ": byte " + std::to_string(b) + " has no token; every byte needs one");
        }
    }
    return enc;
}

template <class Sink>
void BpeEncoding::mergeLinear(const char* p, std::size_t n, Scratch& s, Sink& sink) const
{
    // tiktoken's byte_pair_merge: parts[i] = (start, rank of merging part i
    // with part i+1); repeatedly merge the lowest rank, leftmost on ties.
    auto& parts = s.parts;
    parts.clear();
    for (std::size_t i = 0; i + 1 < n; ++i) {
        parts.emplace_back(static_cast<std::uint32_t>(i), m_ranks.find(p + i, 2));
    }
    parts.emplace_back(static_cast<std::uint32_t>(n - 1), kNone);
    parts.emplace_back(static_cast<std::uint32_t>(n), kNone);
    auto rankAt = [&](std::size_t i) {
        if (i + 3 < parts.size()) {
            return m_ranks.find(p + parts[i].first, parts[i + 3].first - parts[i].first);
        }
        return kNone;
    };
    for (;;) {
        std::uint32_t minRank = kNone;
        std::size_t minAt = 0;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            if (parts[i].second < minRank) {
                minRank = parts[i].second;
                minAt = i;
            }
        }
        if (minRank == kNone) {
            break;
        }
        if (minAt > 0) {
            parts[minAt - 1].second = rankAt(minAt - 1);
        }
        parts[minAt].second = rankAt(minAt);
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(minAt) + 1);
    }
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        sink(m_ranks.find(p + parts[i].first, parts[i + 1].first - parts[i].first));
    }
}

template <class Sink>
void BpeEncoding::mergeHeap(const char* p, std::size_t n, Scratch& s, Sink& sink) const
{
    // The same merges in the same order: the heap's minimum is the lowest
    // rank, then the leftmost start, which is the pair the linear scan
    // picks. A candidate is stale once its start was merged away or its
    // right neighbour changed (its end no longer matches).
    const auto end = static_cast<std::uint32_t>(n);
    auto& next = s.next;
    auto& prev = s.prev;
    auto& heap = s.heap;
    next.resize(n + 1);
    prev.resize(n + 1);
    heap.clear();
    for (std::uint32_t i = 0; i <= end; ++i) {
        next[i] = i < end ? i + 1 : end;
        prev[i] = i > 0 ? i - 1 : kNone;
    }
    const std::greater<> cmp;
    auto push = [&](std::uint32_t start) {
        if (start == kNone || next[start] >= end) {
            return;
        }
        const std::uint32_t stop = next[next[start]];
        const std::uint32_t rank = m_ranks.find(p + start, stop - start);
        if (rank != kNone) {
            heap.push_back({rank, start, stop});
            std::push_heap(heap.begin(), heap.end(), cmp);
        }
    };
    for (std::uint32_t i = 0; i + 1 < end; ++i) {
        push(i);
    }
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), cmp);
        const Scratch::Candidate c = heap.back();
        heap.pop_back();
        // Part 0 is never merged away (merges remove the right part); any
        // other start that was has prev == kNone.
        const bool alive = c.start == 0 || prev[c.start] != kNone;
        if (!alive || next[c.start] >= end || next[next[c.start]] != c.end) {
            continue;
        }
        const std::uint32_t gone = next[c.start];
        next[c.start] = next[gone];
        if (next[gone] < end) {
            prev[next[gone]] = c.start;
        }
        prev[gone] = kNone;
        push(c.start);
        push(prev[c.start]);
    }
    for (std::uint32_t i = 0; i < end; i = next[i]) {
        sink(m_ranks.find(p + i, next[i] - i));
    }
}

template <class Sink>
void BpeEncoding::run(std::string_view text, Scratch& s, Sink&& sink) const
{
    std::string sanitized;
    if (!isValidUtf8(text)) {
        sanitized = sanitizeUtf8(text);
        text = sanitized;
    }
    s.pieces.clear();
    m_pattern.split(text, s.pieces);
    for (const Piece& piece : s.pieces) {
        const char* p = text.data() + piece.offset;
        const std::size_t n = piece.length;
        if (const std::uint32_t whole = m_ranks.find(p, n); whole != kNone) {
            sink(whole);
        } else if (n < kHeapMergeFrom) {
            mergeLinear(p, n, s, sink);
        } else {
            mergeHeap(p, n, s, sink);
        }
    }
}

void BpeEncoding::encode(std::string_view text, std::vector<std::uint32_t>& out) const
{
    Scratch s;
    run(text, s, [&out](std::uint32_t id) { out.push_back(id); });
}

std::vector<std::uint32_t> BpeEncoding::encode(std::string_view text) const
{
    std::vector<std::uint32_t> out;
    encode(text, out);
    return out;
}

std::size_t BpeEncoding::count(std::string_view text) const
{
    if (text.empty()) {
        return 0;
    }
    return m_memo.countOr(text, [this](std::string_view t) {
        // One scratch per thread: counting a message allocates nothing once
        // the thread has counted one as long. After a huge text it is let go
        // rather than kept for the life of the thread.
        thread_local Scratch s;
        std::size_t n = 0;
        run(t, s, [&n](std::uint32_t) { ++n; });
        if (s.pieces.capacity() > kKeepScratchPieces) {
            s = Scratch{};
        }
        return n;
    });
}

std::string BpeEncoding::decode(const std::vector<std::uint32_t>& ids) const
{
    std::string out;
    for (const std::uint32_t id : ids) {
        if (id < m_ranks.size()) {
            out.append(m_ranks.bytesOf(id));
            continue;
        }
        for (const auto& [text, rank] : m_special) {
            if (rank == id) {
                out += text;
                break;
            }
        }
    }
    return out;
}

}  // namespace sluice::tokenize
