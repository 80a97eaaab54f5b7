// The live charts of the shown run, 2 x 2, updated point by point from RunData.
#pragma once

#include <array>

#include <QWidget>

#include "run_charts.h"
#include "run_data.h"

QT_BEGIN_NAMESPACE
class QChartView;
QT_END_NAMESPACE

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

 private:
  void rebuild();
  const RunData* data_;
  RunCharts* charts_;
  std::array<QChartView*, 4> views_{};
};

}  // namespace attnbench::ui
