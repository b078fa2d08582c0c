#include "loadtest/load_target.h"

namespace sluice::loadtest {

namespace {

// The dispatcher with the admission state it needs, owned together.
class DispatcherTarget final : public LoadTarget {
public:
    DispatcherTarget(const Config& config, Clock& clock, DispatchListener& listener, const DispatcherOptions& options)
        : m_admission(clock), m_dispatcher(config, clock, m_admission, listener, options)
    {
    }

    void start() override { m_dispatcher.start(); }
    void stop() override { m_dispatcher.stop(); }
    std::string validate(const JobSpec& job) const override { return m_dispatcher.validate(job); }
    void submit(JobSpec job) override { m_dispatcher.submit(std::move(job)); }
    void cancel(const std::string& customId) override { m_dispatcher.cancel(customId); }
    void pause() override { m_dispatcher.pause(); }
    DispatcherStats stats() const override { return m_dispatcher.stats(); }
    Dispatcher* dispatcher() override { return &m_dispatcher; }

private:
    Admission m_admission;
    Dispatcher m_dispatcher;
};

}  // namespace

TargetFactory sluiceTarget(const Config& config, Clock& clock, DispatcherOptions options)
{
    return [config, &clock, options](DispatchListener& listener) -> std::unique_ptr<LoadTarget> {
        return std::make_unique<DispatcherTarget>(config, clock, listener, options);
    };
}

}  // namespace sluice::loadtest
