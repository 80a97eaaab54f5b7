// Runs chosen in the history overlaid on the same charts, and core's comparison of them (compareRuns,
// the rules `attnbench compare` prints): one row per problem and kernel with each run's median, its
// ratio to the baseline run and the spread-aware verdict, and per run and kernel family the
// geometric mean of the ratios. Any number of runs; the baseline is chosen among them.
#pragma once

#include <cstddef>
#include <vector>

#include <QWidget>

#include "attnbench/comparison.h"

QT_BEGIN_NAMESPACE
class QChartView;
QT_END_NAMESPACE
class QComboBox;
class QLabel;
class QTableWidget;

namespace attnbench::ui {

class RunCharts;

class CompareView : public QWidget {
  Q_OBJECT
 public:
  // The columns of the ratio table before the runs' own: the row's problem and kernel.
  enum Column { Model, Batch, SeqLen, DTypeCol, Causal, Kernel, FirstRunColumn };
  // Per run after those: its median, then (except for the baseline) its ratio and verdict.
  static constexpr int kBaselineColumns = 1, kComparedColumns = 3;
  enum SummaryColumn { SummaryRun, SummaryKernel, SummaryGeomean, SummaryPoints, SummaryFaster, SummarySlower, SummaryColumnCount };
  // The ratio items carry the unrounded ratio (and the medians their ms) under this role.
  static constexpr int ValueRole = Qt::UserRole;
  // Rows of the geometric-mean table shown without scrolling.
  static constexpr int kSummaryRowsShown = 6;

  explicit CompareView(QWidget* parent = nullptr);
  // Overlays `runs` (in this order on the charts) and compares them against runs[baseline].
  void setRuns(std::vector<RunPoints> runs, std::size_t baseline = 0);
  // Compares against runs()[index] instead (also the baseline box's choice).
  void setBaseline(std::size_t index);
  void setDark(bool dark);

  const std::vector<RunPoints>& runs() const { return runs_; }
  std::size_t baseline() const { return baseline_; }
  // The runs as compareRuns was given them: the baseline first, then the others as in runs().
  const std::vector<RunPoints>& compared() const { return compared_; }
  // What the tables show (its points point into compared()).
  const Comparison& comparison() const { return comparison_; }

  QTableWidget* ratioTable() const { return table_; }
  QTableWidget* summaryTable() const { return summary_; }
  QComboBox* baselineBox() const { return baseline_box_; }
  RunCharts* charts() const { return charts_; }

 private:
  void showComparison();

  RunCharts* charts_;
  QChartView* view_;
  QComboBox* chart_kind_;
  QComboBox* baseline_box_;
  QLabel* header_;
  QLabel* legend_;
  QTableWidget* table_;
  QTableWidget* summary_;
  std::vector<RunPoints> runs_;
  std::size_t baseline_ = 0;
  std::vector<RunPoints> compared_;
  Comparison comparison_;
};

}  // namespace attnbench::ui
