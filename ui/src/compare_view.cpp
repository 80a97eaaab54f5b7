#include "compare_view.h"

#include <cmath>
#include <map>

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtCharts/QChartView>

#include "run_charts.h"
#include "ui_format.h"

namespace attnbench::ui {

namespace {

QString shapeOf(const SweepPoint& p) {
  return QStringLiteral("%1 B=%2 N=%3 %4%5")
      .arg(qs(p.model.name))
      .arg(p.shape.batch)
      .arg(p.shape.seq_kv)
      .arg(qs(std::string(kernels::dtypeName(p.shape.dtype))))
      .arg(p.shape.causal ? QStringLiteral(" causal") : QString());
}

QString kernelOf(const SweepPoint& p) {
  return p.kernel == KernelKind::Flash ? QStringLiteral("flash %1").arg(qs(tileName(p.tile))) : qs(kernelName(p.kernel));
}

bool ran(const PointResult* r) { return r != nullptr && r->status == PointStatus::Ok && r->stats.median_ms > 0; }

// Sorts by the number in Qt::UserRole when there is one, so "9.0 ms" sorts before "10.1 ms".
class SortableItem : public QTableWidgetItem {
 public:
  using QTableWidgetItem::QTableWidgetItem;
  bool operator<(const QTableWidgetItem& other) const override {
    const QVariant a = data(Qt::UserRole), b = other.data(Qt::UserRole);
    if (a.typeId() == QMetaType::Double && b.typeId() == QMetaType::Double) return a.toDouble() < b.toDouble();
    return QTableWidgetItem::operator<(other);
  }
};

}  // namespace

double ComparedPoint::ratio() const { return ran(a) && ran(b) ? b->stats.median_ms / a->stats.median_ms : 0.0; }

std::vector<ComparedPoint> matchPoints(const std::vector<PointResult>& a, const std::vector<PointResult>& b) {
  std::vector<ComparedPoint> rows;
  std::map<std::pair<QString, QString>, std::size_t> row_of;
  for (const auto& r : a) {
    ComparedPoint c{shapeOf(r.point), kernelOf(r.point), &r, nullptr};
    row_of[{c.shape, c.kernel}] = rows.size();
    rows.push_back(c);
  }
  for (const auto& r : b) {
    const std::pair<QString, QString> key{shapeOf(r.point), kernelOf(r.point)};
    if (auto it = row_of.find(key); it != row_of.end()) {
      rows[it->second].b = &r;
    } else {
      rows.push_back({key.first, key.second, nullptr, &r});
    }
  }
  return rows;
}

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  charts_ = new RunCharts(this);
  header_ = new QLabel(tr("Select two runs in the history and press Compare."));
  header_->setWordWrap(true);
  chart_kind_ = new QComboBox;
  for (ChartKind kind : kChartKinds) chart_kind_->addItem(chartTitle(kind));
  view_ = new QChartView(charts_->chart(ChartKind::Latency));
  view_->setRenderHint(QPainter::Antialiasing);
  // setChart releases the chart shown before; RunCharts keeps (and deletes) the ones not shown.
  connect(chart_kind_, &QComboBox::currentIndexChanged, this,
          [this](int i) { view_->setChart(charts_->chart(kChartKinds[static_cast<std::size_t>(i)])); });

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  table_ = new QTableWidget(0, 8);
  table_->setHorizontalHeaderLabels(
      {tr("Shape"), tr("Kernel"), tr("A median"), tr("B median"), tr("B / A"), tr("Change"), tr("A status"), tr("B status")});
  table_->verticalHeader()->hide();
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSortingEnabled(true);
  table_->setAlternatingRowColors(true);
  table_->horizontalHeader()->setStretchLastSection(true);

  auto* top = new QWidget;
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  auto* bar = new QHBoxLayout;
  bar->addWidget(header_, 1);
  bar->addWidget(chart_kind_);
  top_layout->addLayout(bar);
  top_layout->addWidget(view_, 1);
  auto* bottom = new QWidget;
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  bottom_layout->addWidget(summary_);
  bottom_layout->addWidget(table_, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(bottom);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({600, 400});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
}

void CompareView::setDark(bool dark) { charts_->setDark(dark); }

void CompareView::setRuns(const RunRecord& a, std::vector<PointResult> pa, const RunRecord& b,
                          std::vector<PointResult> pb) {
  a_points_ = std::move(pa);
  b_points_ = std::move(pb);
  const QString la = QStringLiteral("A #%1").arg(a.id), lb = QStringLiteral("B #%1").arg(b.id);
  header_->setText(tr("<b>A</b>: %1<br><b>B</b>: %2").arg(runTitle(a).toHtmlEscaped(), runTitle(b).toHtmlEscaped()));
  charts_->reset({ChartRun{a.spec, a.device, la}, ChartRun{b.spec, b.device, lb}}, la + QStringLiteral(" vs ") + lb);
  charts_->addPoints(a_points_, 0);
  charts_->addPoints(b_points_, 1);

  const auto rows = matchPoints(a_points_, b_points_);
  table_->setSortingEnabled(false);
  table_->setRowCount(static_cast<int>(rows.size()));
  std::map<QString, std::pair<double, int>> log_sums;  // kernel family -> (sum of log ratios, count)
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ComparedPoint& c = rows[i];
    const int r = static_cast<int>(i);
    auto cell = [&](int col, const QString& text, const QVariant& sort) {
      auto* item = new SortableItem(text);
      item->setData(Qt::UserRole, sort);
      table_->setItem(r, col, item);
      return item;
    };
    auto median = [](const PointResult* p) { return ran(p) ? formatMs(p->stats.median_ms) : QStringLiteral("—"); };
    auto status = [](const PointResult* p) { return p ? qs(statusName(p->status)) : QStringLiteral("absent"); };
    cell(0, c.shape, c.shape);
    cell(1, c.kernel, c.kernel);
    cell(2, median(c.a), c.a ? c.a->stats.median_ms : 0.0);
    cell(3, median(c.b), c.b ? c.b->stats.median_ms : 0.0);
    const double ratio = c.ratio();
    // Ratios sort as numbers: the display text is what the user reads, the sort key the number.
    auto* ratio_item = new QTableWidgetItem;
    ratio_item->setData(Qt::DisplayRole, ratio > 0 ? QVariant(std::round(ratio * 1000.0) / 1000.0) : QVariant());
    table_->setItem(r, 4, ratio_item);
    QString change;
    QColor color;
    if (ratio > 0) {
      if (ratio < 1.0 - kNoiseFraction) {
        change = tr("B faster (−%1%)").arg((1.0 - ratio) * 100.0, 0, 'f', 0);
        color = QColor(0x2e7d32);
      } else if (ratio > 1.0 + kNoiseFraction) {
        change = tr("B slower (+%1%)").arg((ratio - 1.0) * 100.0, 0, 'f', 0);
        color = QColor(0xc62828);
      } else {
        change = tr("≈ same");
      }
      auto& [sum, count] = log_sums[c.kernel.section(QLatin1Char(' '), 0, 0)];
      sum += std::log(ratio);
      ++count;
    } else {
      change = tr("not comparable");
    }
    QTableWidgetItem* change_item = cell(5, change, change);
    if (color.isValid()) {
      change_item->setForeground(color);
      ratio_item->setForeground(color);
    }
    cell(6, status(c.a), status(c.a));
    cell(7, status(c.b), status(c.b));
  }
  // Sortable by a click on a header; shown in the runs' point order first.
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
  table_->setSortingEnabled(true);
  table_->resizeColumnsToContents();

  QStringList lines;
  for (const auto& [kernel, acc] : log_sums) {
    const double geomean = std::exp(acc.first / acc.second);
    lines << tr("%1: geometric mean of B / A = %2 over %3 points").arg(kernel).arg(geomean, 0, 'f', 3).arg(acc.second);
  }
  summary_->setText(lines.isEmpty() ? tr("The runs share no point that ran in both.") : lines.join(QStringLiteral("<br>")));
}

}  // namespace attnbench::ui
