#include "scope_tree_model.h"

#include "console_session.h"
#include "dashboard_data.h"
#include "format.h"
#include "limits_in_force.h"

#include <QBrush>
#include <QColor>
#include <QFont>
#include <QStringList>

#include <algorithm>
#include <cmath>
#include <map>

namespace sluice::ui {

namespace {

constexpr int kFirstLimitColumn = ScopeTreeModel::RpmColumn;

const host::LimitField kFieldByColumn[] = {host::LimitField::Rpm,         host::LimitField::Tpm,
                                           host::LimitField::Itpm,        host::LimitField::Otpm,
                                           host::LimitField::Concurrency, host::LimitField::Rpd,
                                           host::LimitField::Tpd,         host::LimitField::SpendPerDayUsd};

QString valueText(host::LimitField field, double value)
{
    if (field == host::LimitField::SpendPerDayUsd) {
        return formatUsd(value);
    }
    return formatCount(static_cast<std::int64_t>(value));
}

enum RateIndex { RequestsRate, TokensRate, InputRate, OutputRate };

std::optional<int> rateIndexOf(host::LimitField field)
{
    switch (field) {
    case host::LimitField::Rpm: return RequestsRate;
    case host::LimitField::Tpm: return TokensRate;
    case host::LimitField::Itpm: return InputRate;
    case host::LimitField::Otpm: return OutputRate;
    default: return std::nullopt;
    }
}

// Whether a lane's waiting reason names this key: the dispatcher writes
// "… of key P/K", "… of model P/K/M", "key K cooling down …" or "the first
// response from key K …".
bool reasonNamesKey(const std::string& why, const std::string& provider, const std::string& key)
{
    const auto endsWord = [&](std::size_t at) {
        return at >= why.size() || why[at] == ' ' || why[at] == '/' || why[at] == ')' || why[at] == ',';
    };
    for (const std::string& needle : {"key " + provider + "/" + key, "model " + provider + "/" + key + "/",
                                      "key " + key + " ", "from key " + key}) {
        for (std::size_t at = why.find(needle); at != std::string::npos; at = why.find(needle, at + 1)) {
            if (needle.back() == '/' || needle.back() == ' ' || endsWord(at + needle.size())) {
                return true;
            }
        }
    }
    return false;
}

QString usedText(host::LimitField field, std::int64_t used)
{
    if (field == host::LimitField::SpendPerDayUsd) {
        return formatUsd(used);
    }
    return formatCount(used);
}

}  // namespace

ScopeTreeModel::ScopeTreeModel(ConsoleSession& session, QObject* parent) : QAbstractItemModel(parent), m_session(session)
{
}

std::optional<host::LimitField> ScopeTreeModel::fieldOf(int column)
{
    if (column < kFirstLimitColumn || column >= HeadroomColumn) {
        return std::nullopt;
    }
    return kFieldByColumn[column - kFirstLimitColumn];
}

int ScopeTreeModel::columnOf(host::LimitField field)
{
    for (int c = kFirstLimitColumn; c < HeadroomColumn; ++c) {
        if (kFieldByColumn[c - kFirstLimitColumn] == field) {
            return c;
        }
    }
    return -1;
}

bool ScopeTreeModel::columnUsed(int column) const
{
    return column < 0 || column >= ColumnCount || m_used[static_cast<std::size_t>(column)];
}

void ScopeTreeModel::update(const host::HostStatus& status)
{
    std::vector<Node> nodes;
    std::map<ScopeId, int> byScope;
    std::array<bool, ColumnCount> used{};
    used[NameColumn] = used[StateColumn] = used[HeadroomColumn] = true;
    std::vector<int> topLevel;
    for (const ScopeState& s : status.scopes) {
        if (s.removed) {
            continue;
        }
        Node n;
        n.scope = s;
        int parent = -1;
        if (s.id == Admission::root()) {
            n.kind = Kind::Global;
        } else {
            const auto p = byScope.find(s.parent);
            if (p == byScope.end()) {
                continue;  // under a removed scope
            }
            const Node& pn = nodes[static_cast<std::size_t>(p->second)];
            n.provider = pn.provider;
            n.key = pn.key;
            switch (pn.kind) {
            case Kind::Global:
                n.kind = Kind::Provider;
                n.provider = s.name;
                break;
            case Kind::Provider:
                n.kind = Kind::Key;
                n.key = s.name;
                parent = p->second;
                break;
            case Kind::Key:
                n.kind = Kind::Model;
                n.model = s.name;
                parent = p->second;
                break;
            case Kind::Model: continue;
            }
        }
        for (const DimensionState& d : s.dimensions) {
            if (const auto f = host::limitFieldOf(d.spec)) {
                used[static_cast<std::size_t>(columnOf(*f))] = true;
            }
        }
        if (n.kind == Kind::Key) {
            for (const KeyStatus& k : status.dispatch.keys) {
                if (k.provider == n.provider && k.key == n.key) {
                    n.keyStatus = k;
                }
            }
            for (const host::MissingKey& m : m_session.missingKeys()) {
                if (m.provider == n.provider && m.key == n.key) {
                    n.missing = qs(m.why);
                }
            }
            if (!n.missing.isEmpty() || (n.keyStatus && n.keyStatus->state == KeyStatus::State::Disabled)) {
                n.unusable = tr("disabled");
            } else if (n.keyStatus && n.keyStatus->state == KeyStatus::State::Quarantined) {
                n.unusable = tr("quarantined");
            }
        }
        if (n.kind == Kind::Provider) {
            for (const LaneStatus& l : status.dispatch.lanes) {
                if (l.provider == n.provider && l.queued > 0) {
                    n.lanes.push_back(l);
                }
            }
        }
        for (const ModelLimitStatus& m : status.dispatch.modelLimits) {
            if (m.provider != n.provider || (n.kind != Kind::Provider && m.key != n.key)) {
                continue;
            }
            if (n.kind == Kind::Model && m.model == n.model) {
                n.enforced = m;
                used[EnforcedColumn] = true;
            }
            const char* whose = n.kind == Kind::Model ? "model" : n.kind == Kind::Key ? "key" : "provider";
            if (n.kind != Kind::Global && n.inForce.empty() && (n.kind != Kind::Model || m.model == n.model)) {
                for (const LimitInForce& l : m.limits) {
                    if (l.scope == whose) {
                        n.inForce.push_back(l);
                    }
                }
            }
        }
        if (n.kind == Kind::Model) {
            if (parent >= 0) {
                n.unusable = nodes[static_cast<std::size_t>(parent)].unusable;
            }
            for (const LaneStatus& l : status.dispatch.lanes) {
                if (l.provider == n.provider && l.model == n.model && l.queued > 0 && l.blocked &&
                    (l.key.empty() ? reasonNamesKey(l.waitingFor, n.provider, n.key) : l.key == n.key)) {
                    n.lanes.push_back(l);
                }
            }
        }
        if (n.unusable.isEmpty()) {
            metrics::ScopeKey scope;
            switch (n.kind) {
            case Kind::Global: scope = metrics::ScopeKey::global(); break;
            case Kind::Provider: scope = metrics::ScopeKey::ofProvider(n.provider); break;
            case Kind::Key: scope = metrics::ScopeKey::ofKey(n.provider, n.key); break;
            case Kind::Model: scope = metrics::ScopeKey::ofKeyModel(n.provider, n.key, n.model); break;
            }
            // Only where a burst-enforced per-minute limit needs it.
            const bool wanted = std::any_of(s.dimensions.begin(), s.dimensions.end(), [](const DimensionState& d) {
                const auto f = host::limitFieldOf(d.spec);
                return f && rateIndexOf(*f) && d.spec.capacity() != d.spec.limit;
            });
            if (wanted) {
                const TimeRange& range = timeRanges()[0];
                ConsoleBackend& engine = m_session.backend();
                const TimePoint now = engine.clock().now();
                const auto points = engine.series(
                    scope, range.width, now - range.width * (range.window + 2), now + range.width);
                if (const auto r = recentRates(points, range)) {
                    n.rate[RequestsRate] = r->requests;
                    n.rate[TokensRate] = r->inputTokens + r->outputTokens;
                    n.rate[InputRate] = r->inputTokens;
                    n.rate[OutputRate] = r->outputTokens;
                }
            }
        }
        n.parent = parent;
        const int id = static_cast<int>(nodes.size());
        if (parent >= 0) {
            n.row = static_cast<int>(nodes[static_cast<std::size_t>(parent)].children.size());
            nodes[static_cast<std::size_t>(parent)].children.push_back(id);
        } else {
            n.row = static_cast<int>(topLevel.size());
            topLevel.push_back(id);
        }
        byScope[s.id] = id;
        nodes.push_back(std::move(n));
    }
    const auto sameShape = [&] {
        if (nodes.size() != m_nodes.size()) {
            return false;
        }
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const Node& a = nodes[i];
            const Node& b = m_nodes[i];
            if (a.kind != b.kind || a.provider != b.provider || a.key != b.key || a.model != b.model ||
                a.parent != b.parent || a.row != b.row) {
                return false;
            }
        }
        return true;
    }();
    m_paused = status.dispatch.paused;
    m_calibration = status.dispatch.calibration;
    m_used = used;
    if (sameShape) {
        m_nodes = std::move(nodes);
        if (!m_nodes.empty()) {
            // One signal per top-level subtree keeps views from repainting
            // row by row.
            for (std::size_t i = 0; i < m_nodes.size(); ++i) {
                const Node& n = m_nodes[i];
                if (n.children.empty()) {
                    continue;
                }
                const QModelIndex parentIndex = createIndex(n.row, 0, static_cast<quintptr>(i + 1));
                Q_EMIT dataChanged(index(0, 0, parentIndex),
                                   index(static_cast<int>(n.children.size()) - 1, ColumnCount - 1, parentIndex));
            }
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        }
        return;
    }
    beginResetModel();
    m_nodes = std::move(nodes);
    endResetModel();
}

const ScopeTreeModel::Node* ScopeTreeModel::nodeAt(const QModelIndex& index) const
{
    if (!index.isValid() || index.internalId() == 0 || index.internalId() > m_nodes.size()) {
        return nullptr;
    }
    return &m_nodes[static_cast<std::size_t>(index.internalId() - 1)];
}

ScopeTreeModel::Kind ScopeTreeModel::kindOf(const QModelIndex& index) const
{
    const Node* n = nodeAt(index);
    return n != nullptr ? n->kind : Kind::Global;
}

LimitTarget ScopeTreeModel::targetOf(const QModelIndex& index) const
{
    const Node* n = nodeAt(index);
    if (n == nullptr) {
        return {};
    }
    return LimitTarget{n->provider, n->key, n->model};
}

QModelIndex ScopeTreeModel::find(const QString& provider, const QString& key, const QString& model) const
{
    for (std::size_t i = 0; i < m_nodes.size(); ++i) {
        const Node& n = m_nodes[i];
        if (qs(n.provider) == provider && qs(n.key) == key && qs(n.model) == model) {
            return createIndex(n.row, 0, static_cast<quintptr>(i + 1));
        }
    }
    return {};
}

QModelIndex ScopeTreeModel::index(int row, int column, const QModelIndex& parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount) {
        return {};
    }
    if (!parent.isValid()) {
        int seen = 0;
        for (std::size_t i = 0; i < m_nodes.size(); ++i) {
            if (m_nodes[i].parent == -1 && seen++ == row) {
                return createIndex(row, column, static_cast<quintptr>(i + 1));
            }
        }
        return {};
    }
    const Node* p = nodeAt(parent);
    if (p == nullptr || row >= static_cast<int>(p->children.size())) {
        return {};
    }
    return createIndex(row, column, static_cast<quintptr>(p->children[static_cast<std::size_t>(row)] + 1));
}

QModelIndex ScopeTreeModel::parent(const QModelIndex& child) const
{
    const Node* n = nodeAt(child);
    if (n == nullptr || n->parent < 0) {
        return {};
    }
    const Node& p = m_nodes[static_cast<std::size_t>(n->parent)];
    return createIndex(p.row, 0, static_cast<quintptr>(n->parent + 1));
}

int ScopeTreeModel::rowCount(const QModelIndex& parent) const
{
    if (!parent.isValid()) {
        return static_cast<int>(std::count_if(m_nodes.begin(), m_nodes.end(), [](const Node& n) { return n.parent == -1; }));
    }
    if (parent.column() != 0) {
        return 0;
    }
    const Node* p = nodeAt(parent);
    return p == nullptr ? 0 : static_cast<int>(p->children.size());
}

int ScopeTreeModel::columnCount(const QModelIndex&) const
{
    return ColumnCount;
}

const DimensionState* ScopeTreeModel::dimension(const Node& n, host::LimitField field) const
{
    for (const DimensionState& d : n.scope.dimensions) {
        if (host::limitFieldOf(d.spec) == field) {
            return &d;
        }
    }
    return nullptr;
}

QVariant ScopeTreeModel::stateText(const Node& n) const
{
    switch (n.kind) {
    case Kind::Global: return m_paused ? tr("paused") : tr("dispatching");
    case Kind::Provider: {
        // The lanes (one per model) are the provider's: their queues and
        // what they wait for show once, here.
        QStringList parts;
        for (const LaneStatus& l : n.lanes) {
            QString part = tr("%1: %2 queued").arg(qs(l.model), formatCount(static_cast<std::int64_t>(l.queued)));
            if (l.blocked && !l.waitingFor.empty()) {
                part += tr(", waiting for %1").arg(qs(l.waitingFor));
            }
            parts.append(part);
        }
        return parts.isEmpty() ? QVariant() : QVariant(parts.join(QStringLiteral("; ")));
    }
    case Kind::Key:
        if (!n.missing.isEmpty()) {
            return tr("no value: %1").arg(n.missing);
        }
        return n.keyStatus ? describeKeyState(*n.keyStatus) : QVariant();
    case Kind::Model:
        if (!n.unusable.isEmpty()) {
            return n.unusable;
        }
        if (!n.lanes.empty()) {
            return tr("holding the %1 queued: waiting for %2")
                .arg(formatCount(static_cast<std::int64_t>(n.lanes.front().queued)), qs(n.lanes.front().waitingFor));
        }
        return {};
    }
    return {};
}

QVariant ScopeTreeModel::stateColor(const Node& n) const
{
    if (n.kind == Kind::Key) {
        if (!n.missing.isEmpty()) {
            return QColor(0x99, 0x99, 0x99);
        }
        if (!n.keyStatus) {
            return {};
        }
        switch (n.keyStatus->state) {
        case KeyStatus::State::Ok: return QColor(0x1b, 0x7f, 0x3b);
        case KeyStatus::State::CoolingDown: return QColor(0xb3, 0x6b, 0x00);
        case KeyStatus::State::Quarantined: return QColor(0xc0, 0x1c, 0x28);
        case KeyStatus::State::Disabled: return QColor(0x80, 0x80, 0x80);
        }
    }
    if (n.kind == Kind::Global && m_paused) {
        return QColor(0xb3, 0x6b, 0x00);
    }
    return {};
}

QVariant ScopeTreeModel::display(const Node& n, int column) const
{
    switch (column) {
    case NameColumn:
        switch (n.kind) {
        case Kind::Global: return tr("All traffic (global)");
        case Kind::Provider: return qs(n.provider);
        case Kind::Key: return qs(n.key);
        case Kind::Model: return qs(n.model);
        }
        return {};
    case StateColumn: return stateText(n);
    case HeadroomColumn: {
        if (!n.unusable.isEmpty()) {
            return n.unusable;
        }
        std::optional<double> least;
        for (const DimensionState& d : n.scope.dimensions) {
            const std::int64_t cap = d.spec.capacity();
            if (cap > 0) {
                const double left = static_cast<double>(d.available) / static_cast<double>(cap);
                least = least ? std::min(*least, left) : left;
            }
        }
        return least ? QVariant(tr("%1%").arg(std::lround(*least * 100))) : QVariant();
    }
    case EnforcedColumn:
        if (n.enforced) {
            return enforcementSummary(*n.enforced, m_calibration);
        }
        if (std::any_of(n.inForce.begin(), n.inForce.end(),
                        [](const LimitInForce& l) { return l.origin == LimitOrigin::Adaptive; })) {
            return tr("concurrency adaptive");
        }
        return {};
    default: break;
    }
    const auto field = fieldOf(column);
    if (!field) {
        return {};
    }
    const LimitTarget target{n.provider, n.key, n.model};
    const DimensionState* d = dimension(n, *field);
    QString text;
    if (d != nullptr && !n.unusable.isEmpty()) {
        // A disabled or quarantined key carries nothing: its limit, no usage.
        text = tr("%1 · %2").arg(n.unusable, valueText(*field, host::limitFieldValue(d->spec)));
    } else if (d != nullptr) {
        const std::int64_t capacity = d->spec.capacity();
        if (const auto rate = recentRate(n, *d)) {
            text = formatCount(std::llround(*rate)) + QStringLiteral(" / ") +
                   valueText(*field, host::limitFieldValue(d->spec));
        } else if (capacity == d->spec.limit || capacity <= 0) {
            text = usedText(*field, d->used) + QStringLiteral(" / ") + valueText(*field, host::limitFieldValue(d->spec));
        } else {
            // Enforced over less than its period (600/min as 10 a second):
            // what is counted now is a share of the burst, and "2,177 /
            // 150,000" would read as nearly idle when the bucket is full.
            const double share = static_cast<double>(d->used) / static_cast<double>(capacity);
            text = tr("%1% of %2").arg(std::lround(std::min(share, 1.0) * 100)).arg(valueText(*field, host::limitFieldValue(d->spec)));
        }
    }
    if (const auto pending = m_session.pendingValue(target, *field)) {
        text += (text.isEmpty() ? QString() : QStringLiteral(" ")) + QStringLiteral("→ ") +
                (*pending ? valueText(*field, **pending) : tr("none"));
    }
    return text;
}

std::optional<double> ScopeTreeModel::recentRate(const Node& n, const DimensionState& d) const
{
    const auto field = host::limitFieldOf(d.spec);
    const auto index = field ? rateIndexOf(*field) : std::nullopt;
    if (!index || d.spec.capacity() == d.spec.limit) {
        return std::nullopt;
    }
    return n.rate[static_cast<std::size_t>(*index)];
}

QVariant ScopeTreeModel::limitTip(const Node& n, int column) const
{
    const auto field = fieldOf(column);
    if (!field) {
        return {};
    }
    const DimensionState* d = dimension(n, *field);
    if (d == nullptr) {
        return tr("No %1 limit here. Double-click to set one.").arg(qs(host::limitFieldName(*field)));
    }
    QString origin;
    if (const LimitInForce* l = inForce(n, *field)) {
        origin = tr("\n%1").arg(originText(*l, n.enforced && n.enforced->pacedEvenly));
        if (l->spec.window == Window::Rolling && l->spec.measure != Measure::Concurrency) {
            origin += tr(", burst %1 in force").arg(formatCount(l->burstInForce));
        }
    }
    return tr("%1%5\nused %2, headroom %3, back to full in %4\nDouble-click to change it.")
        .arg(describeLimit(d->spec), usedText(*field, d->used), usedText(*field, d->available),
             formatSeconds(std::chrono::duration<double>(d->timeToFull).count()), origin);
}

const LimitInForce* ScopeTreeModel::inForce(const Node& n, host::LimitField field) const
{
    for (const LimitInForce& l : n.inForce) {
        if (host::limitFieldOf(l.spec) == field) {
            return &l;
        }
    }
    return nullptr;
}

QVariant ScopeTreeModel::enforcedData(const Node& n, int role) const
{
    if (!n.enforced) {
        return {};
    }
    const ModelLimitStatus& s = *n.enforced;
    switch (role) {
    case PacedRole: return s.pacedEvenly;
    case MarginPercentRole:
    case LeastMarginMsRole: {
        std::int32_t per10k = 0;
        Duration least{};
        for (const LimitInForce& l : s.limits) {
            if (l.scope == "model") {
                per10k = std::max(per10k, l.marginPer10k);
                least = std::max(least, l.leastMargin);
            }
        }
        return role == MarginPercentRole ? QVariant(per10k / 100.0)
                                         : QVariant(std::chrono::duration<double, std::milli>(least).count());
    }
    case RampStateRole:
        if (!s.ramp) {
            return {};
        }
        return s.ramp->inRamp ? QStringLiteral("ramping") : s.ramp->idle ? QStringLiteral("idle") : QStringLiteral("done");
    case RampFractionRole: return s.ramp ? QVariant(s.ramp->fraction) : QVariant();
    case CalibrationRole: {
        const auto ratio = calibrationRatio(m_calibration, s.model);
        return ratio ? QVariant(*ratio) : QVariant();
    }
    default: return {};
    }
}

QVariant ScopeTreeModel::data(const QModelIndex& index, int role) const
{
    const Node* n = nodeAt(index);
    if (n == nullptr) {
        return {};
    }
    switch (role) {
    case Qt::DisplayRole: return display(*n, index.column());
    case Qt::EditRole: {
        const auto field = fieldOf(index.column());
        const DimensionState* d = field ? dimension(*n, *field) : nullptr;
        return d != nullptr ? QVariant(host::limitFieldValue(d->spec)) : QVariant(0.0);
    }
    case Qt::ToolTipRole:
        if (index.column() == StateColumn) {
            return stateText(*n);
        }
        if (index.column() == EnforcedColumn) {
            return n->enforced ? QVariant(enforcementDetail(*n->enforced, m_calibration)) : QVariant();
        }
        if (index.column() == NameColumn && n->keyStatus) {
            return tr("Key %1, fingerprint %2").arg(qs(n->key), qs(n->keyStatus->fingerprint));
        }
        return limitTip(*n, index.column());
    case Qt::ForegroundRole:
        if (index.column() == StateColumn) {
            return stateColor(*n);
        }
        return {};
    case Qt::BackgroundRole: {
        const auto field = fieldOf(index.column());
        const DimensionState* d = field ? dimension(*n, *field) : nullptr;
        if (d == nullptr || d->spec.capacity() <= 0 || !n->unusable.isEmpty()) {
            return {};
        }
        const auto rate = recentRate(*n, *d);
        const double use = rate ? *rate / static_cast<double>(d->spec.limit)
                                : static_cast<double>(d->used) / static_cast<double>(d->spec.capacity());
        if (use >= 0.9) {
            return QBrush(QColor(0xfb, 0xd9, 0xd7));
        }
        if (use >= 0.7) {
            return QBrush(QColor(0xfd, 0xef, 0xc8));
        }
        return {};
    }
    case Qt::FontRole:
        if (fieldOf(index.column()) &&
            m_session.pendingValue(LimitTarget{n->provider, n->key, n->model}, *fieldOf(index.column()))) {
            QFont f;
            f.setItalic(true);
            return f;
        }
        if (index.column() == NameColumn && n->kind != Kind::Model) {
            QFont f;
            f.setBold(n->kind == Kind::Provider || n->kind == Kind::Global);
            return f;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() >= kFirstLimitColumn && index.column() != EnforcedColumn) {
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        }
        return {};
    case KindRole: return static_cast<int>(n->kind);
    case TargetProviderRole: return qs(n->provider);
    case TargetKeyRole: return qs(n->key);
    case TargetModelRole: return qs(n->model);
    case LimitRole: {
        const auto field = fieldOf(index.column());
        const DimensionState* d = field ? dimension(*n, *field) : nullptr;
        return d != nullptr ? QVariant(host::limitFieldValue(d->spec)) : QVariant();
    }
    case OriginRole:
    case BurstInForceRole: {
        const auto field = fieldOf(index.column());
        const LimitInForce* l = field ? inForce(*n, *field) : nullptr;
        if (l == nullptr) {
            return {};
        }
        return role == OriginRole ? QVariant(static_cast<int>(l->origin)) : QVariant(static_cast<qint64>(l->burstInForce));
    }
    case PacedRole:
    case MarginPercentRole:
    case LeastMarginMsRole:
    case RampStateRole:
    case RampFractionRole:
    case CalibrationRole: return enforcedData(*n, role);
    default: return {};
    }
}

bool ScopeTreeModel::setData(const QModelIndex& index, const QVariant& value, int role)
{
    const Node* n = nodeAt(index);
    const auto field = fieldOf(index.column());
    if (n == nullptr || !field || role != Qt::EditRole) {
        return false;
    }
    std::optional<double> v;
    if (value.isValid() && value.toDouble() >= 0) {
        v = value.toDouble();
    }
    m_session.editLimit(LimitTarget{n->provider, n->key, n->model}, *field, v);
    Q_EMIT dataChanged(index, index);
    return true;
}

Qt::ItemFlags ScopeTreeModel::flags(const QModelIndex& index) const
{
    Qt::ItemFlags f = QAbstractItemModel::flags(index);
    if (fieldOf(index.column())) {
        f |= Qt::ItemIsEditable;
    }
    return f;
}

QVariant ScopeTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal) {
        return {};
    }
    if (role == Qt::ToolTipRole) {
        if (const auto f = fieldOf(section)) {
            return tr("used / limit (%1), or the share used now of a limit enforced in short bursts; "
                      "double-click a cell to edit")
                .arg(qs(host::limitFieldName(*f)));
        }
        if (section == EnforcedColumn) {
            return tr("How each key+model's limits are enforced now: where they came from (configured, learned "
                      "from headers, lowered by headers, adaptive), the burst in force after 429s, even pacing, "
                      "the arrival margin, the ramp after idle and the prompt estimate's calibration");
        }
        return {};
    }
    if (role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case NameColumn: return tr("Scope");
    case StateColumn: return tr("State");
    case RpmColumn: return tr("Requests/min");
    case TpmColumn: return tr("Tokens/min");
    case ItpmColumn: return tr("Input tok/min");
    case OtpmColumn: return tr("Output tok/min");
    case ConcurrencyColumn: return tr("In flight");
    case RpdColumn: return tr("Requests/day");
    case TpdColumn: return tr("Tokens/day");
    case SpendColumn: return tr("Spend/day");
    case HeadroomColumn: return tr("Headroom");
    case EnforcedColumn: return tr("Enforced as");
    default: return {};
    }
}

}  // namespace sluice::ui
