#include "chart_panel.h"

#include <set>

#include <QElapsedTimer>
#include <QGridLayout>
#include <QLabel>
#include <QVBoxLayout>
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
  // What the charts show, once above them (exported charts carry it in their titles instead).
  context_ = new QLabel;
  context_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  QFont bold = context_->font();
  bold.setBold(true);
  context_->setFont(bold);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  layout->addWidget(context_);
  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  layout->addLayout(grid, 1);
  for (ChartKind kind : kChartKinds) {
    auto* view = new QChartView(charts_->chart(kind));
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(360, 260);
    const auto i = static_cast<int>(kind);
    grid->addWidget(view, i / 2, i % 2);
    views_[static_cast<std::size_t>(kind)] = view;
  }
  refresh_.setSingleShot(true);
  connect(&refresh_, &QTimer::timeout, this, &ChartPanel::flush);
  connect(data_, &RunData::runReset, this, &ChartPanel::rebuild);
  connect(data_, &RunData::pointAdded, this, &ChartPanel::queue);
  connect(data_, &RunData::pointReplaced, this, &ChartPanel::queue);
  rebuild();
}

void ChartPanel::queue(int row) {
  pending_rows_.push_back(row);
  if (!refresh_.isActive()) refresh_.start(kRefreshMs);
}

void ChartPanel::flush() { draw(kSliceMs); }

void ChartPanel::flushAll() { draw(-1); }

void ChartPanel::draw(int budget_ms) {
  refresh_.stop();
  if (pending_rows_.empty()) return;
  // A long backlog goes in slices of budget_ms, each painted before the next one is added.
  QElapsedTimer slice;
  slice.start();
  std::size_t done = 0;
  charts_->beginBatch();
  while (done < pending_rows_.size() && (budget_ms < 0 || slice.elapsed() < budget_ms)) {
    charts_->addPoint(data_->points()[static_cast<std::size_t>(pending_rows_[done++])]);
  }
  charts_->endBatch();
  pending_rows_.erase(pending_rows_.begin(), pending_rows_.begin() + static_cast<std::ptrdiff_t>(done));
  if (!pending_rows_.empty()) refresh_.start(0);
}

void ChartPanel::rebuild() {
  refresh_.stop();
  pending_rows_.clear();
  const RunRecord& run = data_->run();
  charts_->reset({ChartRun{run.spec, run.device, QStringLiteral("#%1").arg(run.id)}}, QString());
  context_->setText(data_->hasRun() ? QStringLiteral("Run #%1 %2 — %3").arg(run.id).arg(qs(run.name), chartContext(run))
                                    : tr("No run: start a sweep, or open one from the run history."));
  charts_->addPoints(data_->points());
}

}  // namespace attnbench::ui
