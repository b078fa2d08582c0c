// FakeTransport: a scripted Transport for dispatcher tests on a ManualClock.
// Nothing goes on the wire: each started request waits until the test
// answers it (reply, fail), and the test sees every request in the order
// the dispatcher started it. poll() returns when the test scripts something
// or the dispatcher is woken (the ManualClock wakes it when advanced), never
// because real time passed.
//
// Thread-safety: start/abort/poll run on the dispatcher thread; the
// scripting calls (started, reply, fail) and wakeup() from any thread.
#pragma once

#include "dispatch/transport.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::test {

class FakeTransport final : public Transport {
public:
    struct Started {
        TransferId id = 0;
        http::HttpRequest request;
        std::string customTag;  // the request body's first user message, to tell jobs apart
    };

    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override
    {
        std::lock_guard g(m_mutex);
        const TransferId id = m_nextId++;
        Started s;
        s.id = id;
        const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (body.is_object() && body.contains("messages") && !body["messages"].empty()) {
            // A string content is the tag; parts (an image beside the text) carry none.
            const nlohmann::json& content = body["messages"][0].value("content", nlohmann::json());
            s.customTag = content.is_string() ? content.get<std::string>() : std::string();
        }
        s.request = std::move(request);
        m_started.push_back(std::move(s));
        m_open.emplace(id, std::move(handlers));
        m_cv.notify_all();
        return id;
    }

    void abort(TransferId id) override
    {
        http::TransferHandlers h;
        {
            std::lock_guard g(m_mutex);
            const auto it = m_open.find(id);
            if (it == m_open.end()) {
                return;
            }
            h = std::move(it->second);
            m_open.erase(it);
        }
        http::HttpResult r;
        r.error = http::TransportError::Aborted;
        r.errorText = "aborted";
        h.onComplete(std::move(r));
    }

    void poll(Duration timeout) override
    {
        std::deque<std::function<void()>> due;
        {
            std::unique_lock l(m_mutex);
            // Real time only bounds a wait that something else should end;
            // nothing in the dispatcher depends on how long it was.
            const auto bound = std::min<Duration>(timeout, std::chrono::milliseconds(50));
            m_cv.wait_for(l, bound, [&] { return m_woken || !m_scripted.empty(); });
            m_woken = false;
            due.swap(m_scripted);
        }
        for (auto& f : due) {
            f();
        }
    }

    void wakeup() override
    {
        std::lock_guard g(m_mutex);
        m_woken = true;
        m_cv.notify_all();
    }

    // ---- the test's side ----

    std::vector<Started> started()
    {
        std::lock_guard g(m_mutex);
        return m_started;
    }

    std::size_t open()
    {
        std::lock_guard g(m_mutex);
        return m_open.size();
    }

    // Waits (in real time, as a bound only) until `n` requests were started.
    bool waitStarted(std::size_t n, std::chrono::milliseconds bound = std::chrono::seconds(10))
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, bound, [&] { return m_started.size() >= n; });
    }

    // Answers request `id` with `status` and `body` (one chunk), on the
    // dispatcher thread at its next poll.
    void reply(TransferId id, long status, std::string body, http::HeaderMap headers = {})
    {
        script(id, [status, body = std::move(body), headers = std::move(headers)](http::TransferHandlers& h) {
            if (h.onHeaders) {
                h.onHeaders(status, headers);
            }
            http::HttpResult r;
            r.status = status;
            r.headers = headers;
            if (h.onData) {
                h.onData(body);
            } else {
                r.body = body;
            }
            h.onComplete(std::move(r));
        });
    }

    // Ends request `id` with no response at all.
    void fail(TransferId id, http::TransportError error, std::string text)
    {
        script(id, [error, text = std::move(text)](http::TransferHandlers& h) {
            http::HttpResult r;
            r.error = error;
            r.errorText = text;
            h.onComplete(std::move(r));
        });
    }

    // A chat completion as OpenAI returns it.
    static std::string completion(int promptTokens = 10, int completionTokens = 5)
    {
        return nlohmann::json{{"id", "chatcmpl-fake"},
                              {"object", "chat.completion"},
                              {"model", "gpt-4o-mini"},
                              {"choices", nlohmann::json::array({{{"index", 0},
                                                                  {"message", {{"role", "assistant"}, {"content", "hi"}}},
                                                                  {"finish_reason", "stop"}}})},
                              {"usage",
                               {{"prompt_tokens", promptTokens},
                                {"completion_tokens", completionTokens},
                                {"total_tokens", promptTokens + completionTokens}}}}
            .dump();
    }

private:
    void script(TransferId id, std::function<void(http::TransferHandlers&)> action)
    {
        std::lock_guard g(m_mutex);
        m_scripted.push_back([this, id, action = std::move(action)] {
            http::TransferHandlers h;
            {
                std::lock_guard inner(m_mutex);
                const auto it = m_open.find(id);
                if (it == m_open.end()) {
                    return;
                }
                h = std::move(it->second);
                m_open.erase(it);
            }
            action(h);
        });
        m_cv.notify_all();
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_woken = false;
    TransferId m_nextId = 1;
    std::vector<Started> m_started;
    std::map<TransferId, http::TransferHandlers> m_open;
    std::deque<std::function<void()>> m_scripted;
};

}  // namespace sluice::test
