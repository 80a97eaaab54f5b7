#include "run_charts.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include <QCursor>
#include <QLegendMarker>
#include <QToolTip>
#include <QtCharts/QChart>
#include <QtCharts/QLegend>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QScatterSeries>
#include <QtCharts/QValueAxis>

#include "ui_format.h"

namespace attnbench::ui {

namespace {

// The line style that tells the kernels apart (colour tells the batch, model and run).
Qt::PenStyle kernelLine(KernelKind kernel) {
  switch (kernel) {
    case KernelKind::Flash: return Qt::SolidLine;
    case KernelKind::Standard: return Qt::DashLine;
    case KernelKind::Cudnn: return Qt::DotLine;
  }
  return Qt::SolidLine;
}

QString kernelLineName(KernelKind kernel) {
  switch (kernelLine(kernel)) {
    case Qt::DashLine: return QStringLiteral("dashed");
    case Qt::DotLine: return QStringLiteral("dotted");
    default: return QStringLiteral("solid");
  }
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

std::size_t slot(ChartKind kind) { return static_cast<std::size_t>(kind); }

// Ten distinguishable colours (the Tableau palette); one per batch size (x model x run).
const std::array<QColor, 10> kPalette = {QColor(0x1f77b4), QColor(0xff7f0e), QColor(0x2ca02c), QColor(0xd62728),
                                         QColor(0x9467bd), QColor(0x8c564b), QColor(0xe377c2), QColor(0x7f7f7f),
                                         QColor(0xbcbd22), QColor(0x17becf)};

// Where a new x goes in a series sorted by x: the index of the first point with x >= `x`.
int lowerBound(const QXYSeries* series, double x) {
  int lo = 0, hi = series->count();
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (series->at(mid).x() < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// The nearest of 1, 2, 5 x 10^k below (or above) `v`.
double niceLogStep(double v, bool up) {
  const double decade = std::pow(10.0, std::floor(std::log10(v)));
  const double steps[] = {1.0, 2.0, 5.0, 10.0};
  if (up) {
    for (double s : steps) {
      if (s * decade >= v * (1.0 - 1e-9)) return s * decade;
    }
    return 10.0 * decade;
  }
  double best = decade;
  for (double s : steps) {
    if (s * decade <= v * (1.0 + 1e-9)) best = s * decade;
  }
  return best;
}

// What a theme change resets: a bold, larger title and the legend below the plot.
void styleChart(QChart* chart) {
  QFont title_font = chart->titleFont();
  title_font.setPointSizeF(QFont().pointSizeF() * 1.2);
  title_font.setBold(true);
  chart->setTitleFont(title_font);
  chart->legend()->setAlignment(Qt::AlignBottom);
  QFont legend_font = chart->legend()->font();
  legend_font.setPointSizeF(QFont().pointSizeF() * 0.9);
  chart->legend()->setFont(legend_font);
}

QLogValueAxis* logAxis(const QString& title, double base, const QString& format) {
  auto* axis = new QLogValueAxis;
  axis->setTitleText(title);
  axis->setBase(base);
  axis->setLabelFormat(format);
  return axis;
}

QValueAxis* valueAxis(const QString& title, const QString& format) {
  auto* axis = new QValueAxis;
  axis->setTitleText(title);
  axis->setLabelFormat(format);
  axis->setTickCount(6);
  return axis;
}

}  // namespace

QString chartStem(ChartKind kind) {
  switch (kind) {
    case ChartKind::Latency: return QStringLiteral("latency");
    case ChartKind::Speedup: return QStringLiteral("speedup");
    case ChartKind::Throughput: return QStringLiteral("tflops");
    case ChartKind::Memory: return QStringLiteral("memory");
  }
  return {};
}

QString chartTitle(ChartKind kind) {
  switch (kind) {
    case ChartKind::Latency: return QStringLiteral("Latency");
    case ChartKind::Speedup: return QStringLiteral("Speedup");
    case ChartKind::Throughput: return QStringLiteral("Throughput");
    case ChartKind::Memory: return QStringLiteral("Peak memory");
  }
  return {};
}

void RunCharts::Range::add(double v) {
  if (!(v > 0)) return;
  if (empty()) {
    lo = hi = v;
  } else {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
}

RunCharts::RunCharts(QObject* parent) : QObject(parent) { createCharts(); }

RunCharts::~RunCharts() {
  for (auto& chart : charts_) {
    if (chart && chart->scene() == nullptr) delete chart.data();
  }
}

void RunCharts::createCharts() {
  for (ChartKind kind : kChartKinds) {
    auto* chart = new QChart;
    chart->setTitle(chartTitle(kind));
    styleChart(chart);
    chart->legend()->setShowToolTips(true);
    // Legend entries drawn as short line segments: flash (solid) and standard (dashed) differ there too.
    chart->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);
    chart->setAnimationOptions(QChart::NoAnimation);  // a point per update; animations would lag
    connect(chart, &QGraphicsWidget::geometryChanged, this, [this, chart] { tidyLegend(chart); });

    auto* x = logAxis(QStringLiteral("Sequence length (tokens)"), 2.0, QStringLiteral("%.0f"));
    QAbstractAxis* y = nullptr;
    switch (kind) {
      case ChartKind::Latency: y = logAxis(QStringLiteral("Median latency (ms)"), 10.0, QStringLiteral("%g")); break;
      case ChartKind::Speedup: y = valueAxis(QStringLiteral("standard / flash (×)"), QStringLiteral("%.1f")); break;
      case ChartKind::Throughput: y = valueAxis(QStringLiteral("TFLOP/s"), QStringLiteral("%g")); break;
      case ChartKind::Memory: y = logAxis(QStringLiteral("Peak memory (MiB)"), 10.0, QStringLiteral("%g")); break;
    }
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    charts_[slot(kind)] = chart;
    x_axes_[slot(kind)] = x;
    y_axes_[slot(kind)] = y;
  }
}

void RunCharts::reset(std::vector<ChartRun> runs, const QString& context) {
  runs_ = std::move(runs);
  curves_.clear();
  speedups_.clear();
  group_colors_.clear();
  styles_.clear();
  tips_.clear();
  reference_lines_.clear();
  skipped_ = nullptr;
  y_ranges_ = {};
  staged_.clear();
  staged_skipped_.clear();
  y_dirty_ = {};
  kernel_keys_ = {};
  group_entries_ = {};
  legend_members_.clear();
  legend_labels_.clear();
  legend_hidden_.clear();

  std::set<std::string> models;
  std::set<int> seqs;
  std::set<DType> dtypes;
  std::set<bool> causal;
  std::set<std::string> tiles;
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) models.insert(m.name);
    seqs.insert(run.spec.seq_lens.begin(), run.spec.seq_lens.end());
    dtypes.insert(run.spec.dtypes.begin(), run.spec.dtypes.end());
    causal.insert(run.spec.causal.begin(), run.spec.causal.end());
    for (const auto& t : run.spec.tiles) tiles.insert(tileName(t));
  }
  many_models_ = models.size() > 1;
  many_dtypes_ = dtypes.size() > 1;
  many_causal_ = causal.size() > 1;
  many_tiles_ = tiles.size() > 1;
  // Decided once per reset: restyling a series mid-run lays its chart out again.
  mark_points_ = seqs.size() <= static_cast<std::size_t>(kMarkedPointsUpTo);
  // GiB on the memory axis for devices with tens of GiB (its labels stay short), else MiB.
  std::uint64_t largest_memory = 0;
  for (const auto& run : runs_) largest_memory = std::max(largest_memory, run.device.memory_bytes);
  memory_unit_ = largest_memory >= 32ULL << 30 ? kGiB : kMiB;
  y_axes_[slot(ChartKind::Memory)]->setTitleText(memory_unit_ == kGiB ? QStringLiteral("Peak memory (GiB)")
                                                                     : QStringLiteral("Peak memory (MiB)"));
  // Half a step of margin on the log2 axis so the end points are not on the frame.
  x_lo_ = seqs.empty() ? 64.0 : *seqs.begin() / std::sqrt(2.0);
  x_hi_ = seqs.empty() ? 8192.0 : *seqs.rbegin() * std::sqrt(2.0);

  for (ChartKind kind : kChartKinds) {
    QChart* chart = this->chart(kind);
    chart->removeAllSeries();
    chart->setTitle(context.isEmpty() ? chartTitle(kind) : chartTitle(kind) + QStringLiteral(" — ") + context);
    applyXRange(kind);
    applyYRange(kind);
  }

  addReferenceLine(ChartKind::Speedup, QStringLiteral("1× (parity)"), 1.0, QColor(0x888888), {});
  std::set<std::string> seen_devices;
  for (const auto& run : runs_) {
    const auto& d = run.device;
    if (!seen_devices.insert(d.fingerprint.empty() ? d.id + d.name : d.fingerprint).second) continue;
    const QString who = runs_.size() > 1 ? run.label + QLatin1Char(' ') : QString();
    // Short legend names (legends truncate long ones); the values are on the axis and in the tooltip.
    if (d.ceilings && d.ceilings->gemm_tflops > 0) {
      addReferenceLine(ChartKind::Throughput, who + QStringLiteral("GEMM ceiling"), d.ceilings->gemm_tflops,
                       QColor(0xc0392b),
                       QStringLiteral("%1GEMM ceiling of %2: %3 TFLOP/s (%4, measured)")
                           .arg(who, qs(d.name), formatTflops(d.ceilings->gemm_tflops), qs(d.ceilings->gemm_dtype)));
    }
    if (d.memory_bytes > 0) {
      addReferenceLine(ChartKind::Memory, who + QStringLiteral("memory size"), static_cast<double>(d.memory_bytes) / memory_unit_,
                       QColor(0xc0392b),
                       QStringLiteral("%1memory of %2: %3").arg(who, qs(d.name), formatByteCount(d.memory_bytes)));
    }
  }
  // Every curve of the sweeps now, so the legends are complete from the start: a series added
  // mid-run would lay each chart out again and redraw all of its points.
  std::vector<std::pair<int, SweepPoint>> curves;
  std::set<KernelKind> kernels;
  for (std::size_t run_slot = 0; run_slot < runs_.size(); ++run_slot) {
    SweepSpec one_length = runs_[run_slot].spec;
    if (one_length.seq_lens.empty()) continue;
    one_length.seq_lens = {one_length.seq_lens.front()};
    kernels.insert(one_length.kernels.begin(), one_length.kernels.end());
    auto points = expandPoints(one_length);
    // Flash first in each legend group (the sweep runs standard first); groups keep the sweep's order.
    auto same_group = [](const SweepPoint& a, const SweepPoint& b) {
      return std::tie(a.model.name, a.shape.dtype, a.shape.causal, a.shape.batch) ==
             std::tie(b.model.name, b.shape.dtype, b.shape.causal, b.shape.batch);
    };
    for (auto first = points.begin(); first != points.end();) {
      const auto last = std::find_if_not(first, points.end(), [&](const SweepPoint& p) { return same_group(p, *first); });
      std::stable_partition(first, last, [](const SweepPoint& p) { return p.kernel == KernelKind::Flash; });
      first = last;
    }
    for (auto& p : points) curves.emplace_back(static_cast<int>(run_slot), std::move(p));
  }
  compact_legend_ = kernels.size() > 1 && curves.size() > static_cast<std::size_t>(kFullLegendUpTo);
  if (compact_legend_) {
    for (ChartKind kind : {ChartKind::Latency, ChartKind::Throughput, ChartKind::Memory}) {
      const QColor key_color(0x888888);  // readable on the light and the dark theme
      for (const KernelKind kernel : kernels) {
        const QString key = QStringLiteral("%1: %2").arg(qs(kernelName(kernel)), kernelLineName(kernel));
        kernel_keys_[slot(kind)][static_cast<std::size_t>(kernel)] = addLine(kind, key, QPen(key_color, 2.0, kernelLine(kernel)));
      }
    }
  }
  for (const auto& [run_slot, p] : curves) {
    curveFor(p, run_slot);
    if (kernels.size() > 1) speedupFor(p, run_slot);
  }
  for (ChartKind kind : kChartKinds) tidyLegend(chart(kind));
}

void RunCharts::joinLegendGroup(ChartKind kind, QLineSeries* series, const SweepPoint& p, const QString& group) {
  const auto& keys = kernel_keys_[slot(kind)];
  QLineSeries* key = keys[static_cast<std::size_t>(p.kernel)];
  if (key != nullptr) legend_members_[key].append(series);
  auto [owner, first] = group_entries_[slot(kind)].try_emplace(group.toStdString(), series);
  if (first) {
    legend_labels_.insert(series, group);
  } else {
    legend_members_[owner->second].append(series);
    legend_hidden_.insert(series);
  }
}

void RunCharts::tidyLegend(QChart* chart) {
  // One row below the plot while its entries fit the chart's width; else a column at the right,
  // where nothing is elided.
  double row_width = 0;
  const QFontMetricsF metrics(chart->legend()->font());
  for (QAbstractSeries* s : chart->series()) {
    const auto label = legend_labels_.constFind(s);
    for (QLegendMarker* m : chart->legend()->markers(s)) {
      if (legend_hidden_.contains(s)) {
        m->setVisible(false);
      } else if (label != legend_labels_.cend()) {
        m->setLabel(*label);
      }
    }
    // Counted from the series: the legend may not have made their markers yet.
    if (!legend_hidden_.contains(s)) {
      row_width += metrics.horizontalAdvance(label != legend_labels_.cend() ? *label : s->name()) + kLegendEntryExtraPx;
    }
  }
  const bool fits_below = row_width <= chart->size().width() - 2 * kLegendEntryExtraPx;
  const Qt::Alignment where = compact_legend_ || !fits_below ? Qt::AlignRight : Qt::AlignBottom;
  if (chart->legend()->alignment() != where) chart->legend()->setAlignment(where);
}

QLineSeries* RunCharts::addLine(ChartKind kind, const QString& name, const QPen& pen) {
  auto* series = new QLineSeries;
  series->setName(name);
  styles_.insert(series, pen);
  QChart* chart = this->chart(kind);
  chart->addSeries(series);
  series->attachAxis(x_axes_[slot(kind)]);
  series->attachAxis(y_axes_[slot(kind)]);
  applyStyle(series);
  connectSeries(chart, series);
  return series;
}

void RunCharts::addReferenceLine(ChartKind kind, const QString& name, double y, const QColor& color,
                                 const QString& tip) {
  QPen pen(color, 1.5, Qt::DashDotLine);
  QLineSeries* line = addLine(kind, name, pen);
  line->setPointsVisible(false);
  line->append(x_lo_, y);
  line->append(x_hi_, y);
  tips_[line][0] = tip.isEmpty() ? name : tip;
  reference_lines_.push_back(line);
  extendY(kind, y);
}

QString RunCharts::curveName(const SweepPoint& p, int run_slot, bool with_kernel) const {
  QStringList parts;
  if (runs_.size() > 1 && run_slot >= 0 && static_cast<std::size_t>(run_slot) < runs_.size()) {
    parts << runs_[static_cast<std::size_t>(run_slot)].label;
  }
  if (with_kernel) {
    QString kernel = qs(kernelName(p.kernel));
    if (many_tiles_ && p.kernel == KernelKind::Flash) kernel += QLatin1Char(' ') + qs(tileName(p.tile));
    parts << kernel;
  }
  parts << QStringLiteral("B=%1").arg(p.shape.batch);
  if (many_models_) parts << modelLabel(p.model);
  if (many_dtypes_) parts << QString::fromLatin1(kernels::dtypeName(p.shape.dtype).data(),
                                                 static_cast<qsizetype>(kernels::dtypeName(p.shape.dtype).size()));
  if (many_causal_) parts << (p.shape.causal ? QStringLiteral("causal") : QStringLiteral("non-causal"));
  return parts.join(QLatin1Char(' '));
}

QString RunCharts::modelLabel(const ModelPreset& model) const {
  // Points read back from events or the store carry the model's id only: its shape and name are
  // the spec's. Models of one attention shape (heads, KV heads, head dim: Llama-2-7B and
  // Granite-7B) run the same problem, so they share one curve named after all of them instead of
  // two curves drawn over each other.
  const ModelPreset* shape = &model;
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) {
      if (m.name == model.name) shape = &m;
    }
  }
  QStringList names;
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) {
      const bool same = m.heads == shape->heads && m.kv_heads == shape->kv_heads && m.head_dim == shape->head_dim;
      const QString name = qs(m.display_name.empty() ? m.name : m.display_name);
      if (same && !names.contains(name)) names << name;
    }
  }
  if (names.isEmpty()) return qs(model.display_name.empty() ? model.name : model.display_name);
  return names.join(QStringLiteral(" / "));
}

QColor RunCharts::groupColor(const std::string& group_key) {
  auto it = group_colors_.find(group_key);
  if (it != group_colors_.end()) return it->second;
  const QColor color = kPalette[group_colors_.size() % kPalette.size()];
  group_colors_.emplace(group_key, color);
  return color;
}

RunCharts::Curve& RunCharts::curveFor(const SweepPoint& p, int run_slot) {
  const QString group = curveName(p, run_slot, false);
  const QString name = curveName(p, run_slot, true);
  auto [it, inserted] = curves_.try_emplace(name.toStdString());
  if (inserted) {
    // Colour says which batch (x model x run), the dash says which kernel.
    QPen pen(groupColor(group.toStdString()), 2.0,
             p.kernel == KernelKind::Flash && many_tiles_ && !p.tile.isAuto() ? Qt::DashDotDotLine : kernelLine(p.kernel));
    it->second.latency = addLine(ChartKind::Latency, name, pen);
    it->second.tflops = addLine(ChartKind::Throughput, name, pen);
    it->second.memory = addLine(ChartKind::Memory, name, pen);
    if (compact_legend_) {
      joinLegendGroup(ChartKind::Latency, it->second.latency, p, group);
      joinLegendGroup(ChartKind::Throughput, it->second.tflops, p, group);
      joinLegendGroup(ChartKind::Memory, it->second.memory, p, group);
    }
  }
  return it->second;
}

RunCharts::SpeedupCurve& RunCharts::speedupFor(const SweepPoint& p, int run_slot) {
  const QString group = curveName(p, run_slot, false);
  auto [it, inserted] = speedups_.try_emplace(group.toStdString());
  if (inserted) {
    it->second.series = addLine(ChartKind::Speedup, group, QPen(groupColor(group.toStdString()), 2.0));
  }
  return it->second;
}

void RunCharts::placePoint(QXYSeries* series, double x, double y, const QString& tip) {
  tips_[series][static_cast<int>(x)] = tip;
  if (batching_) {
    auto [staged, fresh] = staged_.try_emplace(series);
    if (fresh) {
      for (const QPointF& p : series->points()) staged->second.emplace(p.x(), p.y());
    }
    staged->second[x] = y;
    return;
  }
  const int at = lowerBound(series, x);
  if (at < series->count() && series->at(at).x() == x) {
    series->replace(at, QPointF(x, y));
  } else {
    series->insert(at, QPointF(x, y));
  }
}

void RunCharts::appendSkipped(QPointF point) {
  if (batching_) {
    staged_skipped_.append(point);
  } else {
    skipped_->append(point);
  }
}

void RunCharts::beginBatch() { batching_ = true; }

void RunCharts::endBatch() {
  batching_ = false;
  for (auto& [series, points] : staged_) {
    QList<QPointF> sorted;
    sorted.reserve(static_cast<qsizetype>(points.size()));
    for (const auto& [x, y] : points) sorted.append(QPointF(x, y));
    series->replace(sorted);
  }
  staged_.clear();
  if (!staged_skipped_.isEmpty() && skipped_ != nullptr) {
    // One replace: appending a list appends (and redraws) point by point.
    skipped_->replace(skipped_->points() + staged_skipped_);
  }
  staged_skipped_.clear();
  for (ChartKind kind : kChartKinds) {
    if (std::exchange(y_dirty_[slot(kind)], false)) applyYRange(kind);
  }
}

void RunCharts::extendY(ChartKind kind, double value) {
  Range& range = y_ranges_[slot(kind)];
  const Range before = range;
  range.add(value);
  if (range.lo == before.lo && range.hi == before.hi) return;
  if (batching_) {
    y_dirty_[slot(kind)] = true;
  } else {
    applyYRange(kind);
  }
}

void RunCharts::applyXRange(ChartKind kind) {
  QAbstractAxis* axis = x_axes_[slot(kind)];
  if (auto* x = qobject_cast<QLogValueAxis*>(axis)) {
    x->setRange(x_lo_, x_hi_);
    // A label per doubling over a few octaves; over many, a label per quadrupling: a label per
    // doubling would be cut short (even slanted) in a chart of the window's size.
    const double octaves = std::log2(x_hi_ / x_lo_);
    x->setBase(octaves > 7.0 ? 4.0 : 2.0);
    x->setLabelsAngle(0);
  } else {
    auto* linear = static_cast<QValueAxis*>(axis);
    linear->setRange(0.0, x_hi_);
    linear->applyNiceNumbers();
  }
}

bool RunCharts::logScale(ChartKind kind, Qt::Orientation orientation) const {
  const auto& axes = orientation == Qt::Horizontal ? x_axes_ : y_axes_;
  return qobject_cast<QLogValueAxis*>(axes[slot(kind)]) != nullptr;
}

void RunCharts::setLogScale(ChartKind kind, Qt::Orientation orientation, bool log) {
  if (logScale(kind, orientation) == log) return;
  QChart* c = chart(kind);
  QAbstractAxis*& axis = (orientation == Qt::Horizontal ? x_axes_ : y_axes_)[slot(kind)];
  const QString format = orientation == Qt::Horizontal ? QStringLiteral("%.0f")
                         : kind == ChartKind::Speedup && !log ? QStringLiteral("%.1f")
                                                              : QStringLiteral("%g");
  QAbstractAxis* replacement = log ? static_cast<QAbstractAxis*>(logAxis(axis->titleText(), 10.0, format))
                                   : static_cast<QAbstractAxis*>(valueAxis(axis->titleText(), format));
  QList<QAbstractSeries*> attached;
  for (QAbstractSeries* s : c->series()) {
    if (s->attachedAxes().contains(axis)) attached.append(s);
  }
  for (QAbstractSeries* s : attached) s->detachAxis(axis);
  c->removeAxis(axis);
  delete axis;
  axis = replacement;
  c->addAxis(axis, orientation == Qt::Horizontal ? Qt::AlignBottom : Qt::AlignLeft);
  for (QAbstractSeries* s : attached) s->attachAxis(axis);
  if (orientation == Qt::Horizontal) {
    applyXRange(kind);
  } else {
    applyYRange(kind);
  }
}

void RunCharts::applyYRange(ChartKind kind) {
  const Range& r = y_ranges_[slot(kind)];
  QAbstractAxis* axis = y_axes_[slot(kind)];
  if (auto* linear = qobject_cast<QValueAxis*>(axis)) {
    // Linear: from zero, so heights compare; speedup at least to 2x, with its parity line in view.
    const double hi = r.empty() ? 1.0 : r.hi * 1.12;
    linear->setRange(0.0, kind == ChartKind::Speedup ? std::max(2.0, hi) : hi);
    linear->applyNiceNumbers();
    return;
  }
  auto* log_axis = static_cast<QLogValueAxis*>(axis);
  if (r.empty()) {
    axis->setRange(0.01, 10.0);
    return;
  }
  // A log axis labels only powers of its base: over a short span use base 2 (a label per doubling),
  // over a long one base 10 with 1-2-5 bounds.
  double lo = 0, hi = 0;
  if (std::log10(r.hi / r.lo) < 2.5) {
    lo = std::exp2(std::floor(std::log2(r.lo) + 1e-9));
    hi = std::exp2(std::ceil(std::log2(r.hi) - 1e-9));
    if (hi <= lo) hi = lo * 2.0;
    log_axis->setBase(2.0);
    log_axis->setMinorTickCount(0);
  } else {
    lo = niceLogStep(r.lo, false);
    hi = niceLogStep(r.hi, true);
    log_axis->setBase(10.0);
    log_axis->setMinorTickCount(8);
  }
  axis->setRange(lo, hi);
}

void RunCharts::addPoints(const std::vector<PointResult>& results, int run_slot) {
  beginBatch();
  for (const auto& r : results) addPoint(r, run_slot);
  endBatch();
}

void RunCharts::addPoint(const PointResult& r, int run_slot) {
  const SweepPoint& p = r.point;
  const double x = p.shape.seq_kv;
  if (x < x_lo_ || x > x_hi_) {
    // A point outside the spec's range (an edited spec): widen the axis and the reference lines.
    x_lo_ = std::min(x_lo_, x / std::sqrt(2.0));
    x_hi_ = std::max(x_hi_, x * std::sqrt(2.0));
    for (ChartKind kind : kChartKinds) applyXRange(kind);
    for (QLineSeries* line : reference_lines_) {
      const double y = line->at(0).y();
      line->replace(QList<QPointF>{{x_lo_, y}, {x_hi_, y}});
    }
  }
  const QString head = QStringLiteral("%1\nN = %2").arg(curveName(p, run_slot, true)).arg(p.shape.seq_kv);

  const bool ran = (r.status == PointStatus::Ok || r.status == PointStatus::Failed) && r.stats.median_ms > 0;
  if (ran) {
    Curve& curve = curveFor(p, run_slot);
    const QString check = r.status == PointStatus::Failed ? QStringLiteral("\nINCORRECT output") : QString();
    placePoint(curve.latency, x, r.stats.median_ms,
               head + QStringLiteral("\nmedian %1 (min %2, max %3)%4")
                          .arg(formatMs(r.stats.median_ms), formatMs(r.stats.min_ms), formatMs(r.stats.max_ms), check));
    extendY(ChartKind::Latency, r.stats.median_ms);
    placePoint(curve.tflops, x, r.tflops,
               head + QStringLiteral("\n%1 TFLOP/s (median %2)").arg(formatTflops(r.tflops), formatMs(r.stats.median_ms)));
    extendY(ChartKind::Throughput, r.tflops);
    if (r.peak_bytes > 0) {
      placePoint(curve.memory, x, static_cast<double>(r.peak_bytes) / memory_unit_,
                 head + QStringLiteral("\npeak %1 (predicted %2)")
                            .arg(formatByteCount(r.peak_bytes), formatByteCount(r.predicted_bytes)));
      extendY(ChartKind::Memory, static_cast<double>(r.peak_bytes) / memory_unit_);
    }

    SpeedupCurve& speedup = speedupFor(p, run_slot);
    auto& [flash, standard] = speedup.medians[p.shape.seq_kv];
    if (r.status == PointStatus::Ok) {
      if (p.kernel == KernelKind::Flash) {
        flash = flash > 0 ? std::min(flash, r.stats.median_ms) : r.stats.median_ms;
      } else if (p.kernel == KernelKind::Standard) {
        standard = r.stats.median_ms;
      }
    }
    if (flash > 0 && standard > 0) {
      const double ratio = standard / flash;
      placePoint(speedup.series, x, ratio,
                 QStringLiteral("%1\nN = %2\nstandard %3 / flash %4 = %5×")
                     .arg(curveName(p, run_slot, false))
                     .arg(p.shape.seq_kv)
                     .arg(formatMs(standard), formatMs(flash))
                     .arg(ratio, 0, 'f', 2));
      extendY(ChartKind::Speedup, ratio);
    }
    return;
  }

  if (r.status == PointStatus::Oom || r.status == PointStatus::Skipped) {
    if (skipped_ == nullptr) {
      skipped_ = new QScatterSeries;
      skipped_->setName(QStringLiteral("OOM / skipped"));  // drawn at the predicted size (tooltip)
      skipped_->setMarkerShape(QScatterSeries::MarkerShapeTriangle);
      skipped_->setMarkerSize(11);
      styles_.insert(skipped_, QPen(QColor(0xd62728), 1.5));
      chart(ChartKind::Memory)->addSeries(skipped_);
      skipped_->attachAxis(x_axes_[slot(ChartKind::Memory)]);
      skipped_->attachAxis(y_axes_[slot(ChartKind::Memory)]);
      applyStyle(skipped_);
      connectSeries(chart(ChartKind::Memory), skipped_);
      tidyLegend(chart(ChartKind::Memory));  // one more entry: it may no longer fit below the plot
    }
    std::uint64_t bytes = r.predicted_bytes;
    if (bytes == 0 && run_slot >= 0 && static_cast<std::size_t>(run_slot) < runs_.size()) {
      bytes = runs_[static_cast<std::size_t>(run_slot)].device.memory_bytes;
    }
    if (bytes == 0) return;
    const double y = static_cast<double>(bytes) / memory_unit_;
    appendSkipped(QPointF(x, y));
    QString& tip = tips_[skipped_][p.shape.seq_kv];
    if (!tip.isEmpty()) tip += QStringLiteral("\n\n");
    tip += head + QStringLiteral("\n%1: %2").arg(qs(statusName(r.status)), qs(r.message));
    extendY(ChartKind::Memory, y);
  }
}

void RunCharts::applyStyle(QAbstractSeries* series) {
  const QPen pen = styles_.value(series);
  if (auto* scatter = qobject_cast<QScatterSeries*>(series)) {
    scatter->setColor(pen.color());
    scatter->setBorderColor(dark_ ? QColor(Qt::white) : QColor(Qt::black));
  } else if (auto* line = qobject_cast<QLineSeries*>(series)) {
    line->setPen(pen);
    line->setPointsVisible(pen.style() != Qt::DashDotLine && mark_points_);
  }
}

void RunCharts::connectSeries(QChart* chart, QAbstractSeries* series) {
  auto* xy = static_cast<QXYSeries*>(series);
  connect(xy, &QXYSeries::hovered, this, [this, xy](const QPointF& at, bool state) {
    if (!state) {
      QToolTip::hideText();
      return;
    }
    const auto tips = tips_.constFind(xy);
    if (tips == tips_.cend() || tips->empty()) return;
    // The point nearest to the cursor along the (log) x axis.
    auto best = tips->begin();
    for (auto it = tips->begin(); it != tips->end(); ++it) {
      if (it->first <= 0) continue;
      if (best->first <= 0 || std::abs(std::log2(it->first / at.x())) < std::abs(std::log2(best->first / at.x()))) {
        best = it;
      }
    }
    QToolTip::showText(QCursor::pos(), best->second);
  });
  // Clicking a legend entry hides its series, and the series of that name in every other chart (a
  // curve hidden on the latency chart is hidden on the TFLOP/s and memory charts too); the entries
  // stay, dimmed, to bring them back.
  for (QLegendMarker* marker : chart->legend()->markers(series)) {
    connect(marker, &QLegendMarker::clicked, this, [this, marker] {
      const QString name = marker->series()->name();
      const bool shown = !marker->series()->isVisible();
      for (ChartKind kind : kChartKinds) {
        for (QAbstractSeries* s : this->chart(kind)->series()) {
          if (s->name() == name) setSeriesShown(this->chart(kind), s, shown);
        }
      }
      marker->setVisible(true);
    });
  }
}

void RunCharts::setSeriesShown(QChart* in, QAbstractSeries* series, bool shown) {
  series->setVisible(shown);
  // A group's or a kernel key's entry stands for its member curves too.
  for (QAbstractSeries* member : legend_members_.value(series)) member->setVisible(shown);
  for (QLegendMarker* marker : in->legend()->markers(series)) {
    QColor label = marker->labelBrush().color();
    label.setAlphaF(shown ? 1.0f : 0.4f);
    marker->setLabelBrush(label);
  }
  tidyLegend(in);  // members shown again get their entries back from Qt: hide them
}

void RunCharts::setDark(bool dark) {
  dark_ = dark;
  for (ChartKind kind : kChartKinds) {
    QChart* c = chart(kind);
    // setTheme restyles every series: put the kernel/batch styles back afterwards.
    c->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    styleChart(c);
    for (QAbstractSeries* s : c->series()) applyStyle(s);
    tidyLegend(c);
  }
}

void RunCharts::copyViewOf(const RunCharts& other) {
  for (ChartKind kind : kChartKinds) {
    for (Qt::Orientation orientation : {Qt::Horizontal, Qt::Vertical}) setLogScale(kind, orientation, other.logScale(kind, orientation));
    QSet<QString> hidden;
    for (QAbstractSeries* s : other.chart(kind)->series()) {
      if (!s->isVisible()) hidden.insert(s->name());
    }
    for (QAbstractSeries* s : chart(kind)->series()) {
      if (!hidden.contains(s->name())) continue;
      s->setVisible(false);
      for (QLegendMarker* m : chart(kind)->legend()->markers(s)) m->setVisible(false);
    }
  }
}

int RunCharts::seriesCount(ChartKind kind) const { return static_cast<int>(chart(kind)->series().size()); }

}  // namespace attnbench::ui
