// PassedHeaders: which of a client's request headers go on to the provider
// with its body. A gateway forwards the body as the client wrote it, and a
// few headers decide what the provider does with that body: Anthropic's
// `anthropic-beta` (features such as structured outputs or a longer
// context, which the SDK's `betas` option sends) and `anthropic-version`
// (the API version the body was written for), OpenAI's `openai-beta`.
// Nothing else passes: credentials, organisation and project belong to the
// provider key Sluice holds, and the SDKs' own bookkeeping (`x-stainless-*`,
// retry counts) is about the client's connection to the gateway.
//
// Thread-safety: a pure function.
#pragma once

#include "net/http_server.h"
#include "providers/protocol.h"

#include <string>
#include <vector>

namespace sluice::gateway {

// "Name: value" lines for the request to a provider of `flavor`, in a fixed
// order, names in lower case; a header the client sent several times
// becomes one line with its values joined by commas (RFC 9110 5.3). A value
// with a control character, or empty, is left out.
std::vector<std::string> passedHeaderLines(const net::HttpHeaders& headers, ApiFlavor flavor);

}  // namespace sluice::gateway
