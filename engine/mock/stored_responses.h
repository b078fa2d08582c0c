// StoredResponses: the Responses API's stored answers, per API key, as the
// provider keeps them per project: what GET and DELETE /v1/responses/{id}
// read, and what previous_response_id must name. A key that did not make a
// response does not know it (404 on a read, 400 previous_response_not_found
// on a continuation), which is what a pool of keys from different projects
// meets when a continuation goes out on another key.
// Bounded: past `capacity` the oldest are forgotten first.
//
// Thread-safety: every member from any thread (one internal mutex).
#pragma once

#include "net/http_server.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::mock {

class StoredResponses {
public:
    explicit StoredResponses(std::size_t capacity = 10'000) : m_capacity(capacity == 0 ? 1 : capacity) {}

    // `object`: the response as GET returns it (its "id" names it).
    void put(const std::string& key, std::string object);
    // The conversation a continuation of `id` carries as input: that
    // response's input and output tokens (its input already holds what it
    // continued). OpenAI counts all of it as the continuation's input, for
    // billing and for the token limits. nullopt when `id` is unknown to
    // `key` (the continuation is refused); 0 when it carries no usage.
    std::optional<std::int64_t> contextTokens(const std::string& key, std::string_view id) const;

    // Whether `path` is one of the stored-response routes (GET or DELETE
    // /v1/responses/{id}, POST …/{id}/cancel, GET …/{id}/input_items).
    static bool routes(std::string_view method, std::string_view path);
    // The answer to such a request from `key` (authenticated by the caller).
    net::HttpReply answer(const std::string& key, std::string_view method, std::string_view path);

private:
    std::optional<std::string> get(const std::string& key, std::string_view id) const;

    mutable std::mutex m_mutex;
    std::size_t m_capacity;
    std::map<std::pair<std::string, std::string>, std::string, std::less<>> m_objects;  // (key, id) → object
    std::deque<std::pair<std::string, std::string>> m_order;                             // oldest first
};

// The 400 a continuation of a response unknown to the key gets.
std::string previousResponseNotFound(std::string_view id);

}  // namespace sluice::mock
