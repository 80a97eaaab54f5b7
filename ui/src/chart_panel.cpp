#include "chart_panel.h"

#include <set>

#include <QGridLayout>
#include <QtCharts/QChartView>

#include "ui_format.h"

namespace attnbench::ui {

QString chartContext(const RunRecord& run) {
  QStringList parts;
  parts << modelsSummary(run.spec);
  std::set<std::string> dtypes;
  for (DType d : run.spec.dtypes) dtypes.insert(std::string(kernels::dtypeName(d)));
  if (dtypes.size() == 1) parts << qs(*dtypes.begin());
  if (run.spec.causal.size() == 1) parts << (run.spec.causal.front() ? QStringLiteral("causal") : QStringLiteral("non-causal"));
  if (!run.device.name.empty()) parts << qs(run.device.name);
  return parts.join(QStringLiteral(" · "));
}

ChartPanel::ChartPanel(const RunData* run_data, QWidget* parent) : QWidget(parent), data_(run_data) {
  charts_ = new RunCharts(this);
  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setSpacing(4);
  for (ChartKind kind : kChartKinds) {
    auto* view = new QChartView(charts_->chart(kind));
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(360, 260);
    const auto i = static_cast<int>(kind);
    grid->addWidget(view, i / 2, i % 2);
    views_[static_cast<std::size_t>(kind)] = view;
  }
  connect(data_, &RunData::runReset, this, &ChartPanel::rebuild);
  connect(data_, &RunData::pointAdded, this,
          [this](int row) { charts_->addPoint(data_->points()[static_cast<std::size_t>(row)]); });
  connect(data_, &RunData::pointReplaced, this,
          [this](int row) { charts_->addPoint(data_->points()[static_cast<std::size_t>(row)]); });
  rebuild();
}

void ChartPanel::rebuild() {
  const RunRecord& run = data_->run();
  charts_->reset({ChartRun{run.spec, run.device, QStringLiteral("#%1").arg(run.id)}},
                 data_->hasRun() ? chartContext(run) : QString());
  charts_->addPoints(data_->points());
}

}  // namespace attnbench::ui
