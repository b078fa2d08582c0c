// The OpenAI encodings Sluice knows, which model uses which, and their rank
// files loaded lazily: each file is read once, on the first request that
// needs it, from the directory given at construction (see resource_dir.h).
//
// Thread-safety: every member from any thread; the first get() of an
// encoding loads it while other callers of the same encoding wait.
#pragma once

#include "tokenize/bpe_encoding.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::tokenize {

enum class EncodingId : std::uint8_t { O200kBase, Cl100kBase };
inline constexpr std::size_t kEncodingCount = 2;

std::string_view encodingName(EncodingId id) noexcept;

// The encoding OpenAI uses for a model: o200k_base for the gpt-4o, gpt-4.1,
// gpt-4.5, gpt-5, o1/o3/o4 and gpt-oss families; cl100k_base for gpt-4,
// gpt-4-turbo, gpt-3.5-turbo and the text-embedding-3 / ada-002 models.
// Fine-tune names ("ft:gpt-4o-mini:org::id") and routing prefixes
// ("openai/gpt-4o") are read through. nullopt for any other model (a
// deployment alias, another provider's model).
std::optional<EncodingId> encodingForModel(std::string_view model) noexcept;

class Encodings {
public:
    // directory holds o200k_base.ranks and cl100k_base.ranks.
    explicit Encodings(std::filesystem::path directory);

    // The encoding, loaded on first use; nullptr when its file is missing or
    // malformed (loadError() says why; it is not retried).
    const BpeEncoding* get(EncodingId id) const;
    // get(encodingForModel(model)); nullptr for a model with no encoding.
    const BpeEncoding* forModel(std::string_view model) const;
    // Why get(id) returns nullptr (loading it first); empty when it loads.
    std::string loadError(EncodingId id) const;

    const std::filesystem::path& directory() const noexcept { return m_directory; }

private:
    struct Slot {
        std::once_flag once;
        std::shared_ptr<const BpeEncoding> encoding;
        std::string error;
    };
    std::filesystem::path m_directory;
    mutable std::array<Slot, kEncodingCount> m_slots;
};

}  // namespace sluice::tokenize
