// ScopeTreeModel: every scope the engine admits against, as a tree:
// global → provider → key → model, with each limit's usage and value,
// the headroom left, and the state (ok; cooling down until …; quarantined,
// and why; disabled). Built from one HostStatus snapshot per refresh:
// the admission scopes, the dispatcher's key and lane status, and the
// metrics recorder's recent rates.
//
// A per-minute limit the provider enforces in short bursts (600/min as 10
// a second) shows the rate over the dashboard's window against the limit
// ("450 / 600"): the bucket's share at one instant swings between empty and
// full and disagreed with the dashboard. A lane's queue and its waiting
// reason show on the provider row; the reason also on the key or model it
// names, never on every key. A disabled (or quarantined) key shows so in
// place of usage and headroom.
//
// The "Enforced as" column says, per key+model, how the dispatcher enforces
// its limits now (ui/limits_in_force.h): where they came from (configured,
// learned from headers, lowered by headers, adaptive), the burst in force
// after 429s, window pacing, the arrival margin, the idle ramp and the
// prompt estimator's calibration; a limit cell's tooltip names its origin.
//
// Limit cells are editable (Qt::EditRole holds the limit; an invalid
// QVariant removes it). An edit goes to ConsoleSession::editLimit, which
// applies it shortly after, and shows as "→ new value" until then.
//
// Thread-safety: GUI thread only.
#pragma once

#include "host/engine_host.h"
#include "host/workspace.h"

#include <QAbstractItemModel>

#include <optional>
#include <vector>

namespace sluice::ui {

class ConsoleSession;

class ScopeTreeModel : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column {
        NameColumn,
        StateColumn,
        RpmColumn,
        TpmColumn,
        ItpmColumn,
        OtpmColumn,
        ConcurrencyColumn,
        RpdColumn,
        TpdColumn,
        SpendColumn,
        HeadroomColumn,
        EnforcedColumn,  // how the dispatcher enforces a key+model's limits now
        ColumnCount
    };
    enum class Kind : std::uint8_t { Global, Provider, Key, Model };
    // Roles for views and tests.
    enum Role {
        KindRole = Qt::UserRole + 1,
        TargetProviderRole,
        TargetKeyRole,
        TargetModelRole,
        LimitRole,
        // Limit cells: where the limit came from (LimitOrigin as int) and
        // the burst in force (qint64; rolling limits only).
        OriginRole,
        BurstInForceRole,
        // EnforcedColumn of a key+model: paced evenly (bool), the arrival
        // margin (percent of the rate, double) and its learned least (ms,
        // double), the idle ramp ("ramping", "idle", "done"; invalid where
        // the provider does not ramp) and its fraction now (double), and the
        // estimator's calibration ratio (double; invalid with no samples).
        PacedRole,
        MarginPercentRole,
        LeastMarginMsRole,
        RampStateRole,
        RampFractionRole,
        CalibrationRole
    };

    explicit ScopeTreeModel(ConsoleSession& session, QObject* parent = nullptr);

    void update(const host::HostStatus& status);

    static std::optional<host::LimitField> fieldOf(int column);
    static int columnOf(host::LimitField field);
    // Whether any scope has a limit in this column (a view hides the rest).
    bool columnUsed(int column) const;

    Kind kindOf(const QModelIndex& index) const;
    LimitTarget targetOf(const QModelIndex& index) const;
    // The index of a scope by its path (empty parts stop the path).
    QModelIndex find(const QString& provider, const QString& key = {}, const QString& model = {}) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    struct Node {
        Kind kind = Kind::Global;
        std::string provider;
        std::string key;
        std::string model;
        int parent = -1;
        int row = 0;
        std::vector<int> children;
        ScopeState scope;
        std::optional<KeyStatus> keyStatus;
        std::vector<LaneStatus> lanes;  // Provider: its lanes; Model: the lane, when its reason names this key
        QString missing;  // a key loaded without a value: why
        // The key (or the key a model is under) carries nothing: why
        // ("disabled", "quarantined"); empty when it is usable.
        QString unusable;
        std::array<std::optional<double>, 4> rate{};  // per minute: requests, tokens, input, output
        // Model: how its limits are enforced now; Key, Provider: the limits
        // of that scope as one of its key+models sees them (their origin).
        std::optional<ModelLimitStatus> enforced;
        std::vector<LimitInForce> inForce;
    };

    const Node* nodeAt(const QModelIndex& index) const;
    const DimensionState* dimension(const Node& n, host::LimitField field) const;
    QVariant display(const Node& n, int column) const;
    QVariant stateText(const Node& n) const;
    QVariant stateColor(const Node& n) const;
    QVariant limitTip(const Node& n, int column) const;
    const LimitInForce* inForce(const Node& n, host::LimitField field) const;
    QVariant enforcedData(const Node& n, int role) const;
    // The recent rate a burst-enforced per-minute limit is shown against.
    std::optional<double> recentRate(const Node& n, const DimensionState& d) const;

    ConsoleSession& m_session;
    std::vector<Node> m_nodes;  // m_nodes[0] is the global scope
    bool m_paused = false;
    std::vector<ModelCalibration> m_calibration;
    std::array<bool, ColumnCount> m_used{};
};

}  // namespace sluice::ui
