// The live charts of the shown run, 2 x 2 (in tabs when the panel is too small for that), updated
// from RunData: the points of each of its refreshes are drawn in one batch, so a fast stream costs
// one redraw per refresh, not one per point.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <QWidget>

#include "run_charts.h"
#include "run_data.h"

QT_BEGIN_NAMESPACE
class QChartView;
QT_END_NAMESPACE
class QAction;
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
  // With `remember`, each chart's x axis and metric and the spread shown are kept in QSettings and
  // restored.
  explicit ChartPanel(const RunData* run_data, QWidget* parent = nullptr, bool remember = false);
  RunCharts* charts() const { return charts_; }
  QChartView* view(ChartKind kind) const { return views_[static_cast<std::size_t>(kind)]; }
  void setDark(bool dark) { charts_->setDark(dark); }
  // A chart's x axis and metric (from its context menu); the tab and the menu's checks follow.
  void setChoice(ChartKind kind, ChartChoice choice);
  // The spread drawn on every chart (from any chart's context menu).
  void setSpread(Spread spread);

  // Below two charts' minimum width or height the charts go into tabs, one chart each.
  bool tabbed() const { return tabbed_; }
  static constexpr QSize kMinChartSize{360, 260};

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void setTabbed(bool tabbed);
  void addChoiceMenus(ChartKind kind, QWidget* view);
  void syncMenus();
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
  bool remember_ = false;
  // The checkable entries of the charts' context menus, with what each stands for.
  struct ChoiceAction {
    ChartKind kind;
    QAction* action;
    std::optional<ChartX> x;
    std::optional<ChartMetric> metric;
    std::optional<Spread> spread;
  };
  std::vector<ChoiceAction> choice_actions_;
  std::array<std::array<QAction*, 2>, 4> log_actions_{};  // per chart: log x, log y
};

}  // namespace attnbench::ui
