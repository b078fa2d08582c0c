// The gateway's per-token figures (TenantStats) and the tenant gate's live
// edits (limits changed and tokens paused while requests are held), on a
// ManualClock: nothing sleeps.
#include "gateway/gateway_config.h"
#include "gateway/gateway_settings.h"
#include "gateway/tenant_gate.h"
#include "gateway/tenant_stats.h"

#include <QtTest>

using namespace sluice;
using namespace sluice::gateway;
using namespace std::chrono_literals;

namespace {

GatewayToken token(std::string name, std::vector<LimitSpec> limits)
{
    GatewayToken t;
    t.name = std::move(name);
    t.tenant = t.name;
    t.digest = sha256("secret-" + t.name);
    t.limits = std::move(limits);
    return t;
}

const TenantFigures* find(const std::vector<TenantFigures>& rows, const std::string& name)
{
    for (const TenantFigures& f : rows) {
        if (f.token == name) {
            return &f;
        }
    }
    return nullptr;
}

std::int64_t limitOf(const std::vector<LimitSpec>& specs, Measure m)
{
    for (const LimitSpec& s : specs) {
        if (s.measure == m) {
            return s.limit;
        }
    }
    return -1;
}

}  // namespace

class TestTenantStats : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void figuresFollowEachRequest();
    void lastMinuteSlides();
    void gateLimitChangeKeepsUsage();
    void gatePauseHoldsUntilResumed();
    void gatePausedRefusedAtDeadline();
    void settingsKeepOnlyDigests();
    void prometheusSeries();
};

void TestTenantStats::figuresFollowEachRequest()
{
    ManualClock clock;
    auto stats = std::make_shared<TenantStats>(clock);
    std::vector<TenantStats::Ticket> tickets;
    for (int i = 0; i < 4; ++i) {
        tickets.push_back(stats->arrive("a"));
    }
    auto rows = stats->snapshot({"a", "idle"});
    QCOMPARE(rows.size(), std::size_t(2));
    QCOMPARE(find(rows, "a")->waiting, std::int64_t(4));
    QCOMPARE(find(rows, "idle")->requests, std::uint64_t(0));
    // Admitted by their own budget after 0, 1 and 3 s; the fourth is refused.
    tickets[0].admitted();
    clock.advance(1s);
    tickets[1].admitted();
    clock.advance(2s);
    tickets[2].admitted();
    tickets[3].refused();
    tickets[3].admitted();  // a refused request stays refused
    rows = stats->snapshot();
    const TenantFigures* a = find(rows, "a");
    QCOMPARE(a->waiting, std::int64_t(0));
    QCOMPARE(a->inFlight, std::int64_t(3));
    QCOMPARE(a->requestsLastMinute, std::int64_t(3));
    QCOMPARE(a->refused, std::uint64_t(1));
    QCOMPARE(a->waitP95, Duration::zero());  // a wait is known once sent
    // The first then waited 2 s more for the providers' limits (as the
    // job's timeline says), the second was sent at once.
    JobOutcome first;
    first.usage = ResponseUsage{};
    first.usage->inputTokens = 100;
    first.usage->outputTokens = 50;
    first.spendMicroUsd = 2500;
    const WallTime t0{};
    first.timeline = {{t0, TimelineEvent::Kind::Queued, ""}, {t0 + 2s, TimelineEvent::Kind::Waiting, ""},
                      {t0 + 2s, TimelineEvent::Kind::Sent, ""}, {t0 + 3s, TimelineEvent::Kind::Sent, ""}};
    tickets[0].finished(first);
    tickets[1].finished(50, 500, Duration::zero());
    tickets[2].finished(0, 0, Duration::zero());
    rows = stats->snapshot();
    a = find(rows, "a");
    // Waits 2 s (0 + 2), 1 s (1 + 0) and 3 s (3 + 0).
    QCOMPARE(a->waitP50, Duration(2s));
    QCOMPARE(a->waitP95, Duration(3s));
    // Dropped while in flight (the exchange went away): no longer in flight.
    {
        TenantStats::Ticket dropped = stats->arrive("a");
        dropped.admitted();
        QCOMPARE(find(stats->snapshot(), "a")->inFlight, std::int64_t(1));
    }
    rows = stats->snapshot();
    a = find(rows, "a");
    QCOMPARE(a->inFlight, std::int64_t(0));
    QCOMPARE(a->tokensLastMinute, std::int64_t(200));
    QCOMPARE(a->spendMicroUsd, std::int64_t(3000));
    QCOMPARE(a->requests, std::uint64_t(5));
}

void TestTenantStats::lastMinuteSlides()
{
    ManualClock clock;
    auto stats = std::make_shared<TenantStats>(clock);
    for (int i = 0; i < 3; ++i) {
        TenantStats::Ticket t = stats->arrive("a");
        t.admitted();
        t.finished(10, 1, Duration::zero());
        clock.advance(20s);
    }
    // Requests at 0, 20 and 40 s; now 60 s: the first has left the minute.
    auto a = stats->snapshot().at(0);
    QCOMPARE(a.requestsLastMinute, std::int64_t(2));
    QCOMPARE(a.tokensLastMinute, std::int64_t(20));
    clock.advance(60s);
    a = stats->snapshot().at(0);
    QCOMPARE(a.requestsLastMinute, std::int64_t(0));
    QCOMPARE(a.waitP95, Duration::zero());
    // Totals are not a window.
    QCOMPARE(a.requests, std::uint64_t(3));
    QCOMPARE(a.spendMicroUsd, std::int64_t(3));
}

void TestTenantStats::gateLimitChangeKeepsUsage()
{
    ManualClock clock;
    // Two a minute, both at once.
    const std::vector<GatewayToken> tokens{token("a", {perMinute(Measure::Requests, 2, 2)})};
    // Outlives the gates (requests still held are answered into it when a
    // gate stops); the reservations in it are dropped before, at the end.
    std::vector<Reservation> held;
    int admitted = 0;
    TenantGate gate(clock, tokens);
    const auto done = [&](GateResult r) {
        admitted += r.admitted ? 1 : 0;
        held.push_back(std::move(r.reservation));
    };
    const TimePoint deadline = clock.now() + 30s;
    for (int i = 0; i < 4; ++i) {
        gate.request(tokens[0], Cost{}, deadline, done);
    }
    QCOMPARE(admitted, 2);
    QCOMPARE(gate.budget("a")->held, std::size_t(2));
    // Three at once now: the two already counted stay counted, so only one
    // more goes (a reset would let both held requests through).
    QVERIFY(gate.setLimits("a", {perMinute(Measure::Requests, 3, 3)}));
    gate.poll(clock.now());
    QCOMPARE(admitted, 3);
    const auto budget = gate.budget("a");
    QCOMPARE(budget->held, std::size_t(1));
    QCOMPARE(limitOf(budget->limits, Measure::Requests), std::int64_t(3));
    QVERIFY(!gate.setLimits("nobody", {}));
    // Limits can be given to a token that had none.
    const std::vector<GatewayToken> open{token("free", {})};
    // Before the gate: its destructor answers the request it still holds.
    std::vector<Reservation> held2;
    int admitted2 = 0;
    TenantGate gate2(clock, open);
    QVERIFY(gate2.setLimits("free", {perMinute(Measure::Requests, 2, 2)}));
    for (int i = 0; i < 3; ++i) {
        gate2.request(open[0], Cost{}, deadline, [&](GateResult r) {
            admitted2 += r.admitted ? 1 : 0;
            held2.push_back(std::move(r.reservation));
        });
    }
    QCOMPARE(admitted2, 2);
    held.clear();
    held2.clear();
}

void TestTenantStats::gatePauseHoldsUntilResumed()
{
    ManualClock clock;
    const std::vector<GatewayToken> tokens{token("a", {}), token("b", {})};
    TenantGate gate(clock, tokens);
    std::vector<std::string> order;
    const auto done = [&](const char* what) {
        return [&, what](GateResult r) {
            QVERIFY(r.admitted);
            order.emplace_back(what);
        };
    };
    QVERIFY(gate.setPaused("a", true));
    QVERIFY(gate.budget("a")->paused);
    gate.request(tokens[0], Cost{}, clock.now() + 30s, done("a"));
    gate.request(tokens[1], Cost{}, clock.now() + 30s, done("b"));
    gate.poll(clock.now());
    // The other token is not held behind the paused one.
    QCOMPARE(order, std::vector<std::string>{"b"});
    QCOMPARE(gate.budget("a")->held, std::size_t(1));
    clock.advance(10s);
    gate.poll(clock.now());
    QCOMPARE(order.size(), std::size_t(1));
    QVERIFY(gate.setPaused("a", false));
    gate.poll(clock.now());
    QCOMPARE(order, (std::vector<std::string>{"b", "a"}));
    QVERIFY(!gate.budget("a")->paused);
}

void TestTenantStats::gatePausedRefusedAtDeadline()
{
    ManualClock clock;
    GatewayToken t = token("a", {});
    t.paused = true;  // as the configuration can say
    const std::vector<GatewayToken> tokens{t};
    TenantGate gate(clock, tokens);
    std::optional<GateResult> result;
    gate.request(tokens[0], Cost{}, clock.now() + 2s, [&](GateResult r) { result = std::move(r); });
    const auto next = gate.poll(clock.now());
    QVERIFY(!result.has_value());
    QCOMPARE(next, std::optional(clock.now() + 2s));
    clock.advance(2s);
    gate.poll(clock.now());
    QVERIFY(result.has_value() && !result->admitted && result->retryAfter.has_value());
}

void TestTenantStats::settingsKeepOnlyDigests()
{
    GatewaySettings settings(nlohmann::json::object(), [](const std::string&) { return std::nullopt; });
    NewToken nt;
    nt.name = "svc";
    nt.tenant = "team-a";
    nt.priority = 2;
    nt.limits = {{host::LimitField::Rpm, 60}, {host::LimitField::Tpm, 10000}};
    nt.models = {"gpt-4o-mini"};
    const Secret value = settings.addToken(nt);
    QVERIFY(value.view().rfind("sk-sluice-", 0) == 0);
    QCOMPARE(value.view().size(), std::size_t(10 + 64));
    const std::string text = settings.section().dump();
    QVERIFY(text.find(std::string(value.view())) == std::string::npos);
    QVERIFY(text.find(toHex(sha256(value.view()))) != std::string::npos);
    GatewayConfig cfg = settings.config();
    QCOMPARE(cfg.tokens.size(), std::size_t(1));
    QVERIFY(cfg.tokens[0].digest == sha256(value.view()));
    QCOMPARE(cfg.tokens[0].tenant, std::string("team-a"));
    QCOMPARE(limitOf(cfg.tokens[0].limits, Measure::Requests), std::int64_t(60));
    // Two tokens never get the same value.
    nt.name = "svc2";
    QVERIFY(settings.addToken(nt).view() != value.view());
    // Refused edits change nothing.
    const nlohmann::json before = settings.section();
    QVERIFY_THROWS_EXCEPTION(InputError, (void)settings.addToken(nt));
    QVERIFY_THROWS_EXCEPTION(InputError, settings.setListen("localhost"));
    QVERIFY_THROWS_EXCEPTION(InputError, settings.setTokenLimit("nobody", host::LimitField::Rpm, 5));
    QVERIFY_THROWS_EXCEPTION(InputError, settings.setTokenLimit("svc", host::LimitField::Rpm, -1));
    QCOMPARE(settings.section(), before);
    const auto specs = settings.setTokenLimit("svc", host::LimitField::Rpm, 120);
    QCOMPARE(limitOf(specs, Measure::Requests), std::int64_t(120));
    settings.setTokenPaused("svc", true);
    QVERIFY(settings.config().tokens[0].paused);
    settings.removeToken("svc");
    QCOMPARE(settings.config().tokens.size(), std::size_t(1));
    settings.setListen("127.0.0.1:9999");
    QCOMPARE(settings.config().port, std::uint16_t(9999));
}

void TestTenantStats::prometheusSeries()
{
    TenantRow row;
    row.figures.token = "svc \"a\"";
    row.figures.requests = 7;
    row.figures.refused = 2;
    row.figures.waiting = 3;
    row.figures.spendMicroUsd = 1'500'000;
    row.figures.waitP95 = std::chrono::milliseconds(250);
    row.tenant = "team";
    row.limits = {perMinute(Measure::Requests, 60), concurrency(4)};
    row.paused = true;
    const std::string text = tenantPrometheusText({row});
    const std::string labels = R"({token="svc \"a\"",tenant="team")";
    for (const std::string& line :
         {"sluice_tenant_requests_total" + labels + "} 7", "sluice_tenant_refused_total" + labels + "} 2",
          "sluice_tenant_waiting" + labels + "} 3", "sluice_tenant_spend_usd_total" + labels + "} 1.5",
          "sluice_tenant_wait_seconds" + labels + R"(,quantile="0.95"} 0.25)",
          "sluice_tenant_limit" + labels + R"(,measure="requests",window="rolling"} 60)",
          "sluice_tenant_limit" + labels + R"(,measure="concurrency"} 4)", "sluice_tenant_paused" + labels + "} 1",
          std::string("# TYPE sluice_tenant_requests_total counter")}) {
        QVERIFY2(text.find(line + "\n") != std::string::npos, line.c_str());
    }
}

QTEST_APPLESS_MAIN(TestTenantStats)
#include "tst_tenant_stats.moc"
