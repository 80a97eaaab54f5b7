// A chart view to explore with: drag a rectangle to zoom into it, the wheel zooms in and out around
// the pointer, the middle button (or Shift with the left) drags the plot, the arrow keys move it,
// and a double-click, Home or the right button's "reset" puts the axes back.
#pragma once

#include <QPoint>
#include <QtCharts/QChartView>

namespace attnbench::ui {

class ExplorableChartView : public QChartView {
  Q_OBJECT
 public:
  explicit ExplorableChartView(QChart* chart, QWidget* parent = nullptr);
  // Zooms by `factor` (> 1 in) keeping the chart point under `at` (view coordinates) in place.
  void zoomAround(QPointF at, double factor);
  void resetZoom();

  static constexpr double kWheelStep = 1.25;  // zoom per wheel notch
  static constexpr int kKeyStepPx = 40;       // pan per arrow key

 protected:
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;

 private:
  bool panning_ = false;
  QPoint last_;
};

}  // namespace attnbench::ui
