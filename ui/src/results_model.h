// The points of the shown run as a table (one row per point, appended as points finish), and the
// widget that shows it sortable and filterable.
#pragma once

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QWidget>

#include "run_data.h"

class QComboBox;
class QLineEdit;
class QTableView;
class QLabel;

namespace attnbench::ui {

// Whether the points ran on several workers (--gpus): only then is the Device column shown; else every
// point ran on the run's device.
bool ranOnWorkers(const std::vector<PointResult>& points);

class ResultsModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { Index, Model, Batch, SeqLen, DTypeCol, Causal, Kernel, Tile, Device, Status, Median, Std, Tflops,
                Speedup, Peak, Predicted, MaxError, Correct, Message, ColumnCount };
  static constexpr int SortRole = Qt::UserRole + 1;  // numbers sort as numbers

  explicit ResultsModel(const RunData* run_data, QObject* parent = nullptr);
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  const RunData* data_;
  int rows_ = 0;
};

// Filters on free text over every column and on the point status.
class ResultsFilter : public QSortFilterProxyModel {
  Q_OBJECT
 public:
  using QSortFilterProxyModel::QSortFilterProxyModel;
  void setStatus(const QString& status);  // empty: any
  void setText(const QString& text);

 protected:
  bool filterAcceptsRow(int row, const QModelIndex& parent) const override;

 private:
  QString status_, text_;
};

class ResultsView : public QWidget {
  Q_OBJECT
 public:
  explicit ResultsView(const RunData* run_data, QWidget* parent = nullptr);
  ResultsModel* model() const { return model_; }
  ResultsFilter* filter() const { return filter_; }
  QTableView* table() const { return table_; }

 private:
  void updateCount();
  const RunData* run_data_;
  ResultsModel* model_;
  ResultsFilter* filter_;
  QTableView* table_;
  QLineEdit* text_;
  QComboBox* status_;
  QLabel* count_;
};

}  // namespace attnbench::ui
