// The roofline of the shown run (issue #9, section 5): each point that ran at its arithmetic
// intensity (FLOPs over compulsory bytes, log x) and achieved TFLOP/s (log y), one marker series per
// kernel family present, under the two roofs of the device the run was recorded on: its measured
// copy bandwidth (the slanted roof) and its measured GEMM ceiling (the flat one). Redrawn from
// RunData on each of its refreshes while shown (hidden, once when shown again); hovering a marker
// names its point.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <QHash>
#include <QWidget>

#include "run_data.h"

QT_BEGIN_NAMESPACE
class QChart;
class QChartView;
class QLineSeries;
class QLogValueAxis;
class QScatterSeries;
QT_END_NAMESPACE
class QLabel;

namespace attnbench::ui {

class RooflineView : public QWidget {
  Q_OBJECT
 public:
  explicit RooflineView(const RunData* run_data, QWidget* parent = nullptr);

  QChart* chart() const { return chart_; }
  QChartView* view() const { return view_; }
  // The markers of one kernel family ("flash", "standard", ...); null when none ran.
  QScatterSeries* kernelSeries(const std::string& kernel) const;
  // The roof: min(copy bandwidth x intensity, GEMM ceiling); null without measured ceilings.
  QLineSeries* roof() const { return roof_; }
  // The tooltip of marker `index` of `series` (what hovering it shows).
  QString tipOf(const QScatterSeries* series, int index) const;
  void setDark(bool dark);

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void refresh();  // rebuild now if shown, else when shown
  void rebuild();
  void fitAxes();
  void onHover(QScatterSeries* series, QPointF at, bool state);

  const RunData* data_;
  QChart* chart_;
  QChartView* view_;
  QLabel* note_;
  QLogValueAxis* x_axis_;
  QLogValueAxis* y_axis_;
  QLineSeries* roof_ = nullptr;
  std::map<std::string, QScatterSeries*> series_;
  QHash<const QScatterSeries*, std::vector<QString>> tips_;  // per series, per marker
  bool stale_ = false;  // points changed while hidden
};

}  // namespace attnbench::ui
