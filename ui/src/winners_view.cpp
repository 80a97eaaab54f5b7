#include "winners_view.h"

#include <map>
#include <tuple>
#include <utility>

#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "ui_format.h"

namespace attnbench::ui {

std::vector<ShapeWinner> winnersPerShape(const std::vector<PointResult>& points) {
  using ShapeKey = std::tuple<std::string, int, int, std::string, bool>;
  std::map<ShapeKey, std::size_t> slot_of;
  std::vector<ShapeKey> order;
  std::vector<std::map<std::string, double>> best;  // per shape: kernel family -> its fastest median
  for (const PointResult& r : points) {
    if (r.status != PointStatus::Ok || r.stats.median_ms <= 0) continue;
    const SweepPoint& p = r.point;
    const ShapeKey key{p.model.name, p.shape.batch, p.seqLen(), std::string(kernels::dtypeName(p.shape.dtype)), p.shape.causal};
    auto [it, fresh] = slot_of.try_emplace(key, order.size());
    if (fresh) {
      order.push_back(key);
      best.emplace_back();
    }
    auto [kernel, first] = best[it->second].try_emplace(kernelName(p.kernel), r.stats.median_ms);
    if (!first) kernel->second = std::min(kernel->second, r.stats.median_ms);
  }
  std::vector<ShapeWinner> winners;
  winners.reserve(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    ShapeWinner w;
    std::tie(w.model, w.batch, w.seq_len, w.dtype, w.causal) = order[i];
    for (const auto& [kernel, ms] : best[i]) {
      if (w.fastest.empty() || ms < w.median_ms) {
        w.second = w.fastest;
        w.second_ms = w.median_ms;
        w.fastest = kernel;
        w.median_ms = ms;
      } else if (w.second.empty() || ms < w.second_ms) {
        w.second = kernel;
        w.second_ms = ms;
      }
    }
    winners.push_back(std::move(w));
  }
  return winners;
}

WinnersModel::WinnersModel(const RunData* run_data, QObject* parent) : QAbstractTableModel(parent), data_(run_data) {
  recompute();
}

void WinnersModel::recompute() {
  beginResetModel();
  winners_ = winnersPerShape(data_->points());
  endResetModel();
}

int WinnersModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(winners_.size()); }
int WinnersModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant WinnersModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* const names[ColumnCount] = {"Model", "B", "N", "dtype", "Mask", "Fastest kernel", "Median",
                                                  "Speedup over second", "Second"};
  return tr(names[section]);
}

QVariant WinnersModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || static_cast<std::size_t>(index.row()) >= winners_.size()) return {};
  const ShapeWinner& w = winners_[static_cast<std::size_t>(index.row())];
  if (role == SortRole) {
    switch (index.column()) {
      case Batch: return w.batch;
      case SeqLen: return w.seq_len;
      case Median: return w.median_ms;
      case Speedup: return w.speedup();
      default: break;
    }
  }
  if (role != Qt::DisplayRole && role != SortRole) return {};
  switch (index.column()) {
    case Model: return qs(w.model);
    case Batch: return w.batch;
    case SeqLen: return w.seq_len;
    case DTypeCol: return qs(w.dtype);
    case Mask: return w.causal ? tr("causal") : tr("none");
    case Fastest: return qs(w.fastest);
    case Median: return formatMs(w.median_ms);
    case Speedup: return w.second.empty() ? tr("— (one kernel)") : QStringLiteral("%1x").arg(w.speedup(), 0, 'f', 2);
    case Second: return w.second.empty() ? QStringLiteral("—") : QStringLiteral("%1 (%2)").arg(qs(w.second), formatMs(w.second_ms));
    default: return {};
  }
}

WinnersView::WinnersView(const RunData* run_data, QWidget* parent) : QWidget(parent) {
  model_ = new WinnersModel(run_data, this);
  sorted_ = new QSortFilterProxyModel(this);
  sorted_->setSourceModel(model_);
  sorted_->setSortRole(WinnersModel::SortRole);
  table_ = new QTableView;
  table_->setModel(sorted_);
  table_->setSortingEnabled(true);
  table_->sortByColumn(-1, Qt::AscendingOrder);  // the run's order until a header is clicked
  table_->setAlternatingRowColors(true);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  summary_ = new QLabel;
  summary_->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(summary_);
  layout->addWidget(table_, 1);
  connect(run_data, &RunData::runReset, this, &WinnersView::refresh);
  connect(run_data, &RunData::pointsUpdated, this, &WinnersView::refresh);
  summarize();
}

void WinnersView::refresh() {
  // Recomputing and laying out the table costs time per point: a tab not on screen waits.
  if (!isVisible()) {
    stale_ = true;
    return;
  }
  stale_ = false;
  model_->recompute();
  summarize();
}

void WinnersView::showEvent(QShowEvent* event) {
  if (std::exchange(stale_, false)) {
    model_->recompute();
    summarize();
  }
  QWidget::showEvent(event);
}

void WinnersView::summarize() {
  std::map<std::string, int> wins;
  for (const ShapeWinner& w : model_->winners()) ++wins[w.fastest];
  QStringList parts;
  for (const auto& [kernel, n] : wins) parts << tr("%1 fastest on %2").arg(qs(kernel)).arg(n);
  summary_->setText(model_->winners().empty()
                        ? tr("No point has run yet.")
                        : tr("%1 shapes: %2. Speedup = the second fastest kernel's median over the fastest's.")
                              .arg(model_->winners().size())
                              .arg(parts.join(QStringLiteral(", "))));
  table_->resizeColumnsToContents();
}

}  // namespace attnbench::ui
