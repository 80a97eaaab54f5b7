#include "chart_view.h"

#include <cmath>

#include <QKeyEvent>
#include <QMouseEvent>
#include <QWheelEvent>

namespace attnbench::ui {

ExplorableChartView::ExplorableChartView(QChart* chart, QWidget* parent) : QChartView(chart, parent) {
  setRubberBand(QChartView::RectangleRubberBand);
  setFocusPolicy(Qt::StrongFocus);  // arrow keys and Home after a click
  setToolTip(tr("Drag: zoom into a rectangle · wheel: zoom · middle button or Shift+drag: move · "
                "double-click or Home: reset"));
}

void ExplorableChartView::zoomAround(QPointF at, double factor) {
  // QChart::zoomIn(rect) works in pixels, so log axes zoom evenly too.
  const QPointF anchor = mapToScene(at.toPoint());
  const QRectF plot = chart()->plotArea();
  const QPointF in_chart = chart()->mapFromScene(anchor);
  const QRectF zoomed(in_chart.x() - (in_chart.x() - plot.left()) / factor, in_chart.y() - (in_chart.y() - plot.top()) / factor,
                      plot.width() / factor, plot.height() / factor);
  chart()->zoomIn(zoomed);
}

void ExplorableChartView::resetZoom() { chart()->zoomReset(); }

void ExplorableChartView::wheelEvent(QWheelEvent* event) {
  const double notches = event->angleDelta().y() / 120.0;
  if (notches == 0) {
    event->ignore();
    return;
  }
  zoomAround(event->position(), std::pow(kWheelStep, notches));
  event->accept();
}

void ExplorableChartView::mousePressEvent(QMouseEvent* event) {
  const bool pan = event->button() == Qt::MiddleButton ||
                   (event->button() == Qt::LeftButton && (event->modifiers() & Qt::ShiftModifier));
  if (pan) {
    panning_ = true;
    last_ = event->position().toPoint();
    setCursor(Qt::ClosedHandCursor);
    event->accept();
    return;
  }
  QChartView::mousePressEvent(event);
}

void ExplorableChartView::mouseMoveEvent(QMouseEvent* event) {
  if (!panning_) {
    QChartView::mouseMoveEvent(event);
    return;
  }
  const QPoint delta = event->position().toPoint() - last_;
  last_ = event->position().toPoint();
  chart()->scroll(-delta.x(), delta.y());
  event->accept();
}

void ExplorableChartView::mouseReleaseEvent(QMouseEvent* event) {
  if (panning_) {
    panning_ = false;
    unsetCursor();
    event->accept();
    return;
  }
  // QChartView zooms out one step on a right click; here the right button resets instead.
  if (event->button() == Qt::RightButton) {
    resetZoom();
    event->accept();
    return;
  }
  QChartView::mouseReleaseEvent(event);
}

void ExplorableChartView::mouseDoubleClickEvent(QMouseEvent* event) {
  resetZoom();
  event->accept();
}

void ExplorableChartView::keyPressEvent(QKeyEvent* event) {
  switch (event->key()) {
    case Qt::Key_Home: resetZoom(); break;
    case Qt::Key_Left: chart()->scroll(-kKeyStepPx, 0); break;
    case Qt::Key_Right: chart()->scroll(kKeyStepPx, 0); break;
    case Qt::Key_Up: chart()->scroll(0, kKeyStepPx); break;
    case Qt::Key_Down: chart()->scroll(0, -kKeyStepPx); break;
    case Qt::Key_Plus: zoomAround(QPointF(viewport()->rect().center()), kWheelStep); break;
    case Qt::Key_Minus: zoomAround(QPointF(viewport()->rect().center()), 1.0 / kWheelStep); break;
    default: QChartView::keyPressEvent(event); return;
  }
  event->accept();
}

}  // namespace attnbench::ui
