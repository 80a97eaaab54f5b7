// The live charts of the shown run, 2 x 2 (in tabs when the panel is too small for that), updated
// from RunData: the points of each of its refreshes are drawn in one batch, so a fast stream costs
// one redraw per refresh, not one per point.
#pragma once

#include <array>
#include <vector>

#include <QWidget>

#include "run_charts.h"
#include "run_data.h"

QT_BEGIN_NAMESPACE
class QChartView;
QT_END_NAMESPACE
class QGridLayout;
class QLabel;
class QStackedWidget;
class QTabWidget;

namespace attnbench::ui {

// "Llama-2-7B · fp16 · NVIDIA H100": what the chart titles add to the chart's name.
QString chartContext(const RunRecord& run);

class ChartPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChartPanel(const RunData* run_data, QWidget* parent = nullptr);
  RunCharts* charts() const { return charts_; }
  QChartView* view(ChartKind kind) const { return views_[static_cast<std::size_t>(kind)]; }
  void setDark(bool dark) { charts_->setDark(dark); }

  // Below two charts' minimum width or height the charts go into tabs, one chart each.
  bool tabbed() const { return tabbed_; }
  static constexpr QSize kMinChartSize{360, 260};

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void setTabbed(bool tabbed);
  void rebuild();
  void draw(const QList<int>& rows);
  const RunData* data_;
  RunCharts* charts_;
  QLabel* context_;
  std::array<QChartView*, 4> views_{};
  QStackedWidget* pages_;  // the 2 x 2 grid, or the tabs
  QGridLayout* grid_;
  QTabWidget* tabs_;
  bool tabbed_ = false;
};

}  // namespace attnbench::ui
