// sluice: the desktop console. Until the full console lands it shows the
// engine's limits live over an embedded admission engine.
#include "admission/admission.h"
#include "limits_table_model.h"

#include <QApplication>
#include <QHeaderView>
#include <QMainWindow>
#include <QTableView>
#include <QTimer>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Sluice"));

    sluice::SystemClock clock;
    sluice::Admission admission(clock);
    const auto provider = admission.addScope(sluice::Admission::root(), "openai", {sluice::concurrency(16)});
    const auto key = admission.addScope(provider, "default-key",
                                        {sluice::perMinute(sluice::Measure::Requests, 500),
                                         sluice::perMinute(sluice::Measure::TotalTokens, 30'000)});
    admission.addScope(key, "gpt-4o", {});

    QMainWindow window;
    window.setWindowTitle(QStringLiteral("Sluice"));
    auto* view = new QTableView(&window);
    auto* model = new sluice::ui::LimitsTableModel(admission, view);
    view->setModel(model);
    view->horizontalHeader()->setStretchLastSection(true);
    window.setCentralWidget(view);
    QTimer refresh;
    QObject::connect(&refresh, &QTimer::timeout, model, &sluice::ui::LimitsTableModel::refresh);
    refresh.start(250);
    window.resize(900, 400);
    window.show();
    return QApplication::exec();
}
