// Two runs overlaid on the same charts, and a table of the ratio B/A of their median times for the
// points they share (matched by model, shape, dtype, masking, kernel and tile), like asv compare.
#pragma once

#include <vector>

#include <QWidget>

#include "attnbench/results.h"
#include "attnbench/store.h"

QT_BEGIN_NAMESPACE
class QChartView;
QT_END_NAMESPACE
class QComboBox;
class QLabel;
class QTableWidget;

namespace attnbench::ui {

class RunCharts;

struct ComparedPoint {
  QString shape;   // "llama-2-7b B=1 N=2048 fp16"
  QString kernel;  // "flash 64x64" / "standard"
  const PointResult* a = nullptr;
  const PointResult* b = nullptr;
  double ratio() const;  // B median / A median; 0 unless both ran
};
// Points of A and B matched by shape and kernel, in A's order, then B's points that A lacks.
std::vector<ComparedPoint> matchPoints(const std::vector<PointResult>& a, const std::vector<PointResult>& b);

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);
  void setRuns(const RunRecord& a, std::vector<PointResult> pa, const RunRecord& b, std::vector<PointResult> pb);
  void setDark(bool dark);
  QTableWidget* ratioTable() const { return table_; }
  RunCharts* charts() const { return charts_; }

  // A change beyond this fraction is marked faster/slower.
  static constexpr double kNoiseFraction = 0.05;

 private:
  RunCharts* charts_;
  QChartView* view_;
  QComboBox* chart_kind_;
  QLabel* header_;
  QLabel* summary_;
  QTableWidget* table_;
  std::vector<PointResult> a_points_, b_points_;
};

}  // namespace attnbench::ui
