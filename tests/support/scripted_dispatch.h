// A Dispatcher on a ManualClock over a FakeTransport, for dispatcher tests
// that script every answer (tst_dispatch_scripted, tst_idle_ramp,
// tst_limit_status): the one
// fake provider's configuration, a chat job whose id travels as its
// message, and the rig that owns clock, admission, transport, listener and
// dispatcher (started on construction, stopped on destruction).
//
// Thread-safety: as its parts; the rig is built and torn down on the test's
// thread, the dispatcher runs its own.
#pragma once

#include "admission/admission.h"
#include "config/config.h"
#include "core/clock.h"
#include "dispatch/dispatcher.h"
#include "support/fake_transport.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace sluice::test {

// One provider "fake" (OpenAI flavour, key "main", limits not learned),
// with `provider` merged into its object and `root` into the document.
inline Config fakeProviderConfig(const nlohmann::json& provider = nlohmann::json::object(),
                                 const nlohmann::json& root = nlohmann::json::object(),
                                 const std::string& name = "fake-config.json")
{
    nlohmann::json p = {{"name", "fake"},
                        {"flavor", "openai"},
                        {"base_url", "http://127.0.0.1:9"},
                        {"learn_limits", false},
                        {"keys", nlohmann::json::array({{{"name", "main"}, {"env", "FAKE_KEY"}}})}};
    p.merge_patch(provider);
    nlohmann::json doc = {{"providers", nlohmann::json::array({p})}};
    doc.merge_patch(root);
    return loadConfig(JsonSource(name, doc.dump(2)),
                      [](const std::string&) { return std::optional<std::string>("sk-fake"); });
}

// The job's id travels as its message, so a started request names its job.
inline JobSpec chatJob(const std::string& id, const std::string& model = "gpt-4o-mini")
{
    JobSpec j;
    j.customId = id;
    j.flavor = ApiFlavor::OpenAI;
    j.body = {{"model", model},
              {"max_tokens", 20},
              {"messages", nlohmann::json::array({{{"role", "user"}, {"content", id}}})}};
    return j;
}

// Keeps each job's outcome by custom_id; waitFor(n) waits (10 s at most,
// real time: the dispatcher thread delivers) until n jobs have finished.
class OutcomeRecorder : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override
    {
        std::lock_guard g(m_mutex);
        m_outcomes[o.customId] = std::move(o);
        m_cv.notify_all();
    }
    bool waitFor(std::size_t n)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, std::chrono::seconds(10), [&] { return m_outcomes.size() >= n; });
    }
    JobOutcome outcome(const std::string& id)
    {
        std::lock_guard g(m_mutex);
        return m_outcomes[id];
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<std::string, JobOutcome> m_outcomes;
};

template <class Listener>
struct ScriptedRig {
    ManualClock clock;
    Admission admission;
    FakeTransport transport;
    Listener listener;
    std::unique_ptr<Dispatcher> dispatcher;

    // arrivalMargin zero: the ledger holds exactly what was charged.
    explicit ScriptedRig(Config cfg, Duration arrivalMargin = Admission::kDefaultArrivalMargin)
        : admission(clock, nullptr, arrivalMargin)
    {
        DispatcherOptions opt;
        opt.seed = 7;
        opt.transport = &transport;
        dispatcher = std::make_unique<Dispatcher>(std::move(cfg), clock, admission, listener, opt);
        dispatcher->start();
    }
    ~ScriptedRig() { dispatcher->stop(); }
    ScriptedRig(const ScriptedRig&) = delete;
    ScriptedRig& operator=(const ScriptedRig&) = delete;
};

}  // namespace sluice::test
