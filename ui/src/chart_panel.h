// The live charts of the shown run, 2 x 2 (in tabs when the panel is too small for that), updated
// from RunData. Live points are drawn in batches
// at most every kRefreshMs (10 a second), so a fast stream costs one redraw per batch, not one per point.
#pragma once

#include <array>
#include <vector>

#include <QTimer>
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
  // Draws the points that arrived since the last refresh now, all of them.
  void flushAll();

  // Below two charts' minimum width or height the charts go into tabs, one chart each.
  bool tabbed() const { return tabbed_; }
  static constexpr QSize kMinChartSize{360, 260};

  static constexpr int kRefreshMs = 100;
  static constexpr int kSliceMs = 8;

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void setTabbed(bool tabbed);
  void rebuild();
  void queue(int row);
  void flush();  // up to kSliceMs of the queued points
  void draw(int budget_ms);  // the queued points, for up to budget_ms (all when negative)
  const RunData* data_;
  std::vector<int> pending_rows_;
  QTimer refresh_;
  RunCharts* charts_;
  QLabel* context_;
  std::array<QChartView*, 4> views_{};
  QStackedWidget* pages_;  // the 2 x 2 grid, or the tabs
  QGridLayout* grid_;
  QTabWidget* tabs_;
  bool tabbed_ = false;
};

}  // namespace attnbench::ui
