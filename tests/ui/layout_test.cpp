// Windows of any size from 1024x700 up: nothing clipped. Below the room for a 2 x 2 grid the
// charts go into tabs; every chart keeps its plot, axis titles and legend readable. With
// ATTNBENCH_UI_SHOTS set to a folder, the window is saved there at both sizes (docs/screenshots).
#include <gtest/gtest.h>

#include <QAbstractSpinBox>
#include <QDockWidget>
#include <QHeaderView>
#include <QtCharts/QLegendMarker>
#include <QLabel>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QtCharts/QAbstractAxis>
#include <QtCharts/QChart>
#include <QtCharts/QChartView>
#include <QtCharts/QLegend>

#include "chart_panel.h"
#include "run_charts.h"
#include "main_window.h"
#include "run_data.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

// Whether `w` is content that scrolls (inside a scroll area) or a part that Qt lays out itself.
bool scrollsOrInternal(const QWidget* w, const QWidget* window) {
  if (w->objectName().startsWith(QLatin1String("qt_")) || qobject_cast<const QHeaderView*>(w) != nullptr) return true;
  for (const QWidget* p = w->parentWidget(); p != nullptr && p != window; p = p->parentWidget()) {
    if (qobject_cast<const QAbstractScrollArea*>(p) != nullptr || qobject_cast<const QAbstractSpinBox*>(p) != nullptr) return true;
  }
  return false;
}

// Every visible widget of `window` that lies (partly) outside it or is smaller than its minimum;
// what scrolls inside a scroll area is left out (the scroll area itself is checked).
QStringList clippedWidgets(QWidget& window) {
  QStringList clipped;
  const QRect frame = window.rect();
  for (QWidget* w : window.findChildren<QWidget*>()) {
    if (!w->isVisible() || w->isWindow() || scrollsOrInternal(w, &window)) continue;
    const QRect in_window(w->mapTo(&window, QPoint(0, 0)), w->size());
    const QSize least = w->minimumSizeHint().expandedTo(w->minimumSize());
    const bool outside = !frame.contains(in_window);
    const bool squeezed = least.isValid() && (w->width() < least.width() || w->height() < least.height());
    if (outside || squeezed) {
      clipped << QStringLiteral("%1 %2 at %3,%4 %5x%6 (min %7x%8)")
                     .arg(QString::fromLatin1(w->metaObject()->className()), w->objectName())
                     .arg(in_window.x()).arg(in_window.y()).arg(w->width()).arg(w->height())
                     .arg(least.width()).arg(least.height());
    }
  }
  return clipped;
}

void expectReadableChart(QChartView* view, const QString& where) {
  QChart* chart = view->chart();
  const QRectF plot = chart->plotArea();
  EXPECT_GE(plot.width(), 150) << where.toStdString();
  EXPECT_GE(plot.height(), 100) << where.toStdString();
  // Legend labels fit: in one row below the plot, or each within the column beside it.
  const QFontMetricsF legend_metrics(chart->legend()->font());
  double row = 0, widest = 0;
  for (QLegendMarker* marker : chart->legend()->markers()) {
    if (!marker->isVisible()) continue;
    const double w = legend_metrics.horizontalAdvance(marker->label()) + RunCharts::kLegendEntryExtraPx;
    row += w;
    widest = std::max(widest, w);
  }
  if (chart->legend()->alignment() == Qt::AlignBottom) {
    EXPECT_LE(row, chart->size().width()) << where.toStdString() << ": legend row elided";
  } else {
    EXPECT_LE(widest, chart->legend()->geometry().width() + 8) << where.toStdString() << ": legend column elided";
  }
  for (QAbstractAxis* axis : chart->axes()) {
    const QFontMetricsF metrics(axis->titleFont());
    const double room = axis->orientation() == Qt::Horizontal ? plot.width() : plot.height();
    EXPECT_LE(metrics.horizontalAdvance(axis->titleText()), room) << where.toStdString() << ": axis title elided: "
                                                                  << axis->titleText().toStdString();
  }
}

class Layout : public ::testing::TestWithParam<QSize> {};

TEST_P(Layout, NothingClippedAndChartsReadable) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("l.db"));
  const auto run_id = test::createFixtureDb(db, QStringLiteral("cpu_eta.jsonl"));  // 48 points, 12 curves a chart
  MainWindow window(test::quietOptions(db));
  window.resize(GetParam());
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  ASSERT_TRUE(window.openRun(run_id));
  test::waitFor([] { return false; }, 200);
  EXPECT_EQ(window.size(), GetParam()) << "the window cannot be that small";

  const QString size = QStringLiteral("%1x%2").arg(GetParam().width()).arg(GetParam().height());
  EXPECT_EQ(clippedWidgets(window).join(QLatin1Char('\n')).toStdString(), "") << size.toStdString();
  ChartPanel* panel = window.chartPanel();
  // The grid at full size; tabs when it would not fit (their pages are checked one by one).
  if (GetParam() == QSize(1600, 1000)) {
    EXPECT_FALSE(panel->tabbed());
  } else if (GetParam() == QSize(1024, 700)) {
    EXPECT_TRUE(panel->tabbed());
  }
  for (ChartKind kind : kChartKinds) {
    QChartView* view = panel->view(kind);
    if (panel->tabbed()) {
      auto* tabs = qobject_cast<QTabWidget*>(view->parentWidget()->parentWidget());
      ASSERT_NE(tabs, nullptr);
      tabs->setCurrentWidget(view);
      QCoreApplication::processEvents();
    }
    EXPECT_TRUE(view->isVisible());
    expectReadableChart(view, size + QLatin1Char(' ') + chartStem(kind));
  }
  if (const QByteArray shots = qgetenv("ATTNBENCH_UI_SHOTS"); !shots.isEmpty()) {
    if (panel->tabbed()) {
      qobject_cast<QTabWidget*>(panel->view(ChartKind::Latency)->parentWidget()->parentWidget())->setCurrentIndex(0);
    }
    QCoreApplication::processEvents();
    window.grab().save(QString::fromLocal8Bit(shots) + QStringLiteral("/window-%1.png").arg(size));
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, Layout, ::testing::Values(QSize(1024, 700), QSize(1280, 800), QSize(1600, 1000)));

}  // namespace
}  // namespace attnbench::ui
