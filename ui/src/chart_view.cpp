#include "chart_view.h"

#include <cmath>

#include <QContextMenuEvent>
#include <QGraphicsLineItem>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QKeyEvent>
#include <QMenu>
#include <QtCharts/QXYSeries>
#include <QMouseEvent>
#include <QWheelEvent>

namespace attnbench::ui {

ExplorableChartView::ExplorableChartView(QChart* chart, QWidget* parent) : QChartView(chart, parent) {
  setRubberBand(QChartView::RectangleRubberBand);
  setFocusPolicy(Qt::StrongFocus);  // arrow keys and Home after a click
  setToolTip(tr("Drag: zoom into a rectangle · wheel: zoom · middle button or Shift+drag: move · "
                "double-click or Home: reset"));
  setMouseTracking(true);
  viewport()->setMouseTracking(true);
  crosshair_line_ = new QGraphicsLineItem;
  crosshair_line_->setPen(QPen(QColor(128, 128, 128, 160), 1, Qt::DotLine));
  crosshair_box_ = new QGraphicsRectItem;
  crosshair_box_->setPen(QPen(QColor(160, 160, 160)));
  crosshair_label_ = new QGraphicsSimpleTextItem;
  for (QGraphicsItem* item : std::initializer_list<QGraphicsItem*>{crosshair_line_, crosshair_box_, crosshair_label_}) {
    item->setZValue(1000);  // above the series
    item->hide();
    scene()->addItem(item);
  }
}

void ExplorableChartView::hideCrosshair() {
  crosshair_x_.reset();
  crosshair_line_->hide();
  crosshair_box_->hide();
  crosshair_label_->hide();
}

QString ExplorableChartView::crosshairText() const { return crosshair_x_ ? crosshair_label_->text() : QString(); }

void ExplorableChartView::showCrosshair(QPointF at) {
  const QRectF plot = chart()->plotArea();
  const QPointF in_chart = chart()->mapFromScene(mapToScene(at.toPoint()));
  if (!plot.contains(in_chart)) {
    hideCrosshair();
    return;
  }
  // The data x whose position is nearest the pointer, over every visible curve's points.
  std::optional<double> best;
  double best_distance = 0;
  for (QAbstractSeries* s : chart()->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    if (xy == nullptr || !xy->isVisible()) continue;
    for (const QPointF& p : xy->points()) {
      const double distance = std::abs(chart()->mapToPosition(p, xy).x() - in_chart.x());
      if (!best || distance < best_distance) {
        best = p.x();
        best_distance = distance;
      }
    }
  }
  if (!best) {
    hideCrosshair();
    return;
  }
  QStringList lines{QStringLiteral("%1 = %2").arg(x_symbol_).arg(*best, 0, 'g', 6)};
  QXYSeries* anchor = nullptr;
  for (QAbstractSeries* s : chart()->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    if (xy == nullptr || !xy->isVisible() || xy->name().isEmpty()) continue;
    for (const QPointF& p : xy->points()) {
      if (p.x() != *best) continue;
      lines << QStringLiteral("%1: %2").arg(xy->name()).arg(p.y(), 0, 'g', 4);
      if (anchor == nullptr) anchor = xy;
      break;
    }
  }
  crosshair_x_ = best;
  const double x = chart()->mapToPosition(QPointF(*best, 1.0), anchor).x();
  crosshair_line_->setLine(QLineF(chart()->mapToScene(QPointF(x, plot.top())), chart()->mapToScene(QPointF(x, plot.bottom()))));
  crosshair_label_->setText(lines.join(QLatin1Char('\n')));
  crosshair_label_->setFont(chart()->legend()->font());
  // In the chart's theme (light or dark).
  crosshair_label_->setBrush(chart()->legend()->labelColor());
  // The themes paint the chart with a gradient, whose brush colour is black: take its first stop.
  const QBrush chart_brush = chart()->backgroundBrush();
  const QGradient* gradient = chart_brush.gradient();
  QColor background = gradient != nullptr && !gradient->stops().isEmpty() ? gradient->stops().constFirst().second : chart_brush.color();
  background.setAlpha(230);
  crosshair_box_->setBrush(background);
  // Beside the line, on the side with more room.
  const QRectF text = crosshair_label_->boundingRect();
  const double left = x + 8 + text.width() < plot.right() ? x + 8 : x - 8 - text.width();
  crosshair_label_->setPos(chart()->mapToScene(QPointF(left, plot.top() + 4)));
  crosshair_box_->setRect(QRectF(crosshair_label_->pos() - QPointF(3, 2), text.size() + QSizeF(6, 4)));
  for (QGraphicsItem* item : std::initializer_list<QGraphicsItem*>{crosshair_line_, crosshair_box_, crosshair_label_}) item->show();
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

void ExplorableChartView::leaveEvent(QEvent* event) {
  hideCrosshair();
  QChartView::leaveEvent(event);
}

void ExplorableChartView::mouseMoveEvent(QMouseEvent* event) {
  if (!panning_) {
    if (event->buttons() == Qt::NoButton) showCrosshair(event->position());
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
  // QChartView zooms out one step on a right click; here the right button opens the context menu.
  if (event->button() == Qt::RightButton) {
    event->accept();
    return;
  }
  QChartView::mouseReleaseEvent(event);
}

void ExplorableChartView::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  menu.addAction(tr("Reset zoom"), this, &ExplorableChartView::resetZoom);
  if (!actions().isEmpty()) menu.addSeparator();
  menu.addActions(actions());  // what the chart's owner adds (the axes' scales)
  menu.exec(event->globalPos());
  event->accept();
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
