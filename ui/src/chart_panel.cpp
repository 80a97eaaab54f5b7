#include "chart_panel.h"

#include <set>

#include <QAction>
#include <QActionGroup>
#include <QGridLayout>
#include <QLabel>
#include <QMenu>
#include <QResizeEvent>
#include <QSettings>
#include <QSignalBlocker>
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

namespace {

QString settingsKey(ChartKind kind, const char* what) {
  return QStringLiteral("charts/%1/%2").arg(chartStem(kind), QLatin1String(what));
}

QString spreadName(Spread spread) {
  switch (spread) {
    case Spread::None: return QStringLiteral("none");
    case Spread::MinMax: return QStringLiteral("min-max");
    case Spread::Std: return QStringLiteral("std");
  }
  return {};
}

}  // namespace

ChartPanel::ChartPanel(const RunData* run_data, QWidget* parent, bool remember)
    : QWidget(parent), data_(run_data), remember_(remember) {
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
      log_actions_[static_cast<std::size_t>(kind)][orientation == Qt::Horizontal ? 0 : 1] = log;
    }
    addChoiceMenus(kind, view);
    views_[static_cast<std::size_t>(kind)] = view;
  }
  tabbed_ = true;  // so that setTabbed(false) lays the grid out
  setTabbed(false);
  if (remember_) {
    QSettings settings;
    for (ChartKind kind : kChartKinds) {
      ChartChoice choice = defaultChoice(kind);
      xFromName(settings.value(settingsKey(kind, "x")).toString(), &choice.x);
      metricFromName(settings.value(settingsKey(kind, "metric")).toString(), &choice.metric);
      charts_->setChoice(kind, choice);
    }
    const QString spread = settings.value(QStringLiteral("charts/spread")).toString();
    for (Spread s : {Spread::None, Spread::MinMax, Spread::Std}) {
      if (spreadName(s) == spread) charts_->setSpread(s);
    }
  }
  syncMenus();
  connect(data_, &RunData::runReset, this, &ChartPanel::rebuild);
  connect(data_, &RunData::pointsUpdated, this, &ChartPanel::draw);
  rebuild();
}

void ChartPanel::addChoiceMenus(ChartKind kind, QWidget* view) {
  // Separators and submenus are actions too: the view's context menu lists them after its own.
  auto* separator = new QAction(view);
  separator->setSeparator(true);
  view->addAction(separator);
  const auto submenu = [&](const QString& title) {
    auto* menu = new QMenu(title, view);
    auto* group = new QActionGroup(menu);
    view->addAction(menu->menuAction());
    return std::make_pair(menu, group);
  };
  const auto entry = [&](std::pair<QMenu*, QActionGroup*> menu, const QString& text, ChoiceAction what, auto apply) {
    QAction* action = menu.first->addAction(text);
    action->setCheckable(true);
    menu.second->addAction(action);
    what.action = action;
    choice_actions_.push_back(what);
    connect(action, &QAction::triggered, this, apply);
  };
  const auto x_menu = submenu(tr("X axis"));
  for (ChartX x : kChartXs) {
    entry(x_menu, xName(x), {kind, nullptr, x, {}, {}}, [this, kind, x] { setChoice(kind, {x, charts_->choice(kind).metric}); });
  }
  const auto metric_menu = submenu(tr("Metric"));
  for (ChartMetric metric : kChartMetrics) {
    entry(metric_menu, metricName(metric), {kind, nullptr, {}, metric, {}},
          [this, kind, metric] { setChoice(kind, {charts_->choice(kind).x, metric}); });
  }
  const auto spread_menu = submenu(tr("Spread"));
  for (const auto& [spread, text] : {std::pair{Spread::None, tr("none")}, std::pair{Spread::MinMax, tr("min to max band")},
                                     std::pair{Spread::Std, tr("median ± std band")}}) {
    entry(spread_menu, text, {kind, nullptr, {}, {}, spread}, [this, spread = spread] { setSpread(spread); });
  }
}

void ChartPanel::setChoice(ChartKind kind, ChartChoice choice) {
  charts_->setChoice(kind, choice);
  if (remember_) {
    QSettings settings;
    settings.setValue(settingsKey(kind, "x"), xName(choice.x));
    settings.setValue(settingsKey(kind, "metric"), metricName(choice.metric));
  }
  syncMenus();
}

void ChartPanel::setSpread(Spread spread) {
  charts_->setSpread(spread);
  if (remember_) QSettings().setValue(QStringLiteral("charts/spread"), spreadName(spread));
  syncMenus();
}

void ChartPanel::syncMenus() {
  for (const ChoiceAction& c : choice_actions_) {
    const ChartChoice now = charts_->choice(c.kind);
    c.action->setChecked(c.x ? *c.x == now.x : c.metric ? *c.metric == now.metric : *c.spread == charts_->spread());
  }
  // The metric's log/linear default comes with a new metric: the scale entries follow.
  for (ChartKind kind : kChartKinds) {
    const auto& [log_x, log_y] = log_actions_[static_cast<std::size_t>(kind)];
    const QSignalBlocker quiet_x(log_x), quiet_y(log_y);
    log_x->setChecked(charts_->logScale(kind, Qt::Horizontal));
    log_y->setChecked(charts_->logScale(kind, Qt::Vertical));
    auto* view = static_cast<ExplorableChartView*>(views_[static_cast<std::size_t>(kind)]);
    view->setXSymbol(xSymbol(charts_->choice(kind).x));
    if (tabbed_) tabs_->setTabText(tabs_->indexOf(view), charts_->title(kind));
  }
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
      tabs_->addTab(view, charts_->title(kind));
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
  charts_->reset({chartRunOf(run, QStringLiteral("#%1").arg(run.id))}, QString());
  context_->setText(data_->hasRun() ? QStringLiteral("Run #%1 %2 — %3").arg(run.id).arg(qs(run.name), chartContext(run))
                                    : tr("No run: start a sweep, or open one from the run history."));
  charts_->addPoints(data_->points());
}

}  // namespace attnbench::ui
