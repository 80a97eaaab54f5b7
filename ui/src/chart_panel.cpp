#include "chart_panel.h"

#include <set>

#include <QElapsedTimer>
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
    views_[static_cast<std::size_t>(kind)] = view;
  }
  tabbed_ = true;  // so that setTabbed(false) lays the grid out
  setTabbed(false);
  refresh_.setSingleShot(true);
  connect(&refresh_, &QTimer::timeout, this, &ChartPanel::flush);
  connect(data_, &RunData::runReset, this, &ChartPanel::rebuild);
  connect(data_, &RunData::pointAdded, this, &ChartPanel::queue);
  connect(data_, &RunData::pointReplaced, this, &ChartPanel::queue);
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
