// DeadLetterPanel: the jobs that could not succeed, filtered by failure
// class, key, model and when they died; one job's timeline ("why did this
// wait?") and attempts; its body, to edit and requeue, or requeue as is;
// or requeue every dead letter the filter matches. Reads and writes go
// through StoreClient (the store's worker thread).
//
// Thread-safety: GUI thread only.
#pragma once

#include "live_panel.h"
#include "store_client.h"

class QCheckBox;
class QComboBox;
class QDateTimeEdit;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableWidget;
class QTreeWidget;

namespace sluice::ui {

class ConsoleSession;

class DeadLetterPanel : public LivePanel {
    Q_OBJECT

public:
    explicit DeadLetterPanel(ConsoleSession& session, QWidget* parent = nullptr);

    store::DeadLetterFilter filter() const;
    int rowCount() const;
    // Selects the row of a job, when listed.
    bool select(store::JobId id);

public Q_SLOTS:
    void refresh() override;
    void requeueSelected();
    void editAndRequeueSelected();
    void requeueMatching();

private:
    void showPage(const DeadLetterPage& page);
    void showJob(const JobDetails& details);
    void selectionChanged();
    // Why nothing can be requeued here (an attached serve, an instance with
    // no dead letters); empty when requeueing works.
    QString requeueRefusal() const;
    // Disables the requeue buttons with the refusal as their tooltip.
    void applyRefusal();
    store::JobId selectedId() const;
    void fillChoices();

    ConsoleSession& m_session;
    QComboBox* m_class = nullptr;
    QComboBox* m_key = nullptr;
    QComboBox* m_model = nullptr;
    QCheckBox* m_useFrom = nullptr;
    QDateTimeEdit* m_from = nullptr;
    QCheckBox* m_useTo = nullptr;
    QDateTimeEdit* m_to = nullptr;
    QTableWidget* m_table = nullptr;
    QLabel* m_summary = nullptr;
    QTreeWidget* m_timeline = nullptr;
    QPlainTextEdit* m_body = nullptr;
    QPushButton* m_requeue = nullptr;
    QPushButton* m_editRequeue = nullptr;
    QPushButton* m_requeueAll = nullptr;
    QLabel* m_status = nullptr;
    store::JobId m_shownJob = 0;
    bool m_bodyEdited = false;
    bool m_fetching = false;
};

}  // namespace sluice::ui
