#include "history_panel.h"

#include <set>

#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include "ui_format.h"

namespace attnbench::ui {
namespace {

// The Id item's role that holds the run's details text.
constexpr int kDetailsRole = Qt::UserRole + 1;

QString detailsText(const RunRecord& run) {
  if (run.provenance.empty()) {
    return QObject::tr("Run #%1: no provenance recorded (stored before attnbench recorded it).").arg(run.id);
  }
  QString text = QObject::tr("Run #%1 was measured with:").arg(run.id);
  for (const auto& e : run.provenance.entries()) text += QStringLiteral("\n  %1: %2").arg(qs(e.key), qs(e.value));
  return text;
}

// The run's device; for a run over several workers (--gpus), how many, with each worker's device in
// `tooltip`.
QString deviceText(const RunRecord& run, QString& tooltip) {
  const QString device = qs(run.device.name.empty() ? run.device.id : run.device.name);
  tooltip = qs(run.device.id) + QStringLiteral(" on ") + qs(run.host);
  const std::vector<RunWorker> workers = runWorkers(run);
  if (workers.size() < 2) return device;
  QStringList names;
  for (const RunWorker& w : workers) {
    tooltip += QStringLiteral("\n%1: %2").arg(w.label, w.device);
    names << w.deviceName();
  }
  names.removeDuplicates();
  return names.size() == 1 ? QStringLiteral("%1 ×%2").arg(names.front()).arg(workers.size())
                           : QObject::tr("%1 devices").arg(workers.size());
}

}  // namespace

HistoryPanel::HistoryPanel(QWidget* parent) : QWidget(parent) {
  model_ = new QStandardItemModel(0, ColumnCount, this);
  model_->setHorizontalHeaderLabels(
      {tr("Run"), tr("Name"), tr("Date"), tr("Device"), tr("Workload"), tr("Model"), tr("Status"), tr("Points"), tr("Note")});
  sorted_ = new QSortFilterProxyModel(this);
  sorted_->setSourceModel(model_);
  sorted_->setSortRole(Qt::UserRole);

  table_ = new QTableView;
  table_->setModel(sorted_);
  table_->setSortingEnabled(true);
  table_->sortByColumn(Id, Qt::DescendingOrder);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setAlternatingRowColors(true);
  table_->setWordWrap(false);

  details_ = new QPlainTextEdit;
  details_->setReadOnly(true);
  details_->setLineWrapMode(QPlainTextEdit::NoWrap);

  db_label_ = new QLabel;
  db_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  db_label_->setWordWrap(true);
  auto* open_db = new QPushButton(tr("Open DB…"));
  open_ = new QPushButton(tr("Open"));
  rename_ = new QPushButton(tr("Rename…"));
  annotate_ = new QPushButton(tr("Note…"));
  delete_ = new QPushButton(tr("Delete"));
  compare_ = new QPushButton(tr("Compare"));
  compare_->setToolTip(tr("Select two or more runs to overlay them and see the ratios of their times to a baseline run"));
  refresh_ = new QPushButton(tr("Refresh"));
  refresh_->setToolTip(tr("Read the list of runs again (it also follows the database on its own)"));

  auto* buttons = new QHBoxLayout;
  for (QPushButton* b : {open_, compare_, rename_, annotate_, delete_}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(refresh_);
  buttons->addWidget(open_db);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(2, 2, 2, 2);
  layout->addWidget(db_label_);
  // The list beside the selected run's details: the dock is wide and short, and a provenance is a
  // column of lines. The list has the larger share; the handle moves either way.
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(table_);
  split->addWidget(details_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({3 * 1000, 2 * 1000});  // those shares from the start, whatever the size hints say
  split->setCollapsible(0, false);
  layout->addWidget(split, 1);
  layout->addLayout(buttons);

  connect(open_db, &QPushButton::clicked, this, &HistoryPanel::openDatabaseRequested);
  connect(refresh_, &QPushButton::clicked, this, &HistoryPanel::refresh);
  // A burst of writes (a point every few milliseconds) gives one re-read once it settles.
  settle_.setSingleShot(true);
  settle_.setInterval(kSettleMs);
  connect(&settle_, &QTimer::timeout, this, &HistoryPanel::refresh);
  connect(&watcher_, &QFileSystemWatcher::fileChanged, this, [this] { settle_.start(); });
  // Some file systems (network mounts) report no changes: read again now and then.
  poll_.setInterval(kPollMs);
  connect(&poll_, &QTimer::timeout, this, &HistoryPanel::refresh);
  connect(open_, &QPushButton::clicked, this, [this] {
    const auto runs = selectedRuns();
    if (!runs.empty()) Q_EMIT openRequested(runs.front());
  });
  connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
    Q_EMIT openRequested(sorted_->index(index.row(), Id).data(Qt::UserRole).toLongLong());
  });
  connect(compare_, &QPushButton::clicked, this, [this] {
    auto runs = selectedRuns();
    if (runs.size() < 2) return;
    std::sort(runs.begin(), runs.end());  // the oldest run is the first baseline
    Q_EMIT compareRequested(QList<qint64>(runs.begin(), runs.end()));
  });
  connect(rename_, &QPushButton::clicked, this, &HistoryPanel::rename);
  connect(annotate_, &QPushButton::clicked, this, &HistoryPanel::annotate);
  connect(delete_, &QPushButton::clicked, this, &HistoryPanel::remove);
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &HistoryPanel::updateButtons);
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &HistoryPanel::showDetails);
  updateButtons();
  showDetails();
}

void HistoryPanel::setDatabase(const Database& db) {
  db_ = db;
  db_label_->setText(db_.isSet() ? tr("Database: %1").arg(db_.path()) : tr("No database open"));
  refresh();
  if (db_.isSet()) {
    poll_.start();
  } else {
    poll_.stop();
  }
}

std::vector<std::int64_t> HistoryPanel::selectedRuns() const {
  std::vector<std::int64_t> runs;
  for (const QModelIndex& index : table_->selectionModel()->selectedRows(Id)) {
    runs.push_back(index.data(Qt::UserRole).toLongLong());
  }
  return runs;
}

void HistoryPanel::watchFiles() {
  // A writer appends to the -wal file and checkpoints it into the database file. The -wal file
  // exists only while someone has the database open, so each re-read (and the poll) watches it
  // anew. Not the folder: this window's own reads create and delete -wal and -shm there.
  if (!watcher_.files().isEmpty()) watcher_.removePaths(watcher_.files());
  if (!db_.isSet()) return;
  QStringList paths;
  for (const QString& suffix : {QString(), QStringLiteral("-wal")}) {
    if (QFileInfo::exists(db_.path() + suffix)) paths << db_.path() + suffix;
  }
  if (!paths.isEmpty()) watcher_.addPaths(paths);
}

void HistoryPanel::refresh() {
  settle_.stop();
  watchFiles();
  const auto selected = selectedRuns();
  const std::set<std::int64_t> keep(selected.begin(), selected.end());
  model_->removeRows(0, model_->rowCount());
  if (!db_.isSet()) return;
  std::vector<RunRecord> runs;
  try {
    runs = db_.use([](Store& s) { return s.listRuns(); });
  } catch (const std::exception& e) {
    Q_EMIT message(QStringLiteral("warning"), tr("cannot list the runs: %1").arg(QString::fromUtf8(e.what())));
    return;
  }
  sorted_->setDynamicSortFilter(false);
  for (const RunRecord& run : runs) {
    auto item = [](const QString& text, const QVariant& sort) {
      auto* i = new QStandardItem(text);
      i->setData(sort, Qt::UserRole);
      return i;
    };
    QList<QStandardItem*> row;
    row << item(QStringLiteral("#%1").arg(run.id), QVariant::fromValue<qlonglong>(run.id));
    row << item(qs(run.name), qs(run.name));
    row << item(localTime(run.started_at), qs(run.started_at));
    QString device_tooltip;
    const QString device = deviceText(run, device_tooltip);
    row << item(device, device);
    const QString workload = qs(workloadName(run.spec.workload));
    row << item(workload, workload);
    row << item(modelsSummary(run.spec), modelsSummary(run.spec));
    row << item(qs(runStatusName(run.status)), qs(runStatusName(run.status)));
    row << item(QStringLiteral("%1 / %2").arg(run.finished_points).arg(run.total_points), run.finished_points);
    row << item(qs(run.note), qs(run.note));
    row[Device]->setToolTip(device_tooltip);
    row[Note]->setToolTip(qs(run.note));
    row[Id]->setData(detailsText(run), kDetailsRole);
    if (run.status == RunStatus::Interrupted || run.status == RunStatus::Failed) {
      row[Status]->setForeground(QColor(0xc62828));
    }
    model_->appendRow(row);
  }
  sorted_->setDynamicSortFilter(true);
  sorted_->sort(table_->horizontalHeader()->sortIndicatorSection(), table_->horizontalHeader()->sortIndicatorOrder());
  table_->resizeColumnsToContents();
  for (int r = 0; r < sorted_->rowCount(); ++r) {
    if (keep.count(sorted_->index(r, Id).data(Qt::UserRole).toLongLong())) {
      table_->selectionModel()->select(sorted_->index(r, Id),
                                       QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
  }
  updateButtons();
}

bool HistoryPanel::guarded(const std::function<void()>& change) {
  try {
    change();
    return true;
  } catch (const std::exception& e) {
    Q_EMIT message(QStringLiteral("error"), QString::fromUtf8(e.what()));
    return false;
  }
}

void HistoryPanel::showProgress(std::int64_t run_id, int done, int total) {
  for (int r = 0; r < model_->rowCount(); ++r) {
    if (model_->item(r, Id)->data(Qt::UserRole).toLongLong() != run_id) continue;
    model_->item(r, Points)->setText(QStringLiteral("%1 / %2").arg(done).arg(total));
    model_->item(r, Points)->setData(done, Qt::UserRole);
    return;
  }
}

void HistoryPanel::updateButtons() {
  const auto n = selectedRuns().size();
  open_->setEnabled(n == 1);
  rename_->setEnabled(n == 1);
  annotate_->setEnabled(n == 1);
  delete_->setEnabled(n >= 1);
  compare_->setEnabled(n >= 2);
}

void HistoryPanel::showDetails() {
  const QModelIndexList rows = table_->selectionModel()->selectedRows(Id);
  if (rows.size() == 1) details_->setPlainText(rows.front().data(kDetailsRole).toString());
  else if (rows.empty()) details_->setPlainText(tr("Select a run to see how it was measured."));
  else details_->setPlainText(tr("%1 runs selected.").arg(rows.size()));
}

std::optional<RunRecord> HistoryPanel::singleSelectedRun() {
  const auto runs = selectedRuns();
  if (runs.size() != 1 || !db_.isSet()) return std::nullopt;
  std::optional<RunRecord> run;
  guarded([&] { run = db_.use([&](Store& s) { return s.findRun(runs.front()); }); });
  return run;
}

void HistoryPanel::rename() {
  const std::optional<RunRecord> run = singleSelectedRun();
  if (!run) return;
  bool ok = false;
  const QString name = QInputDialog::getText(this, tr("Rename run"), tr("Name of run #%1:").arg(run->id),
                                             QLineEdit::Normal, qs(run->name), &ok);
  if (ok) renameRun(run->id, name);
}

bool HistoryPanel::renameRun(std::int64_t run_id, const QString& name) {
  if (!db_.isSet() || name.trimmed().isEmpty()) return false;
  if (!guarded([&] { db_.use([&](Store& s) { s.renameRun(run_id, name.trimmed().toStdString()); }); })) return false;
  refresh();
  Q_EMIT runEdited(run_id);
  return true;
}

void HistoryPanel::annotate() {
  const std::optional<RunRecord> run = singleSelectedRun();
  if (!run) return;
  bool ok = false;
  const QString note = QInputDialog::getMultiLineText(this, tr("Note"), tr("Note on run #%1:").arg(run->id),
                                                      qs(run->note), &ok);
  if (ok) annotateRun(run->id, note);
}

bool HistoryPanel::annotateRun(std::int64_t run_id, const QString& note) {
  if (!db_.isSet()) return false;
  if (!guarded([&] { db_.use([&](Store& s) { s.annotateRun(run_id, note.toStdString()); }); })) return false;
  refresh();
  Q_EMIT runEdited(run_id);
  return true;
}

void HistoryPanel::remove() {
  auto runs = selectedRuns();
  if (runs.empty() || !db_.isSet()) return;
  if (std::find(runs.begin(), runs.end(), busy_run_) != runs.end()) {
    Q_EMIT message(QStringLiteral("warning"), tr("run #%1 is running: cancel it before deleting it").arg(busy_run_));
    return;
  }
  QStringList names;
  for (auto id : runs) names << QStringLiteral("#%1").arg(id);
  if (QMessageBox::question(this, tr("Delete runs"),
                            tr("Delete %1 with all their points? This cannot be undone.").arg(names.join(QStringLiteral(", "))))
      != QMessageBox::Yes) {
    return;
  }
  guarded([&] {
    db_.use([&](Store& s) {
      for (auto id : runs) s.deleteRun(id);
    });
  });
  table_->clearSelection();
  refresh();
}

}  // namespace attnbench::ui
