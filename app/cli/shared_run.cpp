#include "cli/shared_run.h"

#include <cstdio>

namespace sluice::cli {

SharedRun::SharedRun(const Config& config, Clock& clock, const std::string& program)
    : shared::SharedRun(config, clock, program)
{
    if (!active()) {
        return;
    }
    std::fprintf(stderr, "%s: sharing limits, signals and the fleet in namespace %s at redis://%s:%d/%d (instance %s)\n",
                 program.c_str(), config.shared->ns.c_str(), config.shared->host.c_str(), config.shared->port,
                 config.shared->db, membership()->status().instanceId.c_str());
}

namespace {

// Admission over the shared budget, the dispatcher, and the membership,
// owned together; the membership detaches before the dispatcher goes.
class SharedDispatcherTarget final : public loadtest::LoadTarget {
public:
    SharedDispatcherTarget(const Config& config, Clock& clock, DispatchListener& listener, DispatcherOptions options,
                           const std::string& program)
        : m_shared(config, clock, program), m_admission(clock, m_shared.budget())
    {
        options.peerSignals = m_shared.observer();
        m_dispatcher = std::make_unique<Dispatcher>(config, clock, m_admission, listener, options);
        m_attached = std::make_unique<shared::MembershipAttachment>(m_shared.membership(), *m_dispatcher);
    }
    ~SharedDispatcherTarget() override
    {
        m_attached.reset();
        m_dispatcher.reset();
    }

    void start() override { m_dispatcher->start(); }
    void stop() override { m_dispatcher->stop(); }
    std::string validate(const JobSpec& job) const override { return m_dispatcher->validate(job); }
    void submit(JobSpec job) override { m_dispatcher->submit(std::move(job)); }
    void cancel(const std::string& customId) override { m_dispatcher->cancel(customId); }
    void pause() override { m_dispatcher->pause(); }
    DispatcherStats stats() const override { return m_dispatcher->stats(); }
    Dispatcher* dispatcher() override { return m_dispatcher.get(); }

private:
    SharedRun m_shared;
    Admission m_admission;
    std::unique_ptr<Dispatcher> m_dispatcher;
    std::unique_ptr<shared::MembershipAttachment> m_attached;
};

}  // namespace

loadtest::TargetFactory sharedSluiceTarget(const Config& config, Clock& clock, DispatcherOptions options,
                                           std::string program)
{
    return [config, &clock, options, program](DispatchListener& listener) -> std::unique_ptr<loadtest::LoadTarget> {
        return std::make_unique<SharedDispatcherTarget>(config, clock, listener, options, program);
    };
}

}  // namespace sluice::cli
