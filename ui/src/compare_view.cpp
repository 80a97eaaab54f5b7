#include "compare_view.h"

#include <algorithm>

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QScrollBar>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtCharts/QChartView>

#include "run_charts.h"
#include "ui_format.h"

namespace attnbench::ui {

namespace {

// Sorts by the number under ValueRole when there is one, so "9.0 ms" sorts before "10.1 ms".
class SortableItem : public QTableWidgetItem {
 public:
  using QTableWidgetItem::QTableWidgetItem;
  bool operator<(const QTableWidgetItem& other) const override {
    const QVariant a = data(CompareView::ValueRole), b = other.data(CompareView::ValueRole);
    if (a.typeId() == QMetaType::Double && b.typeId() == QMetaType::Double) return a.toDouble() < b.toDouble();
    return QTableWidgetItem::operator<(other);
  }
};

QTableWidgetItem* setCell(QTableWidget* table, int row, int col, const QString& text, const QVariant& value = {}) {
  auto* item = new SortableItem(text);
  if (value.isValid()) item->setData(CompareView::ValueRole, value);
  table->setItem(row, col, item);
  return item;
}

QColor verdictColor(Verdict verdict) {
  switch (verdict) {
    case Verdict::Faster: return QColor(0x2e7d32);
    case Verdict::Slower: return QColor(0xc62828);
    case Verdict::Same:
    case Verdict::Missing: break;
  }
  return {};
}

QString runLabel(const RunRecord& run) { return QStringLiteral("#%1").arg(run.id); }

QTableWidget* newTable(const QStringList& headers) {
  auto* table = new QTableWidget(0, static_cast<int>(headers.size()));
  table->setHorizontalHeaderLabels(headers);
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setAlternatingRowColors(true);
  table->horizontalHeader()->setStretchLastSection(true);
  return table;
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  charts_ = new RunCharts(this);
  header_ = new QLabel(tr("Select two or more runs in the history and press Compare."));
  header_->setWordWrap(true);
  header_->setTextFormat(Qt::RichText);
  chart_kind_ = new QComboBox;
  for (ChartKind kind : kChartKinds) chart_kind_->addItem(chartTitle(kind));
  view_ = new QChartView(charts_->chart(ChartKind::Latency));
  view_->setRenderHint(QPainter::Antialiasing);
  // setChart releases the chart shown before; RunCharts keeps (and deletes) the ones not shown.
  connect(chart_kind_, &QComboBox::currentIndexChanged, this,
          [this](int i) { view_->setChart(charts_->chart(kChartKinds[static_cast<std::size_t>(i)])); });
  baseline_box_ = new QComboBox;
  baseline_box_->setToolTip(tr("The run the others are measured against"));
  connect(baseline_box_, &QComboBox::activated, this, [this](int i) { setBaseline(static_cast<std::size_t>(i)); });

  legend_ = new QLabel;
  legend_->setWordWrap(true);
  table_ = newTable({});
  table_->setSortingEnabled(true);
  summary_ = newTable({tr("Run"), tr("Kernel"), tr("Geometric mean ratio"), tr("Points"), tr("Faster"), tr("Slower")});
  summary_->horizontalHeader()->setStretchLastSection(false);
  summary_->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);

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
  auto* baseline_bar = new QHBoxLayout;
  baseline_bar->addWidget(new QLabel(tr("Baseline:")));
  baseline_bar->addWidget(baseline_box_);
  baseline_bar->addWidget(legend_, 1);
  bottom_layout->addLayout(baseline_bar);
  // The geometric means beside the rows they summarize, so the charts keep the height.
  auto* tables = new QHBoxLayout;
  tables->addWidget(summary_, 0, Qt::AlignTop);
  tables->addWidget(table_, 1);
  bottom_layout->addLayout(tables, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(bottom);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({650, 350});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
}

void CompareView::setDark(bool dark) { charts_->setDark(dark); }

void CompareView::setRuns(std::vector<RunPoints> runs, std::size_t baseline) {
  runs_ = std::move(runs);
  std::vector<ChartRun> chart_runs;
  QStringList titles, labels;
  for (const RunPoints& r : runs_) {
    chart_runs.push_back(chartRunOf(r.run, runLabel(r.run)));
    titles << runTitle(r.run).toHtmlEscaped();
    labels << runLabel(r.run);
  }
  header_->setText(titles.join(QStringLiteral("<br>")));
  charts_->reset(std::move(chart_runs), labels.join(QStringLiteral(" vs ")));
  for (std::size_t slot = 0; slot < runs_.size(); ++slot) charts_->addPoints(runs_[slot].points, static_cast<int>(slot));
  baseline_box_->clear();
  for (const RunPoints& r : runs_) baseline_box_->addItem(QStringLiteral("%1 %2").arg(runLabel(r.run), qs(r.run.name)));
  setBaseline(baseline < runs_.size() ? baseline : 0);
}

void CompareView::setBaseline(std::size_t index) {
  if (index >= runs_.size() && !runs_.empty()) return;
  baseline_ = index;
  baseline_box_->setCurrentIndex(static_cast<int>(index));
  compared_.clear();
  if (!runs_.empty()) compared_.push_back(runs_[index]);
  for (std::size_t i = 0; i < runs_.size(); ++i) {
    if (i != index) compared_.push_back(runs_[i]);
  }
  comparison_ = compareRuns(compared_);
  showComparison();
}

void CompareView::showComparison() {
  QStringList headers{tr("Model"), tr("B"), tr("N"), tr("dtype"), tr("Causal"), tr("Kernel")};
  const QString base = compared_.empty() ? QString() : runLabel(compared_.front().run);
  for (std::size_t i = 0; i < compared_.size(); ++i) {
    const QString label = runLabel(compared_[i].run);
    headers << tr("%1 median").arg(label);
    if (i > 0) headers << QStringLiteral("%1 / %2").arg(label, base) << tr("%1 verdict").arg(label);
  }
  table_->setSortingEnabled(false);
  table_->clear();
  table_->setColumnCount(static_cast<int>(headers.size()));
  table_->setHorizontalHeaderLabels(headers);
  table_->setRowCount(static_cast<int>(comparison_.rows.size()));
  for (std::size_t r = 0; r < comparison_.rows.size(); ++r) {
    const ComparisonRow& row = comparison_.rows[r];
    const int at = static_cast<int>(r);
    setCell(table_, at, Model, qs(row.model));
    setCell(table_, at, Batch, QString::number(row.batch), double(row.batch));
    setCell(table_, at, SeqLen, QString::number(row.seq_len), double(row.seq_len));
    setCell(table_, at, DTypeCol, qs(row.dtype));
    setCell(table_, at, Causal, row.causal ? tr("yes") : tr("no"));
    setCell(table_, at, Kernel, qs(row.kernel));
    int col = FirstRunColumn;
    for (std::size_t i = 0; i < row.runs.size(); ++i) {
      const ComparedPoint& cell = row.runs[i];
      setCell(table_, at, col++, cell.point ? formatMs(cell.point->stats.median_ms) : QStringLiteral("—"),
              cell.point ? cell.point->stats.median_ms : 0.0);
      if (i == 0) continue;
      const QColor color = verdictColor(cell.verdict);
      QTableWidgetItem* ratio = setCell(table_, at, col++, cell.ratio > 0 ? QString::number(cell.ratio, 'f', 3) : QStringLiteral("—"), cell.ratio);
      QTableWidgetItem* verdict = setCell(table_, at, col++, qs(verdictName(cell.verdict)));
      if (color.isValid()) {
        ratio->setForeground(color);
        verdict->setForeground(color);
      }
    }
  }
  // Shown in compareRuns' order first; sortable by a click on a header.
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
  table_->setSortingEnabled(true);
  table_->resizeColumnsToContents();

  summary_->setRowCount(0);
  int rows = 0;
  for (std::size_t i = 1; i < comparison_.summaries.size(); ++i) {
    for (const auto& [kernel, s] : comparison_.summaries[i]) {
      summary_->insertRow(rows);
      setCell(summary_, rows, SummaryRun, QStringLiteral("%1 / %2").arg(runLabel(compared_[i].run), base));
      setCell(summary_, rows, SummaryKernel, qs(kernel));
      setCell(summary_, rows, SummaryGeomean, QString::number(s.geomean_ratio, 'f', 3), s.geomean_ratio);
      setCell(summary_, rows, SummaryPoints, QString::number(s.points), double(s.points));
      setCell(summary_, rows, SummaryFaster, QString::number(s.faster), double(s.faster));
      setCell(summary_, rows, SummarySlower, QString::number(s.slower), double(s.slower));
      ++rows;
    }
  }
  summary_->resizeColumnsToContents();
  // As tall as its rows, up to kSummaryRowsShown (then it scrolls): the ratio table gets the rest.
  const int shown = std::clamp(rows, 1, kSummaryRowsShown);
  int height = summary_->horizontalHeader()->sizeHint().height() + 2 * summary_->frameWidth();
  for (int r = 0; r < shown && r < rows; ++r) height += summary_->rowHeight(r);
  if (rows == 0) height += summary_->verticalHeader()->defaultSectionSize();
  int width = 2 * summary_->frameWidth() + (rows > kSummaryRowsShown ? summary_->verticalScrollBar()->sizeHint().width() : 0);
  for (int c = 0; c < SummaryColumnCount; ++c) width += summary_->columnWidth(c);
  summary_->setFixedSize(width, height);
  legend_->setText(compared_.size() < 2
                       ? tr("Choose two or more runs to compare.")
                       : rows == 0 ? tr("The runs share no point that ran in both.")
                                   : tr("ratio = run / baseline (below 1: faster); a verdict other than same needs the two "
                                        "runs' median ± std intervals not to overlap"));
}

}  // namespace attnbench::ui
