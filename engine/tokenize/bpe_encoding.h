// One exact byte-pair-encoding tokenizer (tiktoken's o200k_base,
// cl100k_base, ...): a split pattern and a rank table read from a Sluice
// rank file (resources/tokenizers/NAME.ranks, converted from js-tiktoken by
// tools/tiktoken/convert-ranks.mjs). Text is encoded as tiktoken's
// encode_ordinary does: special-token text counts as ordinary text.
// Ill-formed UTF-8 is read as a JavaScript TextDecoder reads it (U+FFFD).
//
// count() remembers the texts it counted (CountMemo), so a text sent again
// costs a lookup.
//
// Thread-safety: immutable after load but for the count memo, which has a
// lock of its own; encode/count from any thread at once.
#pragma once

#include "tokenize/count_memo.h"
#include "tokenize/rank_table.h"
#include "tokenize/split_pattern.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::tokenize {

class BpeEncoding {
public:
    // Reads a rank file. Throws TokenizerError "FILE:LINE: what" when it
    // cannot be read or is malformed.
    static std::shared_ptr<const BpeEncoding> loadFile(const std::filesystem::path& path);
    // The same from the file's text; origin names it in errors.
    static std::shared_ptr<const BpeEncoding> parse(std::string_view text, const std::string& origin);

    const std::string& name() const noexcept { return m_name; }
    const std::string& source() const noexcept { return m_source; }  // "js-tiktoken 1.0.21 (MIT)"
    std::size_t vocabularySize() const noexcept { return m_ranks.size(); }
    const std::vector<std::pair<std::string, std::uint32_t>>& specialTokens() const noexcept { return m_special; }

    // Appends the token ids of text to out.
    void encode(std::string_view text, std::vector<std::uint32_t>& out) const;
    std::vector<std::uint32_t> encode(std::string_view text) const;
    // The number of tokens encode() would produce, without storing them;
    // remembered for the next time the same text is counted.
    std::size_t count(std::string_view text) const;
    CountMemo::Stats countMemoStats() const { return m_memo.stats(); }
    // The bytes of ids (ordinary and special), concatenated.
    std::string decode(const std::vector<std::uint32_t>& ids) const;

    // Pieces at least this long merge through a heap (O(n log n)) instead of
    // the linear scan tiktoken uses (O(n²)): a megabyte of spaces must not
    // stall a request. Both give the same tokens.
    static constexpr std::size_t kHeapMergeFrom = 128;

private:
    BpeEncoding(std::string name, std::string source, std::string_view pattern);

    struct Scratch;
    template <class Sink>
    void run(std::string_view text, Scratch& scratch, Sink&& sink) const;
    template <class Sink>
    void mergeLinear(const char* p, std::size_t n, Scratch& scratch, Sink& sink) const;
    template <class Sink>
    void mergeHeap(const char* p, std::size_t n, Scratch& scratch, Sink& sink) const;

    std::string m_name;
    std::string m_source;
    SplitPattern m_pattern;
    RankTable m_ranks;
    std::vector<std::pair<std::string, std::uint32_t>> m_special;
    mutable CountMemo m_memo;
};

}  // namespace sluice::tokenize
