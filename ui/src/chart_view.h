// A chart view to explore with: drag a rectangle to zoom into it, the wheel zooms in and out around
// the pointer, the middle button (or Shift with the left) drags the plot, the arrow keys move it,
// and a double-click, Home or the right button's "reset" puts the axes back. A crosshair follows
// the pointer, snapped to the nearest sequence length with a point, and lists every curve's value
// there.
#pragma once

#include <optional>

#include <QPoint>
#include <QString>
#include <QtCharts/QChartView>

class QGraphicsLineItem;
class QGraphicsRectItem;
class QGraphicsSimpleTextItem;

namespace attnbench::ui {

class ExplorableChartView : public QChartView {
  Q_OBJECT
 public:
  explicit ExplorableChartView(QChart* chart, QWidget* parent = nullptr);
  // Zooms by `factor` (> 1 in) keeping the chart point under `at` (view coordinates) in place.
  void zoomAround(QPointF at, double factor);
  void resetZoom();
  // Moves the crosshair to the data x nearest to `at` (view coordinates); hides it when the pointer
  // is outside the plot or no curve has a point.
  void showCrosshair(QPointF at);
  void hideCrosshair();
  std::optional<double> crosshairX() const { return crosshair_x_; }
  QString crosshairText() const;  // "N = 512" and a line per curve with a point there
  // What the x axis is called in the crosshair's first line ("N", "B", "D").
  void setXSymbol(const QString& symbol) { x_symbol_ = symbol; }

  static constexpr double kWheelStep = 1.25;  // zoom per wheel notch
  static constexpr int kKeyStepPx = 40;       // pan per arrow key

 protected:
  // Reset zoom, then the actions added to the view (QWidget::addAction).
  void contextMenuEvent(QContextMenuEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  bool panning_ = false;
  QPoint last_;
  std::optional<double> crosshair_x_;
  QString x_symbol_ = QStringLiteral("N");
  QGraphicsLineItem* crosshair_line_ = nullptr;
  QGraphicsSimpleTextItem* crosshair_label_ = nullptr;
  QGraphicsRectItem* crosshair_box_ = nullptr;
};

}  // namespace attnbench::ui
