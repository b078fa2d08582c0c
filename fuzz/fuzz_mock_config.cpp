// Fuzzes the mock provider's configuration (mock/mock_config.h): a file
// document and a live merge patch. Each parses or throws ConfigError; a
// parsed configuration writes back to JSON that parses to an equal one.
#include "mock/mock_config.h"

#include "fuzz_input.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    sluice::fuzz::FuzzInput in(data, size);
    const std::string_view document = in.part();
    const std::string_view patch = in.rest();
    namespace mock = sluice::mock;
    mock::MockConfig base = mock::MockConfig::defaults();
    try {
        base = mock::parseMockConfig(document, "mock.json");
        if (!(mock::parseMockConfig(mock::toJson(base), "round trip") == base)) {
            std::abort();
        }
    } catch (const mock::ConfigError&) {
    }
    try {
        const mock::MockConfig patched = mock::patchMockConfig(base, patch, "POST /mock/config");
        if (!(mock::parseMockConfig(mock::toJson(patched), "round trip") == patched)) {
            std::abort();
        }
    } catch (const mock::ConfigError&) {
    }
    std::string host;
    std::uint16_t port = 0;
    (void)mock::listenProblem(patch.substr(0, 64), host, port);
    return 0;
}
