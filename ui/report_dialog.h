// ReportDialog: File → Export usage report…, the console's `sluice-cli
// report`. The open workspace's usage (per-minute rollups in its database)
// over a time range, grouped by key, model, provider, hour or day, as CSV,
// JSON or one self-contained HTML file. Export runs on the workspace's
// store worker (StoreClient), which first flushes the metrics recorder's
// recent minutes, so the GUI never waits on the disk; the file is written
// atomically, and the dialog says what was written or what went wrong.
//
// Thread-safety: GUI thread only.
#pragma once

#include "report_export.h"

#include <QDialog>

class QComboBox;
class QDateTimeEdit;
class QLabel;
class QLineEdit;
class QPushButton;

namespace sluice::ui {

class ConsoleSession;

class ReportDialog : public QDialog {
    Q_OBJECT

public:
    explicit ReportDialog(ConsoleSession& session, QWidget* parent = nullptr);

    // What the widgets say; tests set them and press Export.
    void setOutputPath(const QString& path);
    void setRange(WallTime from, WallTime to);
    void setGrouping(metrics::ReportGrouping by);
    void setFormat(metrics::ReportFormat format);
    ReportRequest request() const;
    bool busy() const { return m_busy; }

public Q_SLOTS:
    void exportReport();

Q_SIGNALS:
    // An export ended: written (`ok`), or not, and why.
    void exported(bool ok, const QString& message);

private:
    void browse();
    void showOutcome(const ReportOutcome& outcome);

    ConsoleSession& m_session;
    QDateTimeEdit* m_from = nullptr;
    QDateTimeEdit* m_to = nullptr;
    QComboBox* m_by = nullptr;
    QComboBox* m_format = nullptr;
    QLineEdit* m_output = nullptr;
    QPushButton* m_export = nullptr;
    QLabel* m_status = nullptr;
    bool m_busy = false;
};

}  // namespace sluice::ui
