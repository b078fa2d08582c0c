// The Providers & keys tab says how each key+model's limits are enforced
// (issue 14, "Show it"): where each limit came from, the burst in force,
// window pacing, the arrival margin, the idle ramp with its fraction now
// and the prompt estimator's calibration per model. A real console
// offscreen over a real workspace and the embedded mock, which enforces a
// lower RPM than the workspace configures and announces a TPM it leaves
// out, so the headers lower one limit and teach the other. Cells are found
// by scope and column and read through the model's roles.
#include "console_fixture.h"
#include "limits_panel.h"
#include "scope_tree_model.h"

#include <QTreeView>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 30'000;
const QString kProvider = QStringLiteral("openai");
const QString kKey = QStringLiteral("team-a");
const QString kModel = QStringLiteral("gpt-4o-mini");
const QString kUncounted = QStringLiteral("llama-3-8b");  // no public tokenizer: calibrated

// The test workspace learning limits from headers, ramping up after idle
// over ten minutes (so the test sees a ramp under way), with a second model
// whose prompts Sluice can only estimate.
host::WorkspaceConfig enforcedWorkspace()
{
    auto doc = json::parse(testWorkspace().text());
    json& provider = doc["config"]["providers"][0];
    provider["learn_limits"] = true;
    provider["ramp_after_idle"] = {{"idle_s", 60}, {"length_s", 600}, {"start", 0.5}};
    provider["models"][kUncounted.toStdString()] = {{"limits", {{"rpm", 600}}}};
    return host::WorkspaceConfig::parse("test.json", doc.dump(2));
}

QVariant cell(const ui::ScopeTreeModel* model, const QString& m, int column, int role)
{
    return model->find(kProvider, kKey, m).siblingAtColumn(column).data(role);
}

}  // namespace

class TestConsoleEnforced : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void providersTabShowsHowLimitsAreEnforced();
};

void TestConsoleEnforced::providersTabShowsHowLimitsAreEnforced()
{
    Console console;
    ui::OpenRequest request;
    request.create = enforcedWorkspace();
    request.workload = steadyWorkload(6);
    const QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::string mockUrl = console.host().mockUrl();
    // 300 RPM (below the configured 600), and a TPM the workspace leaves out.
    QVERIFY(patchMock(mockUrl, R"({"limitsEnabled":true,"models":{"gpt-4o-mini":{"limits":{"rpm":300,"tpm":1000000,)"
                               R"("granularity":"1s"}},"llama-3-8b":{"flavor":"openai"}}})"));
    // A request to the model with no public tokenizer, through the queue.
    store::NewJob job;
    job.customId = "uncounted-1";
    job.url = "/v1/chat/completions";
    job.model = kUncounted.toStdString();
    job.body = json{{"model", job.model},
                    {"max_tokens", 16},
                    {"messages", json::array({{{"role", "user"}, {"content", std::string(400, 'x') + " 日本語のテキスト"}}})}}
                   .dump();
    QCOMPARE(console.host().store().enqueue(job).status, store::EnqueueStatus::Added);

    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(panel != nullptr);
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    QVERIFY(view != nullptr);
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    using M = ui::ScopeTreeModel;

    // The headers lower the RPM and teach the TPM.
    QTRY_COMPARE_WITH_TIMEOUT(cell(model, kModel, M::RpmColumn, M::OriginRole).toInt(),
                              static_cast<int>(LimitOrigin::Lowered), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(cell(model, kModel, M::TpmColumn, M::OriginRole).toInt(),
                              static_cast<int>(LimitOrigin::Learned), kTimeoutMs);
    QCOMPARE(cell(model, kModel, M::RpmColumn, M::LimitRole).toDouble(), 300.0);
    QVERIFY2(cell(model, kModel, M::RpmColumn, Qt::ToolTipRole).toString().contains(QStringLiteral("lowered by headers")),
             qPrintable(cell(model, kModel, M::RpmColumn, Qt::ToolTipRole).toString()));
    // The burst in force: at most the bucket a second of 300/min holds.
    const qint64 burst = cell(model, kModel, M::RpmColumn, M::BurstInForceRole).toLongLong();
    QVERIFY2(burst >= 1 && burst <= 5, qPrintable(QString::number(burst)));
    // The key itself has no limits of its own: nothing to say there.
    QVERIFY(!model->find(kProvider, kKey).siblingAtColumn(M::RpmColumn).data(M::OriginRole).isValid());

    // The "Enforced as" column: shown, with the summary and its detail.
    QVERIFY(!view->isColumnHidden(M::EnforcedColumn));
    const QString summary = cell(model, kModel, M::EnforcedColumn, Qt::DisplayRole).toString();
    QVERIFY2(summary.contains(QStringLiteral("rpm lowered by headers")) &&
                 summary.contains(QStringLiteral("tpm learned from headers")) && summary.contains(QStringLiteral("burst")),
             qPrintable(summary));
    QCOMPARE(cell(model, kModel, M::EnforcedColumn, M::PacedRole).typeId(), QMetaType::Bool);
    QVERIFY(cell(model, kModel, M::EnforcedColumn, M::MarginPercentRole).toDouble() > 0);
    QVERIFY(cell(model, kModel, M::EnforcedColumn, M::LeastMarginMsRole).toDouble() > 0);
    // Ramping up after idle, ten minutes long: under way, above its start.
    QCOMPARE(cell(model, kModel, M::EnforcedColumn, M::RampStateRole).toString(), QStringLiteral("ramping"));
    const double fraction = cell(model, kModel, M::EnforcedColumn, M::RampFractionRole).toDouble();
    QVERIFY2(fraction >= 0.5 && fraction < 1.0, qPrintable(QString::number(fraction)));
    const QString detail = cell(model, kModel, M::EnforcedColumn, Qt::ToolTipRole).toString();
    QVERIFY2(detail.contains(QStringLiteral("Idle ramp: ramping up after idle")) &&
                 detail.contains(QStringLiteral("Arrival margin")),
             qPrintable(detail));

    // The calibrated model: its ratio, once its answer came back.
    QTRY_VERIFY_WITH_TIMEOUT(cell(model, kUncounted, M::EnforcedColumn, M::CalibrationRole).isValid(), kTimeoutMs);
    QVERIFY(cell(model, kUncounted, M::EnforcedColumn, M::CalibrationRole).toDouble() > 0);
    QVERIFY2(cell(model, kUncounted, M::EnforcedColumn, Qt::DisplayRole).toString().contains(QStringLiteral("estimate ×")),
             qPrintable(cell(model, kUncounted, M::EnforcedColumn, Qt::DisplayRole).toString()));
    // An OpenAI model counted exactly has none.
    QVERIFY(!cell(model, kModel, M::EnforcedColumn, M::CalibrationRole).isValid());
}

QTEST_MAIN(TestConsoleEnforced)
#include "tst_console_enforced.moc"
