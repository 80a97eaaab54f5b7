// The winner per shape (issue #9, section 5): for each problem of the shown run (model, batch, N,
// dtype, mask), the fastest kernel family among those measured, its median, and its speedup over
// the second fastest. Kernel families are whatever the run measured (several tiles of one family:
// its fastest). Recomputed from RunData on each of its refreshes while shown (hidden, once when
// shown again).
#pragma once

#include <string>
#include <vector>

#include <QAbstractTableModel>
#include <QWidget>

#include "run_data.h"

class QLabel;
class QSortFilterProxyModel;
class QTableView;

namespace attnbench::ui {

struct ShapeWinner {
  std::string model;
  int batch = 0, seq_len = 0;
  std::string dtype;
  bool causal = false;
  std::string fastest;          // kernel family
  double median_ms = 0;
  std::string second;           // empty when only one family ran ok for this shape
  double second_ms = 0;
  double speedup() const { return second.empty() ? 0.0 : second_ms / median_ms; }  // second / fastest
};

// One entry per shape with at least one point that ran ok, in the order of the shapes' first points.
std::vector<ShapeWinner> winnersPerShape(const std::vector<PointResult>& points);

class WinnersModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { Model, Batch, SeqLen, DTypeCol, Mask, Fastest, Median, Speedup, Second, ColumnCount };
  static constexpr int SortRole = Qt::UserRole + 1;  // numbers sort as numbers

  explicit WinnersModel(const RunData* run_data, QObject* parent = nullptr);
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
  const std::vector<ShapeWinner>& winners() const { return winners_; }

 public:
  void recompute();

 private:
  const RunData* data_;
  std::vector<ShapeWinner> winners_;
};

class WinnersView : public QWidget {
  Q_OBJECT
 public:
  explicit WinnersView(const RunData* run_data, QWidget* parent = nullptr);
  WinnersModel* model() const { return model_; }
  QTableView* table() const { return table_; }

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void refresh();  // recompute now if shown, else when shown
  void summarize();
  bool stale_ = false;
  WinnersModel* model_;
  QSortFilterProxyModel* sorted_;
  QTableView* table_;
  QLabel* summary_;
};

}  // namespace attnbench::ui
