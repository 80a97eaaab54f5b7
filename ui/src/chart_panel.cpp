#include "chart_panel.h"

#include <set>

#include <QAction>
#include <QGridLayout>
#include <QLabel>
#include <QResizeEvent>
#include <QStackedWidget>
#include <QTabBar>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtCharts/QChartView>

#include "chart_view.h"
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
  auto* grid_page = new QWidget;
  grid_ = new QGridLayout(grid_page);
  grid_->setContentsMargins(0, 0, 0, 0);
  grid_->setSpacing(4);
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  pages_ = new QStackedWidget;
  pages_->addWidget(grid_page);
  pages_->addWidget(tabs_);
  // The panel's own minimum is one chart's: smaller windows than the grid needs get the tabs.
  pages_->setMinimumSize(kMinChartSize + QSize(0, tabs_->tabBar()->sizeHint().height()));
  layout->addWidget(pages_, 1);
  for (ChartKind kind : kChartKinds) {
    auto* view = new ExplorableChartView(charts_->chart(kind));
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(kMinChartSize);
    // Log or linear, per axis of each chart, from the chart's context menu.
    for (Qt::Orientation orientation : {Qt::Horizontal, Qt::Vertical}) {
      auto* log = new QAction(orientation == Qt::Horizontal ? tr("Logarithmic x axis") : tr("Logarithmic y axis"), view);
      log->setCheckable(true);
      log->setChecked(charts_->logScale(kind, orientation));
      connect(log, &QAction::toggled, this, [this, kind, orientation](bool on) { charts_->setLogScale(kind, orientation, on); });
      view->addAction(log);
    }
    views_[static_cast<std::size_t>(kind)] = view;
  }
  tabbed_ = true;  // so that setTabbed(false) lays the grid out
  setTabbed(false);
  connect(data_, &RunData::runReset, this, &ChartPanel::rebuild);
  connect(data_, &RunData::pointsUpdated, this, &ChartPanel::draw);
  rebuild();
}

void ChartPanel::setTabbed(bool tabbed) {
  if (tabbed == tabbed_) return;
  tabbed_ = tabbed;
  const ChartKind current = tabbed_ ? ChartKind::Latency : kChartKinds[static_cast<std::size_t>(std::max(0, tabs_->currentIndex()))];
  for (ChartKind kind : kChartKinds) {
    QChartView* view = views_[static_cast<std::size_t>(kind)];
    const auto i = static_cast<int>(kind);
    if (tabbed_) {
      grid_->removeWidget(view);
      tabs_->addTab(view, chartTitle(kind));
    } else {
      tabs_->removeTab(tabs_->indexOf(view));
      grid_->addWidget(view, i / 2, i % 2);
      view->show();
    }
  }
  if (tabbed_) tabs_->setCurrentIndex(static_cast<int>(current));
  pages_->setCurrentIndex(tabbed_ ? 1 : 0);
}

void ChartPanel::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  const QSize grid_needs(2 * kMinChartSize.width() + grid_->spacing(), 2 * kMinChartSize.height() + grid_->spacing());
  const QSize room = size() - QSize(0, context_->sizeHint().height() + layout()->spacing());
  setTabbed(room.width() < grid_needs.width() || room.height() < grid_needs.height());
}

void ChartPanel::draw(const QList<int>& rows) {
  charts_->beginBatch();
  for (int row : rows) charts_->addPoint(data_->points()[static_cast<std::size_t>(row)]);
  charts_->endBatch();
}

void ChartPanel::rebuild() {
  const RunRecord& run = data_->run();
  charts_->reset({ChartRun{run.spec, run.device, QStringLiteral("#%1").arg(run.id)}}, QString());
  context_->setText(data_->hasRun() ? QStringLiteral("Run #%1 %2 — %3").arg(run.id).arg(qs(run.name), chartContext(run))
                                    : tr("No run: start a sweep, or open one from the run history."));
  charts_->addPoints(data_->points());
}

}  // namespace attnbench::ui
