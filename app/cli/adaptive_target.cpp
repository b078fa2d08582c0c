#include "cli/adaptive_target.h"

#include <stdexcept>

namespace sluice::cli {

namespace {

class AdaptiveTarget final : public loadtest::LoadTarget {
public:
    AdaptiveTarget(std::shared_ptr<AdaptiveWiring> wiring, const loadtest::TargetFactory& inner)
        : m_wiring(std::move(wiring)), m_target(inner(m_wiring->listener()))
    {
        Dispatcher* d = m_target->dispatcher();
        if (d == nullptr) {
            throw std::logic_error("adaptive concurrency needs a target with a dispatcher");
        }
        m_wiring->attach(*d);
    }

    void start() override { m_target->start(); }
    void stop() override { m_target->stop(); }
    std::string validate(const JobSpec& job) const override { return m_target->validate(job); }
    void submit(JobSpec job) override { m_target->submit(std::move(job)); }
    void cancel(const std::string& customId) override { m_target->cancel(customId); }
    void pause() override { m_target->pause(); }
    DispatcherStats stats() const override { return m_target->stats(); }
    Dispatcher* dispatcher() override { return m_target->dispatcher(); }

private:
    // Declared first: the target (whose dispatcher reports to the wiring) goes first.
    std::shared_ptr<AdaptiveWiring> m_wiring;
    std::unique_ptr<loadtest::LoadTarget> m_target;
};

}  // namespace

loadtest::TargetFactory withAdaptive(loadtest::TargetFactory inner, const Config& config, Clock& clock,
                                     std::shared_ptr<std::shared_ptr<AdaptiveWiring>> built)
{
    return [inner = std::move(inner), config, &clock, built = std::move(built)](DispatchListener& listener)
               -> std::unique_ptr<loadtest::LoadTarget> {
        auto wiring = std::make_shared<AdaptiveWiring>(clock, config, listener);
        *built = wiring;
        return std::make_unique<AdaptiveTarget>(std::move(wiring), inner);
    };
}

}  // namespace sluice::cli
