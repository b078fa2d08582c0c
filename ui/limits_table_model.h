// A table of every limit of every scope, with usage and headroom, built from
// Admission snapshots.
//
// Thread-safety: GUI thread only. refresh() copies a snapshot (one short
// lock inside the engine) and never blocks on traffic.
#pragma once

#include "admission/admission.h"

#include <QAbstractTableModel>

namespace sluice::ui {

class LimitsTableModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column { ScopeColumn, MeasureColumn, LimitColumn, UsedColumn, AvailableColumn, FullInColumn, ColumnCount };

    explicit LimitsTableModel(const Admission& admission, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

public Q_SLOTS:
    void refresh();

private:
    struct Row {
        QString scope;
        DimensionState dim;
    };
    const Admission& m_admission;
    std::vector<Row> m_rows;
};

}  // namespace sluice::ui
