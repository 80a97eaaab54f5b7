// Exploring a chart: the wheel zooms around the pointer (the axes' ranges shrink), the middle
// button drags the plot (both ends of the axis move the same way), a double-click resets.
#include <memory>

#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QMouseEvent>
#include <QTest>
#include <QWheelEvent>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QValueAxis>
#include <QtCharts/QXYSeries>

#include "chart_panel.h"
#include "chart_view.h"
#include "run_charts.h"
#include "run_data.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

struct AxisRange {
  double lo = 0, hi = 0;
  bool operator==(const AxisRange&) const = default;
};

AxisRange rangeOf(QChart* chart, Qt::Orientation orientation) {
  QAbstractAxis* axis = chart->axes(orientation).constFirst();
  if (auto* log = qobject_cast<QLogValueAxis*>(axis)) return {log->min(), log->max()};
  auto* value = qobject_cast<QValueAxis*>(axis);
  return value != nullptr ? AxisRange{value->min(), value->max()} : AxisRange{};
}

void send(QWidget* target, QEvent* event) { QApplication::sendEvent(target, event); }

// The fixture run's charts on screen; each test explores the latency chart.
class ChartExplore : public ::testing::Test {
 protected:
  void SetUp() override {
    test::ensureApp();
    panel_ = std::make_unique<ChartPanel>(&data_);
    data_.reset(test::fixtureRun(), test::fixturePoints());
    panel_->resize(1400, 1000);
    panel_->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(panel_.get()));
    view = qobject_cast<ExplorableChartView*>(panel_->view(ChartKind::Latency));
    charts = panel_->charts();
    ASSERT_NE(view, nullptr);
    chart = view->chart();
  }
  ExplorableChartView* view = nullptr;
  QChart* chart = nullptr;
  RunCharts* charts = nullptr;
  ChartPanel* panel() const { return panel_.get(); }

 private:
  RunData data_;
  std::unique_ptr<ChartPanel> panel_;
};

TEST_F(ChartExplore, WheelZoomsDragPansDoubleClickResets) {
  const AxisRange x0 = rangeOf(chart, Qt::Horizontal), y0 = rangeOf(chart, Qt::Vertical);
  ASSERT_LT(x0.lo, x0.hi);

  // Two notches in over the plot's centre: the log x axis spans a smaller ratio.
  const QPointF centre = view->mapFromScene(chart->mapToScene(chart->plotArea().center()));
  QWheelEvent wheel(centre, view->viewport()->mapToGlobal(centre), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  send(view->viewport(), &wheel);
  const AxisRange x1 = rangeOf(chart, Qt::Horizontal), y1 = rangeOf(chart, Qt::Vertical);
  EXPECT_NEAR(std::log(x1.hi / x1.lo), std::log(x0.hi / x0.lo) / (ExplorableChartView::kWheelStep * ExplorableChartView::kWheelStep), 1e-6);
  EXPECT_LT(y1.hi / y1.lo, y0.hi / y0.lo);
  EXPECT_GT(x1.lo, x0.lo);
  EXPECT_LT(x1.hi, x0.hi);

  // Drag the plot 60 px to the right with the middle button: the axis shows smaller x.
  const QPoint from = centre.toPoint(), to = from + QPoint(60, 0);
  QMouseEvent press(QEvent::MouseButtonPress, from, view->viewport()->mapToGlobal(from), Qt::MiddleButton, Qt::MiddleButton, Qt::NoModifier);
  QMouseEvent move(QEvent::MouseMove, to, view->viewport()->mapToGlobal(to), Qt::NoButton, Qt::MiddleButton, Qt::NoModifier);
  QMouseEvent release(QEvent::MouseButtonRelease, to, view->viewport()->mapToGlobal(to), Qt::MiddleButton, Qt::NoButton, Qt::NoModifier);
  send(view->viewport(), &press);
  send(view->viewport(), &move);
  send(view->viewport(), &release);
  const AxisRange x2 = rangeOf(chart, Qt::Horizontal);
  EXPECT_LT(x2.lo, x1.lo);
  EXPECT_LT(x2.hi, x1.hi);
  EXPECT_NEAR(x2.hi / x2.lo, x1.hi / x1.lo, 1e-6 * x1.hi / x1.lo);  // moved, not zoomed

  QMouseEvent twice(QEvent::MouseButtonDblClick, from, view->viewport()->mapToGlobal(from), Qt::LeftButton, Qt::LeftButton, Qt::NoModifier);
  send(view->viewport(), &twice);
  const AxisRange x3 = rangeOf(chart, Qt::Horizontal);
  EXPECT_NEAR(x3.lo, x0.lo, 1e-6 * x0.lo);
  EXPECT_NEAR(x3.hi, x0.hi, 1e-6 * x0.hi);
}

// The crosshair snaps to the nearest sequence length with points and lists each curve's value there.
TEST_F(ChartExplore, CrosshairSnapsAndListsEveryCurve) {
  QXYSeries* some = nullptr;
  QPointF point;
  for (QAbstractSeries* s : chart->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    for (const QPointF& p : xy != nullptr ? xy->points() : QList<QPointF>()) {
      if (p.x() == 256.0) {
        some = xy;
        point = p;
      }
    }
  }
  ASSERT_NE(some, nullptr);
  // A few pixels right of N=256: the crosshair sits on 256.
  const QPointF at_256 = chart->mapToPosition(point, some) + QPointF(6, 0);
  view->showCrosshair(view->mapFromScene(chart->mapToScene(at_256)));
  ASSERT_TRUE(view->crosshairX().has_value());
  EXPECT_EQ(*view->crosshairX(), 256.0);
  const QString text = view->crosshairText();
  EXPECT_TRUE(text.startsWith(QLatin1String("N = 256"))) << text.toStdString();
  // Every curve with a point at 256 (B=1 and B=2, flash and standard in the fixture) has a line.
  int with_point = 0;
  for (QAbstractSeries* s : chart->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    if (xy == nullptr || !xy->isVisible() || xy->name().isEmpty()) continue;
    for (const QPointF& p : xy->points()) with_point += p.x() == 256.0 ? 1 : 0;
  }
  EXPECT_EQ(text.count(QLatin1Char('\n')), with_point);
  // Readable: the label's box in the chart's light background, not black behind the dark text.
  for (QGraphicsItem* item : view->scene()->items()) {
    if (auto* box = dynamic_cast<QGraphicsRectItem*>(item); box != nullptr && box->isVisible() && box->zValue() >= 1000) {
      EXPECT_GT(box->brush().color().lightnessF(), 0.8f);
    }
  }
  EXPECT_GE(with_point, 4);
  if (const QByteArray shots = qgetenv("ATTNBENCH_UI_SHOTS"); !shots.isEmpty()) {
    view->grab().save(QString::fromLocal8Bit(shots) + QStringLiteral("/chart-crosshair.png"));
  }
  view->showCrosshair(QPointF(1, 1));  // outside the plot
  EXPECT_FALSE(view->crosshairX().has_value());
}

// The latency chart's context-menu actions switch its axes between log and linear: the curves stay
// attached with their points, and the new axis spans them.
TEST_F(ChartExplore, AxesSwitchBetweenLogAndLinear) {
  const QList<QAction*> actions = view->actions();  // log x, log y, then the x axis, metric and spread menus
  ASSERT_GE(actions.size(), 2);
  QAction* log_x = actions[0];
  QAction* log_y = actions[1];
  EXPECT_TRUE(log_x->isChecked());
  EXPECT_TRUE(log_y->isChecked());
  QXYSeries* curve = nullptr;
  for (QAbstractSeries* s : chart->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    if (xy != nullptr && xy->count() == 3 && xy->name() == QLatin1String("flash B=1")) curve = xy;
  }
  ASSERT_NE(curve, nullptr);
  const QList<QPointF> points = curve->points();
  double y_lo = points[0].y(), y_hi = points[0].y();
  for (const QPointF& p : points) {
    y_lo = std::min(y_lo, p.y());
    y_hi = std::max(y_hi, p.y());
  }

  log_y->setChecked(false);
  EXPECT_FALSE(charts->logScale(ChartKind::Latency, Qt::Vertical));
  auto* linear_y = qobject_cast<QValueAxis*>(chart->axes(Qt::Vertical).constFirst());
  ASSERT_NE(linear_y, nullptr);
  EXPECT_EQ(chart->axes(Qt::Vertical).size(), 1);
  EXPECT_TRUE(curve->attachedAxes().contains(linear_y));
  EXPECT_EQ(curve->points(), points);
  EXPECT_EQ(linear_y->min(), 0.0);
  EXPECT_GE(linear_y->max(), y_hi);
  EXPECT_EQ(linear_y->titleText(), QStringLiteral("Median latency (ms)"));

  log_x->setChecked(false);
  auto* linear_x = qobject_cast<QValueAxis*>(chart->axes(Qt::Horizontal).constFirst());
  ASSERT_NE(linear_x, nullptr);
  EXPECT_TRUE(curve->attachedAxes().contains(linear_x));
  EXPECT_GE(linear_x->max(), 512.0);
  // Another chart keeps its own scales.
  EXPECT_TRUE(charts->logScale(ChartKind::Memory, Qt::Horizontal));

  log_y->setChecked(true);
  log_x->setChecked(true);
  auto* log_axis = qobject_cast<QLogValueAxis*>(chart->axes(Qt::Vertical).constFirst());
  ASSERT_NE(log_axis, nullptr);
  EXPECT_TRUE(curve->attachedAxes().contains(log_axis));
  EXPECT_LE(log_axis->min(), y_lo);
  EXPECT_GE(log_axis->max(), y_hi);
  EXPECT_NE(qobject_cast<QLogValueAxis*>(chart->axes(Qt::Horizontal).constFirst()), nullptr);
}

// Over another x axis (chosen from the context menu), the crosshair names that axis and snaps to
// its values.
TEST_F(ChartExplore, CrosshairFollowsTheChosenXAxis) {
  panel()->setChoice(ChartKind::Latency, {ChartX::Batch, ChartMetric::Latency});
  QCoreApplication::processEvents();
  QXYSeries* curve = nullptr;
  for (QAbstractSeries* s : chart->series()) {
    if (s->name() == QLatin1String("flash N=256")) curve = qobject_cast<QXYSeries*>(s);
  }
  ASSERT_NE(curve, nullptr);
  ASSERT_EQ(curve->count(), 2);
  const QPointF at = chart->mapToPosition(curve->at(1), curve) + QPointF(3, 0);
  view->showCrosshair(view->mapFromScene(chart->mapToScene(at)));
  ASSERT_TRUE(view->crosshairX().has_value());
  EXPECT_EQ(*view->crosshairX(), 2.0);  // batch 2
  EXPECT_TRUE(view->crosshairText().startsWith(QLatin1String("B = 2\n"))) << view->crosshairText().toStdString();
}

}  // namespace
}  // namespace attnbench::ui
