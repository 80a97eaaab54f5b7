#include "results_model.h"

#include <algorithm>

#include <QBrush>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QTableView>
#include <QVBoxLayout>

#include "ui_format.h"

namespace attnbench::ui {

namespace {

// One unit per column (ms, MiB), so that a column reads down without switching units.
QString inMs(double ms) { return QString::number(ms, 'f', ms < 10 ? 3 : ms < 1000 ? 2 : 1); }
QString inMiB(std::uint64_t bytes) { return bytes == 0 ? QStringLiteral("—") : QString::number(static_cast<double>(bytes) / (1 << 20), 'f', 1); }

// The standard kernel's median over this point's, for a fused point (flash, cuDNN) whose shape also
// ran with the standard kernel; 0 otherwise.
double speedupOf(const std::vector<PointResult>& points, const PointResult& fused) {
  const SweepPoint& f = fused.point;
  if (f.kernel == KernelKind::Standard || fused.stats.median_ms <= 0) return 0;
  for (const PointResult& r : points) {
    const SweepPoint& s = r.point;
    if (s.kernel == KernelKind::Standard && s.model.name == f.model.name && s.shape == f.shape && r.stats.median_ms > 0) {
      return r.stats.median_ms / fused.stats.median_ms;
    }
  }
  return 0;
}

}  // namespace

ResultsModel::ResultsModel(const RunData* run_data, QObject* parent) : QAbstractTableModel(parent), data_(run_data) {
  rows_ = static_cast<int>(data_->points().size());
  connect(data_, &RunData::runReset, this, [this] {
    beginResetModel();
    rows_ = static_cast<int>(data_->points().size());
    endResetModel();
  });
  connect(data_, &RunData::pointsUpdated, this, [this](const QList<int>& rows) {
    // Rows already shown changed in place (a point recorded again); the rest are appended at once.
    for (int row : rows) {
      if (row < rows_) Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    }
    const int count = static_cast<int>(data_->points().size());
    if (count > rows_) {
      beginInsertRows({}, rows_, count - 1);
      rows_ = count;
      endInsertRows();
    }
  });
}

int ResultsModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : rows_; }
bool ranOnWorkers(const std::vector<PointResult>& points) {
  return std::any_of(points.begin(), points.end(), [](const PointResult& p) { return !p.worker.empty(); });
}

int ResultsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ResultsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* const names[ColumnCount] = {
      "#", "Model", "Batch", "Seq len", "Dtype", "Causal", "Kernel", "Tile", "Device", "Status", "Median (ms)", "Std (ms)",
      "TFLOP/s", "Speedup", "Peak (MiB)", "Predicted (MiB)", "Max abs error", "Correct", "Message"};
  return QString::fromUtf8(names[section]);
}

QVariant ResultsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rows_) return {};
  const PointResult& r = data_->points()[static_cast<std::size_t>(index.row())];
  const SweepPoint& p = r.point;
  const bool ran = r.stats.median_ms > 0;
  const auto& c = r.correctness;

  if (role == Qt::ForegroundRole && index.column() == Status) {
    switch (r.status) {
      case PointStatus::Ok: return QBrush(QColor(0x2e7d32));
      case PointStatus::Skipped: return QBrush(QColor(0x8a6d00));
      default: return QBrush(QColor(0xc62828));
    }
  }
  if (role == Qt::TextAlignmentRole) {
    const int col = index.column();
    const bool numeric = col == Index || col == Batch || col == SeqLen || (col >= Median && col <= MaxError);
    return QVariant::fromValue(Qt::Alignment(numeric ? Qt::AlignRight | Qt::AlignVCenter : Qt::AlignLeft | Qt::AlignVCenter));
  }
  if (role == Qt::ToolTipRole && index.column() == Device) {
    return r.worker_device.empty() ? QVariant() : QVariant(qs(r.worker_device));
  }
  if (role == Qt::ToolTipRole && (index.column() == Message || index.column() == Status)) {
    return r.message.empty() ? QVariant() : QVariant(qs(r.message));
  }
  if (role != Qt::DisplayRole && role != SortRole) return {};
  const bool sort = role == SortRole;

  switch (index.column()) {
    case Index: return p.index;
    case Model: return qs(p.model.display_name.empty() ? p.model.name : p.model.display_name);
    case Batch: return p.shape.batch;
    case SeqLen: return p.shape.seq_kv;
    case DTypeCol: return QString::fromLatin1(kernels::dtypeName(p.shape.dtype).data(),
                                              static_cast<qsizetype>(kernels::dtypeName(p.shape.dtype).size()));
    case Causal: return p.shape.causal ? QStringLiteral("causal") : QStringLiteral("—");
    case Kernel: return qs(kernelName(p.kernel));
    case Tile: {
      if (p.kernel != KernelKind::Flash) return QStringLiteral("—");
      const QString requested = qs(tileName(p.tile));
      const QString ran_with = qs(tileName(r.tile));
      return p.tile.isAuto() && !r.tile.isAuto() ? QStringLiteral("auto → %1").arg(ran_with) : requested;
    }
    // The worker of a run spread over several (gpu3); a run of one process ran on the run's device.
    case Device: return r.worker.empty() ? QStringLiteral("—") : qs(r.worker);
    case Status: return qs(statusName(r.status));
    case Median: return sort ? QVariant(r.stats.median_ms) : (ran ? QVariant(inMs(r.stats.median_ms)) : QVariant());
    case Std: return sort ? QVariant(r.stats.std_ms) : (ran ? QVariant(inMs(r.stats.std_ms)) : QVariant());
    case Tflops: return sort ? QVariant(r.tflops) : (ran ? QVariant(formatTflops(r.tflops)) : QVariant());
    case Speedup: {
      const double speedup = speedupOf(data_->points(), r);
      if (sort) return speedup;
      return speedup > 0 ? QVariant(QStringLiteral("%1×").arg(speedup, 0, 'f', 2)) : QVariant();
    }
    case Peak: return sort ? QVariant(static_cast<qulonglong>(r.peak_bytes)) : QVariant(inMiB(r.peak_bytes));
    case Predicted: return sort ? QVariant(static_cast<qulonglong>(r.predicted_bytes)) : QVariant(inMiB(r.predicted_bytes));
    case MaxError:
      if (!c) return sort ? QVariant(-1.0) : QVariant();
      return sort ? QVariant(c->max_abs_error) : QVariant(QString::number(c->max_abs_error, 'g', 3));
    case Correct:
      if (!c) return QStringLiteral("not checked");
      return c->passed ? QStringLiteral("yes") : QStringLiteral("NO (tol %1)").arg(c->tolerance, 0, 'g', 3);
    case Message: return qs(r.message);
    default: return {};
  }
}

void ResultsFilter::setStatus(const QString& status) {
  status_ = status;
  invalidateRowsFilter();
}

void ResultsFilter::setText(const QString& text) {
  text_ = text.trimmed();
  invalidateRowsFilter();
}

bool ResultsFilter::filterAcceptsRow(int row, const QModelIndex& parent) const {
  const QAbstractItemModel* m = sourceModel();
  if (!status_.isEmpty() && m->index(row, ResultsModel::Status, parent).data().toString() != status_) return false;
  if (text_.isEmpty()) return true;
  // Every word must match some column: "flash 4096" finds the flash points of N=4096.
  const QStringList words = text_.split(QLatin1Char(' '), Qt::SkipEmptyParts);
  for (const QString& word : words) {
    bool found = false;
    for (int col = 0; col < ResultsModel::ColumnCount && !found; ++col) {
      found = m->index(row, col, parent).data().toString().contains(word, Qt::CaseInsensitive);
    }
    if (!found) return false;
  }
  return true;
}

ResultsView::ResultsView(const RunData* run_data, QWidget* parent) : QWidget(parent), run_data_(run_data) {
  model_ = new ResultsModel(run_data, this);
  filter_ = new ResultsFilter(this);
  filter_->setSourceModel(model_);
  filter_->setSortRole(ResultsModel::SortRole);

  text_ = new QLineEdit;
  text_->setPlaceholderText(tr("Filter: words matched in any column, e.g. \"flash 4096\""));
  text_->setClearButtonEnabled(true);
  status_ = new QComboBox;
  status_->addItem(tr("any status"), QString());
  for (PointStatus s : {PointStatus::Ok, PointStatus::Failed, PointStatus::Oom, PointStatus::Skipped, PointStatus::Error}) {
    status_->addItem(qs(statusName(s)), qs(statusName(s)));
  }
  count_ = new QLabel;
  connect(text_, &QLineEdit::textChanged, filter_, &ResultsFilter::setText);
  connect(status_, &QComboBox::currentIndexChanged, this,
          [this] { filter_->setStatus(status_->currentData().toString()); });

  table_ = new QTableView;
  table_->setModel(filter_);
  table_->setSortingEnabled(true);
  table_->sortByColumn(ResultsModel::Index, Qt::AscendingOrder);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setAlternatingRowColors(true);
  table_->verticalHeader()->hide();
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
  table_->setWordWrap(false);

  auto* bar = new QHBoxLayout;
  bar->addWidget(text_, 1);
  bar->addWidget(status_);
  bar->addWidget(count_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addWidget(table_);

  connect(filter_, &QAbstractItemModel::rowsInserted, this, [this] {
    // Size the columns to real values once, when the first point of a live run arrives.
    if (model_->rowCount() == 1) table_->resizeColumnsToContents();
    updateCount();
  });
  connect(filter_, &QAbstractItemModel::rowsRemoved, this, &ResultsView::updateCount);
  connect(filter_, &QAbstractItemModel::modelReset, this, [this] {
    updateCount();
    table_->resizeColumnsToContents();
  });
  connect(filter_, &QAbstractItemModel::layoutChanged, this, &ResultsView::updateCount);
  updateCount();
}

void ResultsView::updateCount() {
  count_->setText(tr("%1 of %2 points").arg(filter_->rowCount()).arg(model_->rowCount()));
  table_->setColumnHidden(ResultsModel::Device, !ranOnWorkers(run_data_->points()));
}

}  // namespace attnbench::ui
