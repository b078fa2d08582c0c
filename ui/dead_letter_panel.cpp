#include "dead_letter_panel.h"

#include "console_session.h"
#include "format.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTimeEdit>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <set>

namespace sluice::ui {

namespace {

enum Col { IdCol, CustomIdCol, ModelCol, KeyCol, ClassCol, StatusCol, DiedCol, MessageCol, ColCount };

// Refused before it was sent (no usable key, too large for a limit, the
// deadline passed in the queue): no key was used and nothing answered, so
// the row says "not sent" and why, not an empty key and a dash.
bool refusedBeforeSending(const store::Attempt& a)
{
    return a.httpStatus == 0 && a.keyLabel.empty() && !a.counted && !a.errorClass.empty();
}

WallTime toWall(const QDateTime& t)
{
    return WallTime(std::chrono::milliseconds(t.toMSecsSinceEpoch()));
}

// Pretty-printed when it is JSON, as stored when it is not.
QString prettyBody(const std::string& body)
{
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(body));
    return doc.isNull() ? qs(body) : QString::fromUtf8(doc.toJson(QJsonDocument::Indented));
}

}  // namespace

DeadLetterPanel::DeadLetterPanel(ConsoleSession& session, QWidget* parent)
    : LivePanel(std::chrono::milliseconds(3000), parent), m_session(session)
{
    setObjectName(QStringLiteral("deadLetterPanel"));
    auto* layout = new QVBoxLayout(this);

    auto* filters = new QHBoxLayout;
    m_class = new QComboBox(this);
    m_class->setObjectName(QStringLiteral("classFilter"));
    m_class->addItem(tr("any class"), QString());
    for (int c = 1; c < kFailureClassCount; ++c) {
        const auto cls = static_cast<FailureClass>(c);
        m_class->addItem(failureClassLabel(cls), qs(failureClassName(cls)));
    }
    m_key = new QComboBox(this);
    m_key->setObjectName(QStringLiteral("keyFilter"));
    m_model = new QComboBox(this);
    m_model->setObjectName(QStringLiteral("modelFilter"));
    m_useFrom = new QCheckBox(tr("died after"), this);
    m_from = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(-3600), this);
    m_from->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm"));
    m_useTo = new QCheckBox(tr("before"), this);
    m_to = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(3600), this);
    m_to->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm"));
    filters->addWidget(new QLabel(tr("Filter:"), this));
    for (QWidget* w : std::initializer_list<QWidget*>{m_class, m_key, m_model, m_useFrom, m_from, m_useTo, m_to}) {
        filters->addWidget(w);
    }
    filters->addStretch(1);
    layout->addLayout(filters);
    fillChoices();
    for (QComboBox* c : {m_class, m_key, m_model}) {
        connect(c, &QComboBox::currentIndexChanged, this, &DeadLetterPanel::refresh);
    }
    for (QCheckBox* c : {m_useFrom, m_useTo}) {
        connect(c, &QCheckBox::toggled, this, &DeadLetterPanel::refresh);
    }
    for (QDateTimeEdit* e : {m_from, m_to}) {
        connect(e, &QDateTimeEdit::dateTimeChanged, this, &DeadLetterPanel::refresh);
    }

    auto* split = new QSplitter(Qt::Vertical, this);
    auto* top = new QWidget(split);
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    m_summary = new QLabel(top);
    m_summary->setObjectName(QStringLiteral("deadSummary"));
    topLayout->addWidget(m_summary);
    m_table = new QTableWidget(0, ColCount, top);
    m_table->setObjectName(QStringLiteral("deadLetters"));
    m_table->setHorizontalHeaderLabels(
        {tr("Job"), tr("custom_id"), tr("Model"), tr("Key"), tr("Class"), tr("HTTP"), tr("Died"), tr("Why")});
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setWordWrap(false);
    topLayout->addWidget(m_table);

    auto* bottom = new QSplitter(Qt::Horizontal, split);
    auto* timelineBox = new QGroupBox(tr("Timeline: why did this wait?"), bottom);
    auto* tl = new QVBoxLayout(timelineBox);
    m_timeline = new QTreeWidget(timelineBox);
    m_timeline->setObjectName(QStringLiteral("timeline"));
    m_timeline->setHeaderLabels({tr("When"), tr("What"), tr("Detail")});
    m_timeline->setRootIsDecorated(false);
    m_timeline->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    tl->addWidget(m_timeline);
    auto* bodyBox = new QGroupBox(tr("Request body"), bottom);
    auto* bl = new QVBoxLayout(bodyBox);
    m_body = new QPlainTextEdit(bodyBox);
    m_body->setObjectName(QStringLiteral("body"));
    QFont mono(QStringLiteral("monospace"));
    mono.setStyleHint(QFont::Monospace);
    m_body->setFont(mono);
    bl->addWidget(m_body);
    auto* actions = new QHBoxLayout;
    m_requeue = new QPushButton(tr("Requeue"), bodyBox);
    m_requeue->setObjectName(QStringLiteral("requeue"));
    m_editRequeue = new QPushButton(tr("Edit and requeue"), bodyBox);
    m_editRequeue->setObjectName(QStringLiteral("editRequeue"));
    m_requeueAll = new QPushButton(tr("Requeue all matching"), bodyBox);
    m_requeueAll->setObjectName(QStringLiteral("requeueAll"));
    actions->addWidget(m_requeue);
    actions->addWidget(m_editRequeue);
    actions->addStretch(1);
    actions->addWidget(m_requeueAll);
    bl->addLayout(actions);
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("deadStatus"));
    layout->addWidget(m_status);

    connect(m_requeue, &QPushButton::clicked, this, &DeadLetterPanel::requeueSelected);
    connect(m_editRequeue, &QPushButton::clicked, this, &DeadLetterPanel::editAndRequeueSelected);
    connect(m_requeueAll, &QPushButton::clicked, this, &DeadLetterPanel::requeueMatching);
    connect(m_table, &QTableWidget::itemSelectionChanged, this, &DeadLetterPanel::selectionChanged);
    connect(m_body, &QPlainTextEdit::textChanged, this, [this] { m_bodyEdited = true; });
    connect(&m_session.store(), &StoreClient::deadLettersReady, this, &DeadLetterPanel::showPage);
    connect(&m_session.store(), &StoreClient::jobReady, this, &DeadLetterPanel::showJob);
    connect(&m_session.store(), &StoreClient::requeueDone, this, [this](bool ok, const QString& message) {
        m_status->setText(message);
        if (ok) {
            refresh();
        }
    });
    connect(&m_session, &ConsoleSession::changed, this, &DeadLetterPanel::fillChoices);
    selectionChanged();
    if (const QString why = requeueRefusal(); !why.isEmpty()) {
        m_status->setText(why);
    }
}

QString DeadLetterPanel::requeueRefusal() const
{
    RemoteBackend* remote = m_session.remote();
    if (remote == nullptr) {
        return {};
    }
    if (!remote->hasDeadLetters()) {
        return tr("This instance (sluice-cli %1) keeps no dead letters.").arg(qs(remote->kind()));
    }
    if (const std::string why = remote->requeueRefusal(); !why.empty()) {
        return tr("Requeue is not available: %1.").arg(qs(why));
    }
    return {};
}

void DeadLetterPanel::applyRefusal()
{
    const QString why = requeueRefusal();
    for (QPushButton* b : {m_requeue, m_editRequeue, m_requeueAll}) {
        if (!why.isEmpty()) {
            b->setEnabled(false);
        }
        b->setToolTip(why);
    }
    m_body->setReadOnly(!why.isEmpty());
}

void DeadLetterPanel::fillChoices()
{
    const QString key = m_key->currentData().toString();
    const QString model = m_model->currentData().toString();
    const QSignalBlocker a(m_key);
    const QSignalBlocker b(m_model);
    m_key->clear();
    m_model->clear();
    m_key->addItem(tr("any key"), QString());
    m_model->addItem(tr("any model"), QString());
    const auto config = m_session.backend().config();
    std::set<std::string> keys;
    std::set<std::string> models;
    for (const ProviderConfig& p : config->providers) {
        if (p.removed) {
            continue;
        }
        for (const KeyConfig& k : p.keys) {
            keys.insert(k.name);
        }
        for (const ModelConfig& m : p.models) {
            models.insert(m.name);
        }
    }
    for (const std::string& k : keys) {
        m_key->addItem(qs(k), qs(k));
    }
    for (const std::string& m : models) {
        m_model->addItem(qs(m), qs(m));
    }
    m_key->setCurrentIndex(std::max(0, m_key->findData(key)));
    m_model->setCurrentIndex(std::max(0, m_model->findData(model)));
}

store::DeadLetterFilter DeadLetterPanel::filter() const
{
    store::DeadLetterFilter f;
    if (const QString c = m_class->currentData().toString(); !c.isEmpty()) {
        f.errorClass = c.toStdString();
    }
    if (const QString k = m_key->currentData().toString(); !k.isEmpty()) {
        f.keyLabel = k.toStdString();
    }
    if (const QString m = m_model->currentData().toString(); !m.isEmpty()) {
        f.model = m.toStdString();
    }
    if (m_useFrom->isChecked()) {
        f.diedFrom = toWall(m_from->dateTime());
    }
    if (m_useTo->isChecked()) {
        f.diedTo = toWall(m_to->dateTime());
    }
    return f;
}

int DeadLetterPanel::rowCount() const
{
    return m_table->rowCount();
}

void DeadLetterPanel::refresh()
{
    // One fetch at a time: a slow disk must not pile up requests.
    if (m_fetching) {
        return;
    }
    m_fetching = true;
    m_session.store().fetchDeadLetters(filter());
}

void DeadLetterPanel::showPage(const DeadLetterPage& page)
{
    m_fetching = false;
    if (!page.error.isEmpty()) {
        m_status->setText(page.error);
        return;
    }
    const store::JobId keep = selectedId();
    const QSignalBlocker block(m_table);
    m_table->setRowCount(static_cast<int>(page.items.size()));
    int row = 0;
    int selectRow = -1;
    for (const store::DeadLetter& d : page.items) {
        const store::Attempt last = d.attempts.empty() ? store::Attempt{} : d.attempts.back();
        const bool refused = refusedBeforeSending(last);
        const QString why = refused ? tr("refused before sending (%1): %2").arg(qs(last.errorClass), qs(last.message))
                                    : qs(last.message);
        const QStringList cells = {QString::number(d.job.id),
                                   qs(d.job.customId),
                                   qs(d.job.model),
                                   refused ? tr("not sent") : qs(last.keyLabel),
                                   qs(last.errorClass),
                                   refused                  ? tr("not sent")
                                   : last.httpStatus != 0 ? QString::number(last.httpStatus)
                                                          : tr("no response"),
                                   d.job.finished ? formatWallDateTime(*d.job.finished) : QString(),
                                   why.simplified()};
        for (int c = 0; c < ColCount; ++c) {
            auto* item = m_table->item(row, c);
            if (item == nullptr) {
                item = new QTableWidgetItem;
                m_table->setItem(row, c, item);
            }
            item->setText(cells[c]);
            item->setData(Qt::UserRole, static_cast<qlonglong>(d.job.id));
            if (c == MessageCol) {
                item->setToolTip(why);
            }
        }
        if (d.job.id == keep) {
            selectRow = row;
        }
        ++row;
    }
    if (selectRow >= 0) {
        m_table->selectRow(selectRow);
    }
    m_summary->setText(page.items.empty() ? tr("No dead letters match.")
                       : page.more        ? tr("The first %1 dead letters matching; narrow the filter to see others.")
                                         .arg(page.items.size())
                                          : tr("%n dead letter(s) match.", nullptr, static_cast<int>(page.items.size())));
    m_requeueAll->setEnabled(!page.items.empty());
    applyRefusal();
    if (selectRow < 0 && keep != 0) {
        selectionChanged();
    }
}

store::JobId DeadLetterPanel::selectedId() const
{
    const auto rows = m_table->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        return 0;
    }
    return m_table->item(rows.front().row(), IdCol)->data(Qt::UserRole).toLongLong();
}

bool DeadLetterPanel::select(store::JobId id)
{
    for (int r = 0; r < m_table->rowCount(); ++r) {
        if (m_table->item(r, IdCol)->data(Qt::UserRole).toLongLong() == id) {
            m_table->selectRow(r);
            return true;
        }
    }
    return false;
}

void DeadLetterPanel::selectionChanged()
{
    const store::JobId id = selectedId();
    m_requeue->setEnabled(id != 0);
    m_editRequeue->setEnabled(id != 0);
    applyRefusal();
    if (id == 0) {
        m_shownJob = 0;
        m_timeline->clear();
        const QSignalBlocker block(m_body);
        m_body->clear();
        m_body->setPlaceholderText(tr("Select a dead letter to see why it failed, edit its body and requeue it."));
        return;
    }
    if (id != m_shownJob) {
        m_session.store().fetchJob(id);
    }
}

void DeadLetterPanel::showJob(const JobDetails& details)
{
    if (!details.job || details.job->id != selectedId()) {
        return;  // the selection moved on meanwhile
    }
    m_shownJob = details.job->id;
    m_timeline->clear();
    for (const store::TimelineEntry& e : details.timeline) {
        auto* item = new QTreeWidgetItem(m_timeline, {formatWallTime(e.at), qs(e.kind), qs(e.detail)});
        item->setToolTip(2, qs(e.detail));
    }
    const QSignalBlocker block(m_body);
    m_body->setPlainText(prettyBody(details.job->body));
    if (details.job->body.empty()) {
        // A gateway's failed request: its body stayed with its client.
        m_body->setPlaceholderText(tr("This instance keeps no request bodies."));
    }
    m_bodyEdited = false;
}

void DeadLetterPanel::requeueSelected()
{
    if (const store::JobId id = selectedId(); id != 0) {
        m_status->setText(tr("Requeueing job %1…").arg(id));
        m_session.store().requeue(id);
    }
}

void DeadLetterPanel::editAndRequeueSelected()
{
    const store::JobId id = selectedId();
    if (id == 0) {
        return;
    }
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(m_body->toPlainText().toUtf8(), &error);
    if (doc.isNull() || !doc.isObject()) {
        m_status->setText(tr("The body is not a JSON object: %1").arg(error.errorString()));
        return;
    }
    m_status->setText(tr("Requeueing job %1 with the edited body…").arg(id));
    m_session.store().editAndRequeue(id, QString::fromUtf8(doc.toJson(QJsonDocument::Compact)));
}

void DeadLetterPanel::requeueMatching()
{
    m_status->setText(tr("Requeueing every dead letter that matches…"));
    m_session.store().requeueMatching(filter());
}

}  // namespace sluice::ui
