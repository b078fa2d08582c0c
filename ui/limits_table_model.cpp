#include "limits_table_model.h"

#include <QLocale>

namespace sluice::ui {

namespace {

QString describeLimit(const LimitSpec& s)
{
    const QLocale locale;
    if (s.measure == Measure::Concurrency) {
        return QObject::tr("%1 in flight").arg(locale.toString(static_cast<qlonglong>(s.limit)));
    }
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.period).count();
    QString per = secs == 60      ? QObject::tr("/min")
                  : secs == 86400 ? QObject::tr("/day")
                                  : QObject::tr("/%1 s").arg(secs);
    QString text = locale.toString(static_cast<qlonglong>(s.limit)) % per;
    if (s.window == Window::Rolling && s.burst > 0 && s.burst != s.limit) {
        text += QObject::tr(" (burst %1)").arg(locale.toString(static_cast<qlonglong>(s.burst)));
    }
    return text;
}

}  // namespace

LimitsTableModel::LimitsTableModel(const Admission& admission, QObject* parent)
    : QAbstractTableModel(parent), m_admission(admission)
{
    refresh();
}

void LimitsTableModel::refresh()
{
    std::vector<Row> rows;
    const auto scopes = m_admission.snapshotAll();
    for (const auto& s : scopes) {
        if (s.removed) {
            continue;
        }
        // Name each scope by its full path so rows read without a tree.
        QString name = QString::fromStdString(s.name);
        for (ScopeId p = s.parent; p != kNoScope && p < scopes.size() && p != Admission::root(); p = scopes[p].parent) {
            name = QString::fromStdString(scopes[p].name) + QLatin1Char('/') + name;
        }
        for (const auto& d : s.dimensions) {
            rows.push_back(Row{name, d});
        }
    }
    if (rows.size() == m_rows.size()) {
        m_rows = std::move(rows);
        if (!m_rows.empty()) {
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        }
        return;
    }
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int LimitsTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int LimitsTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LimitsTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount()) {
        return {};
    }
    const Row& r = m_rows[static_cast<std::size_t>(index.row())];
    if (role == Qt::TextAlignmentRole && index.column() >= LimitColumn) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role != Qt::DisplayRole) {
        return {};
    }
    const QLocale locale;
    switch (index.column()) {
    case ScopeColumn: return r.scope;
    case MeasureColumn: return QString::fromUtf8(measureName(r.dim.spec.measure).data());
    case LimitColumn: return describeLimit(r.dim.spec);
    case UsedColumn: return locale.toString(static_cast<qlonglong>(r.dim.used));
    case AvailableColumn: return locale.toString(static_cast<qlonglong>(r.dim.available));
    case FullInColumn:
        return tr("%1 s").arg(std::chrono::duration<double>(r.dim.timeToFull).count(), 0, 'f', 1);
    default: return {};
    }
}

QVariant LimitsTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case ScopeColumn: return tr("Scope");
    case MeasureColumn: return tr("Measure");
    case LimitColumn: return tr("Limit");
    case UsedColumn: return tr("Used");
    case AvailableColumn: return tr("Headroom");
    case FullInColumn: return tr("Drains in");
    default: return {};
    }
}

}  // namespace sluice::ui
